"""A small token server for the registry's bearer-token auth (tests only).

Distribution verifies an RS256 JWT whose ``x5c`` header carries a certificate
from its ``rootcertbundle``; the claims grant the requested ``scope``s to a
user who gave the right basic credentials (or anonymously only ``pull`` on
``public/*``).  Runs in a thread on a loopback port.
"""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import secrets
import threading
import time
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

ISSUER = "dockyard-test-issuer"
SERVICE = "dockyard-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, root: str, users: dict[str, str]) -> None:
        self.users = users
        self.requests: list[dict[str, list[str]]] = []
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dockyard-test-token")])
        now = datetime.datetime.now(datetime.timezone.utc)
        self.cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                     .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=1))
                     .sign(self.key, hashes.SHA256()))
        self.bundle = os.path.join(root, "token.crt")
        with open(self.bundle, "wb") as f:
            f.write(self.cert.public_bytes(serialization.Encoding.PEM))
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                """The OAuth2 refresh-token grant: ``refresh-<user>`` is each user's identity token."""
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                server.requests.append(form)
                token = (form.get("refresh_token") or [""])[0]
                user = token[len("refresh-"):] if token.startswith("refresh-") else ""
                if form.get("grant_type") != ["refresh_token"] or user not in server.users:
                    body, status = b'{"details":"invalid refresh token"}', 401
                else:
                    scopes = (form.get("scope") or [""])[0].split()
                    body, status = json.dumps({"access_token": server.token(user, scopes)}).encode(), 200
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                q = parse_qs(urlsplit(self.path).query)
                server.requests.append(q)
                user = server.check(self.headers.get("Authorization", ""))
                if user is None:
                    body = b'{"details":"incorrect username or password"}'
                    self.send_response(401)
                else:
                    body = json.dumps({"token": server.token(user, q.get("scope", []))}).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def check(self, header: str) -> str | None:
        """The user named by the basic credentials ("" = anonymous), None when they are wrong."""
        if not header:
            return ""
        if not header.startswith("Basic "):
            return None
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == pw else None

    def token(self, user: str, scopes: list[str]) -> str:
        access = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            name, _, actions = rest.rpartition(":")
            wanted = [a for a in actions.split(",") if a]
            granted = wanted if user else [a for a in wanted if a == "pull" and name.startswith("public/")]
            if kind == "repository" and granted:
                access.append({"type": kind, "name": name, "actions": granted})
        der = self.cert.public_bytes(serialization.Encoding.DER)
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + 300, "nbf": now - 10, "iat": now,
                  "jti": secrets.token_hex(8), "access": access}
        signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(claims).encode())
        sig = self.key.sign(signing.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing + "." + _b64(sig)

    def registry_auth(self) -> dict[str, object]:
        return {"token": {"realm": self.realm, "service": SERVICE, "issuer": ISSUER, "rootcertbundle": self.bundle}}

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
