"""The wire side of the Distribution API, on aiohttp's client.

One ``RepoClient`` per (registry, repository) and operation.  Every request
goes through ``request``: it adds the Authorization the ``Authenticator``
holds, follows a 401 challenge (basic, or a token from the token server),
retries idempotent requests a bounded number of times on connection errors,
timeouts and 5xx answers, and names the registry in every error.  Blobs are
streamed: ``download`` writes to a file while hashing, ``upload`` sends a
body produced chunk by chunk.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import aiohttp

from dockyard.errors import DockyardError, InvalidParameter, Unauthorized, Unavailable
from dockyard.image.distribution import manifest as mf
from dockyard.image.distribution.auth import Authenticator, Denied
from dockyard.image.distribution.endpoints import Endpoint
from dockyard.image.distribution.errcode import RegistryError, parse_errors

CHUNK = 1 << 16
Progress = Callable[[int], Awaitable[None]]


@dataclass(frozen=True)
class Limits:
    """Retries and timeouts of registry requests (``DOCKYARD_REGISTRY_TIMEOUT`` overrides the read timeout)."""

    attempts: int = 3
    backoff: float = 0.5
    connect_timeout: float = 15.0
    read_timeout: float = 60.0

    @classmethod
    def from_env(cls) -> Limits:
        value = os.environ.get("DOCKYARD_REGISTRY_TIMEOUT")
        return cls(read_timeout=float(value), connect_timeout=float(value)) if value else cls()


class RegistryRequestError(DockyardError):
    """A request the registry answered with an error body (``errors`` holds the codes)."""

    def __init__(self, message: str, status: int, errors: list[RegistryError]) -> None:
        super().__init__(message)
        self.status = 404 if status == 404 else (401 if status == 401 else 500)
        self.http_status = status
        self.errors = errors


class RegistryUnavailable(Unavailable):
    """The registry could not be reached or kept failing; ``reason`` without the request."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class TokenRefused(RegistryRequestError):
    """The token server refused the credentials (its message is the user's answer)."""


def new_session(limits: Limits) -> aiohttp.ClientSession:
    timeout = aiohttp.ClientTimeout(total=None, connect=limits.connect_timeout, sock_connect=limits.connect_timeout,
                                    sock_read=limits.read_timeout)
    return aiohttp.ClientSession(timeout=timeout, trust_env=True, auto_decompress=False,
                                 connector=aiohttp.TCPConnector(limit=16, force_close=False))


class RepoClient:
    """Requests to one repository of one registry endpoint."""

    def __init__(self, session: aiohttp.ClientSession, endpoint: Endpoint, path: str, auth: Authenticator,
                 limits: Limits) -> None:
        self.session = session
        self.endpoint = endpoint
        self.path = path
        self.auth = auth
        self.limits = limits
        self._ssl: Any = None if endpoint.verify_tls else False

    def url(self, tail: str) -> str:
        return f"{self.endpoint.url}/v2/{self.path}/{tail}" if tail else f"{self.endpoint.url}/v2/"

    def _fail(self, method: str, url: str, what: str) -> RegistryUnavailable:
        return RegistryUnavailable(f'{method.capitalize()} "{url}": {what}', what)

    async def request(self, method: str, url: str, *, headers: dict[str, str] | None = None,
                      data: Any = None, retry: bool = True, stream: bool = False) -> aiohttp.ClientResponse:
        """Send one request (auth and retries included); the caller releases the response.

        Error answers (≥ 400) become RegistryRequestError; with ``stream`` the
        body of a 2xx answer is left unread.
        """
        attempts = self.limits.attempts if retry and data is None else 1
        last: str = ""
        for attempt in range(attempts):
            if attempt:
                await asyncio.sleep(self.limits.backoff * (2 ** (attempt - 1)))
            try:
                resp = await self._authed(method, url, headers or {}, data)
                if resp.status >= 500:
                    last = f"registry {self.endpoint.host} answered {resp.status} {resp.reason}"
                    resp.release()
                    continue
                if resp.status >= 400:
                    body = await resp.read()
                    resp.release()
                    errs = parse_errors(body)
                    text = str(errs[0]) if errs else f"{self.endpoint.host} answered {resp.status} {resp.reason}"
                    raise RegistryRequestError(text, resp.status, errs)
                if not stream:
                    await resp.read()
                return resp
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError) as exc:
                last = _describe(exc, self.endpoint.host)
        raise self._fail(method, url, last + (f" (after {attempts} attempts)" if attempts > 1 else ""))

    async def _authed(self, method: str, url: str, headers: dict[str, str], data: Any) -> aiohttp.ClientResponse:
        for _ in range(3):
            h = dict(headers)
            auth = self.auth.header()
            if auth:
                h["Authorization"] = auth
            resp = await self.session.request(method, url, headers=h, data=data, ssl=self._ssl,
                                              allow_redirects=True)
            if resp.status != 401 or data is not None and not isinstance(data, (bytes, str)):
                return resp
            challenge = resp.headers.get("WWW-Authenticate", "")
            body = await resp.read()
            resp.release()
            errs = parse_errors(body)
            message = str(errs[0]) if errs else "authentication required"
            verb = f'{method.capitalize()} "{url}"'
            try:
                token_req = self.auth.on_challenge(challenge, message)
            except Denied as exc:
                raise RegistryRequestError(f"{verb}: {exc.message}", 401,
                                           [RegistryError("DENIED", "requested access to the resource is denied")]) \
                    from None
            except Unauthorized as exc:
                raise RegistryRequestError(f"{verb}: {exc.message}", 401, []) from None
            if token_req is not None:
                th = {"Authorization": token_req.authorization} if token_req.authorization else {}
                token_method = "POST" if token_req.form is not None else "GET"
                async with self.session.request(token_method, token_req.url, headers=th, data=token_req.form,
                                                ssl=self._ssl) as tresp:
                    tbody = await tresp.read()
                    try:
                        self.auth.on_token(tresp.status, tbody)
                    except Unauthorized as exc:
                        raise TokenRefused(f"{verb}: {exc.message}", 401, []) from None
        return resp

    # -- manifests ----------------------------------------------------------------------

    async def get_manifest(self, reference: str) -> tuple[bytes, str]:
        """(body, content type) of the manifest or index named by a tag or digest."""
        resp = await self.request("GET", self.url(f"manifests/{reference}"), headers={"Accept": ", ".join(mf.ACCEPT)})
        body = await resp.read()
        if len(body) > 4 << 20:
            raise InvalidParameter(f"manifest {reference} is larger than 4 MiB")
        return body, resp.headers.get("Content-Type", "")

    async def put_manifest(self, reference: str, body: bytes, media_type: str) -> None:
        await self.request("PUT", self.url(f"manifests/{reference}"), headers={"Content-Type": media_type},
                           data=body)

    # -- blobs --------------------------------------------------------------------------

    async def get_blob_bytes(self, desc: mf.Descriptor, limit: int = 8 << 20) -> bytes:
        """A small blob (a config) in memory, verified."""
        if desc.size > limit:
            raise InvalidParameter(f"blob {desc.digest} is too large ({desc.size} bytes)")
        resp = await self.request("GET", self.url(f"blobs/{desc.digest}"))
        data = await resp.read()
        _verify(desc, len(data), mf.sha256_digest(data))
        return data

    async def download(self, desc: mf.Descriptor, dest: BinaryIO, progress: Progress) -> None:
        """Stream a blob into ``dest`` (hashing on the way); retried from the start on failure."""
        url = self.url(f"blobs/{desc.digest}")
        last = ""
        for attempt in range(self.limits.attempts):
            if attempt:
                await asyncio.sleep(self.limits.backoff * (2 ** (attempt - 1)))
            dest.seek(0)
            dest.truncate()
            sha = hashlib.sha256()
            count = 0
            try:
                resp = await self.request("GET", url, stream=True, retry=False)
                try:
                    async for chunk in resp.content.iter_chunked(CHUNK):
                        sha.update(chunk)
                        dest.write(chunk)
                        count += len(chunk)
                        if count > desc.size:
                            break
                        await progress(count)
                finally:
                    resp.release()
            except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, asyncio.TimeoutError,
                    RegistryUnavailable) as exc:
                last = exc.reason if isinstance(exc, RegistryUnavailable) else _describe(exc, self.endpoint.host)
                continue
            if count < desc.size:
                last = f"registry {self.endpoint.host} closed the connection after {count} of {desc.size} bytes"
                continue
            dest.flush()
            _verify(desc, count, "sha256:" + sha.hexdigest())
            return
        raise self._fail("GET", url, f"{last} (after {self.limits.attempts} attempts)")

    async def blob_size(self, digest: str) -> int | None:
        """The size of a blob the repository has (HEAD), or None."""
        try:
            resp = await self.request("HEAD", self.url(f"blobs/{digest}"))
        except RegistryRequestError as exc:
            if exc.http_status == 404:
                return None
            raise
        return int(resp.headers.get("Content-Length", "0"))

    async def blob_exists(self, digest: str) -> bool:
        return await self.blob_size(digest) is not None

    async def mount(self, digest: str, from_path: str) -> str | None:
        """Cross-repository mount; None when mounted, else the upload URL the registry opened instead."""
        resp = await self.request("POST", self.url(f"blobs/uploads/?mount={digest}&from={from_path}"), data=b"")
        if resp.status == 201:
            return None
        return self._location(resp)

    def _location(self, resp: aiohttp.ClientResponse) -> str:
        loc = resp.headers.get("Location", "")
        if not loc:
            raise Unavailable(f"{self.endpoint.host} opened an upload without a Location")
        if loc.startswith("/"):
            loc = self.endpoint.url + loc
        return loc

    async def start_upload(self) -> str:
        resp = await self.request("POST", self.url("blobs/uploads/"), data=b"")
        return self._location(resp)

    async def patch(self, location: str, body: AsyncIterator[bytes] | bytes) -> str:
        """Send the blob's bytes (streamed when ``body`` is an iterator); returns the next upload URL."""
        headers = {"Content-Type": "application/octet-stream"}
        resp = await self.request("PATCH", location, headers=headers, data=body)
        return self._location(resp)

    async def finish_upload(self, location: str, digest: str) -> None:
        sep = "&" if "?" in location else "?"
        await self.request("PUT", f"{location}{sep}digest={digest}", data=b"",
                           headers={"Content-Type": "application/octet-stream"})

    async def upload(self, digest: str, body: bytes) -> None:
        """A small blob in one go (POST, PATCH, PUT ?digest=)."""
        location = await self.patch(await self.start_upload(), body)
        await self.finish_upload(location, digest)

    async def list_tags(self) -> list[str]:
        """Every tag of the repository (following the registry's ``Link: <…>; rel="next"`` pages)."""
        url: str | None = self.url("tags/list")
        tags: list[str] = []
        while url:
            resp = await self.request("GET", url)
            try:
                tags += [str(t) for t in (json.loads(await resp.read()).get("tags") or [])]
            except (ValueError, AttributeError):
                raise InvalidParameter(f"registry {self.endpoint.host} sent an invalid tag list") from None
            link = resp.headers.get("Link", "")
            url = None
            if 'rel="next"' in link and link.startswith("<"):
                nxt = link[1:link.index(">")]
                url = self.endpoint.url + nxt if nxt.startswith("/") else nxt
        return tags

    async def ping(self) -> None:
        """``GET /v2/`` (what ``docker login`` checks)."""
        await self.request("GET", self.url(""))


def _verify(desc: mf.Descriptor, size: int, digest: str) -> None:
    if size != desc.size:
        raise InvalidParameter(f"blob {desc.digest}: size mismatch: expected {desc.size} bytes, got {size}")
    if digest != desc.digest:
        raise InvalidParameter(f"filesystem layer verification failed for digest {desc.digest}: got {digest}")


def _describe(exc: BaseException, host: str) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return f"registry {host} did not answer in time"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"registry {host} closed the connection mid-transfer"
    if isinstance(exc, aiohttp.ClientSSLError):
        return f"registry {host}: TLS: {exc}"
    return f"registry {host}: {exc}"


__all__ = ["Limits", "RegistryRequestError", "RegistryUnavailable", "RepoClient", "TokenRefused", "new_session"]
