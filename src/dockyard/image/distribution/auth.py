"""Registry authentication, sans-I/O: X-Registry-Auth, WWW-Authenticate, the token flow.

The flow (Docker's ``registry`` package / distribution's ``auth/challenge``):
a request answered 401 carries a ``WWW-Authenticate`` challenge.  ``Basic``
means: repeat with the user's credentials.  ``Bearer realm=…,service=…,scope=…``
means: ask the token server at ``realm`` (with the credentials as basic auth
when the user has some) for a token scoped to ``repository:NAME:pull,push``,
then repeat with ``Authorization: Bearer <token>``.  ``Authenticator`` holds
that state; the client does the requests it asks for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from dockyard.errors import InvalidParameter, Unauthorized

_TOKEN_RE = re.compile(r'\s*([A-Za-z][A-Za-z0-9_.-]*)\s*=\s*("(?:[^"\\]|\\.)*"|[^\s,]*)\s*,?')


@dataclass(frozen=True)
class AuthConfig:
    """What a client sends in ``X-Registry-Auth`` (and ``POST /auth``)."""

    username: str = ""
    password: str = ""
    serveraddress: str = ""
    identitytoken: str = ""
    registrytoken: str = ""

    @property
    def has_credentials(self) -> bool:
        return bool(self.username or self.password or self.identitytoken)


def auth_config_from_dict(data: Any) -> AuthConfig:
    """An AuthConfig from the JSON object clients send (keys in any case, ``auth`` = base64 user:pass)."""
    if not isinstance(data, dict):
        raise InvalidParameter("invalid X-Registry-Auth header: not a JSON object")
    low = {str(k).lower(): v for k, v in data.items()}
    username, password = str(low.get("username") or ""), str(low.get("password") or "")
    if low.get("auth") and not username:
        try:
            decoded = base64.b64decode(str(low["auth"])).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidParameter("invalid X-Registry-Auth header: auth is not base64 user:password") from None
        username, _, password = decoded.partition(":")
    return AuthConfig(username=username, password=password,
                      serveraddress=str(low.get("serveraddress") or ""),
                      identitytoken=str(low.get("identitytoken") or ""),
                      registrytoken=str(low.get("registrytoken") or ""))


def decode_registry_auth(header: str | None) -> AuthConfig:
    """Decode ``X-Registry-Auth`` (URL-safe base64 of JSON; padding optional). Empty → anonymous."""
    if not header or not header.strip():
        return AuthConfig()
    text = header.strip()
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        data = json.loads(raw) if raw.strip() else {}
    except (binascii.Error, ValueError) as exc:
        raise InvalidParameter(f"invalid X-Registry-Auth header: {exc}") from None
    return auth_config_from_dict(data)


@dataclass(frozen=True)
class Challenge:
    scheme: str                 # lower case: "basic", "bearer"
    params: dict[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value: ``Bearer realm="…",service="…"``, ``Basic realm="…"``.

    Several challenges may share one header (``Basic realm=x, Bearer realm=y``).
    Parameter names are lower-cased; quoted values are unescaped.
    """
    out: list[Challenge] = []
    rest = header.strip()
    while rest:
        m = re.match(r"([A-Za-z][A-Za-z0-9_-]*)\s*", rest)
        if m is None:
            break
        scheme = m.group(1).lower()
        rest = rest[m.end():]
        params: dict[str, str] = {}
        while True:
            pm = _TOKEN_RE.match(rest)
            if pm is None:
                break
            key, value = pm.group(1).lower(), pm.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            params[key] = value
            rest = rest[pm.end():]
        out.append(Challenge(scheme, params))
        rest = rest.lstrip(", ")
    return out


def repository_scope(path: str, actions: list[str]) -> str:
    """``repository:library/busybox:pull,push`` (the scope a token is asked for)."""
    return f"repository:{path}:{','.join(actions)}"


def merge_scopes(scopes: list[str]) -> list[str]:
    """One scope per resource with the union of its actions (``…:push,pull`` + ``…:pull`` = ``…:push,pull``)."""
    merged: dict[tuple[str, str], list[str]] = {}
    for scope in scopes:
        if not scope:
            continue
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        acts = merged.setdefault((kind, name or rest), [])
        for a in actions.split(",") if name else []:
            if a and a not in acts:
                acts.append(a)
    return [f"{k}:{n}:{','.join(a)}" if a else f"{k}:{n}" for (k, n), a in merged.items()]


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class Denied(Unauthorized):
    """The registry refuses this scope to these credentials (``insufficient_scope``): Docker's DENIED."""


@dataclass(frozen=True)
class TokenRequest:
    """A request the client must make to the token server, then hand the answer to ``on_token``:
    a GET (basic credentials or none), or with ``form`` an OAuth2 POST (an identity token)."""

    url: str
    authorization: str | None
    form: dict[str, str] | None = None


class Authenticator:
    """One registry's auth state for one operation (anonymous → basic or bearer).

    ``header()`` is the Authorization to send; after a 401, ``on_challenge``
    says what to do next: None (retry with ``header()``), or a TokenRequest.
    A second 401 with the same state means the credentials are refused.
    """

    def __init__(self, creds: AuthConfig, scopes: list[str]) -> None:
        self.creds = creds
        self.scopes = list(scopes)
        # a registry token from the client is sent as is (X-Registry-Auth "registrytoken")
        self._header: str | None = f"Bearer {creds.registrytoken}" if creds.registrytoken else None
        self._tried: set[str] = set()

    def header(self) -> str | None:
        return self._header

    def on_challenge(self, www_authenticate: str, message: str = "authentication required") -> TokenRequest | None:
        """React to a 401. Raises Unauthorized when nothing more can be tried."""
        challenges = {c.scheme: c for c in parse_challenges(www_authenticate or "")}
        bearer = challenges.get("bearer")
        if bearer is not None and bearer.params.get("realm"):
            params: list[tuple[str, str]] = []
            if bearer.params.get("service"):
                params.append(("service", bearer.params["service"]))
            scopes = merge_scopes(self.scopes + (bearer.params.get("scope") or "").split(" "))
            params += [("scope", s) for s in scopes]
            if self.creds.username:
                params.append(("account", self.creds.username))
            key = "bearer " + " ".join(scopes)
            if key in self._tried:
                if bearer.params.get("error") == "insufficient_scope" or self._header:
                    raise Denied("denied: requested access to the resource is denied")
                raise Unauthorized(message)
            self._tried.add(key)
            realm = bearer.params["realm"]
            if self.creds.identitytoken:  # OAuth2 refresh token (what docker login may have stored)
                form = {"grant_type": "refresh_token", "refresh_token": self.creds.identitytoken,
                        "client_id": "docker", "service": bearer.params.get("service", ""),
                        "scope": " ".join(scopes)}
                return TokenRequest(realm, None, form)
            url = realm + (("&" if "?" in realm else "?") + urlencode(params) if params else "")
            auth = basic_header(self.creds.username, self.creds.password) if self.creds.username else None
            return TokenRequest(url, auth)
        if "basic" in challenges:
            if not self.creds.username:
                raise Unauthorized("no basic auth credentials")
            if "basic" in self._tried:
                raise Unauthorized(message)
            self._tried.add("basic")
            self._header = basic_header(self.creds.username, self.creds.password)
            return None
        raise Unauthorized(message)

    def on_token(self, status: int, body: bytes) -> None:
        """The token server's answer: ``{"token": …}`` or ``{"access_token": …}``."""
        if status == 401 or status == 403:
            raise Unauthorized(_token_error(body) or "unauthorized: incorrect username or password")
        if status != 200:
            raise Unauthorized(f"token server answered {status}: {_token_error(body) or body[:200]!r}")
        try:
            data = json.loads(body)
            token = data.get("token") or data.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not token:
            raise Unauthorized("the token server answered without a token")
        self._header = f"Bearer {token}"


def _token_error(body: bytes) -> str:
    """The token server's complaint as dockerd words it (``unauthorized: <details>``)."""
    from dockyard.image.distribution.errcode import parse_errors

    errs = parse_errors(body)
    if errs and errs[0].code != "UNKNOWN":
        return str(errs[0])
    if errs:
        return f"unauthorized: {errs[0].message}"
    return ""
