"""The registry service: ``docker pull``, ``docker push`` and ``docker login``.

It resolves where a reference lives (mirrors, insecure and loopback
registries), decodes the client's credentials, translates registry errors
into dockerd's words, and hands the transfer to ``image/distribution``.
Progress goes to an ``emit`` callback (one dict per line of Docker's progress
JSON); the API layer streams it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from dockyard.daemon.config import DaemonConfig
from dockyard.errors import DockyardError, InvalidParameter, NotFound, Unauthorized, Unavailable
from dockyard.image import reference as refmod
from dockyard.image.archive import parse_platform, rfc3339_nano
from dockyard.image.distribution import manifest as mf
from dockyard.image.distribution import progress as pg
from dockyard.image.distribution.auth import (AuthConfig, Authenticator, auth_config_from_dict,
                                              decode_registry_auth, repository_scope)
from dockyard.image.distribution.client import Limits, RegistryRequestError, RepoClient, TokenRefused, new_session
from dockyard.image.distribution.endpoints import Endpoint, endpoints, registry_of_server_address
from dockyard.image.distribution.errcode import pull_error_text
from dockyard.image.distribution.pull import PullTarget, pull, resolve
from dockyard.image.distribution.push import PushSource, push

Emit = Callable[[dict[str, Any]], None]


class RegistryService:
    """Transfers between the image store and registries."""

    def __init__(self, cfg: DaemonConfig, images: Any, events: Any) -> None:
        self.cfg = cfg
        self.images = images
        self.events = events
        self.limits = Limits.from_env()

    # -- endpoints ----------------------------------------------------------------------

    async def _endpoints(self, session: Any, domain: str) -> list[Endpoint]:
        """The endpoints to try; for an insecure registry, the scheme that answers (HTTPS first).

        Probed per operation (``GET /v2/``, one attempt), as dockerd does: a
        registry on a reused port may have changed its scheme since.
        """
        eps = endpoints(domain, self.cfg.insecure_registries, self.cfg.registry_mirrors)
        if len(eps) == 2 and not eps[0].mirror and eps[0].url.startswith("https://") \
                and eps[1].url.startswith("http://"):
            probe = RepoClient(session, eps[0], "", Authenticator(AuthConfig(), []), Limits(attempts=1))
            try:
                await probe.ping()
            except RegistryRequestError:
                pass  # it answered over HTTPS (with an error such as 401)
            except (Unavailable, OSError):
                return [eps[1]]
            return [eps[0]]
        return eps

    # -- pull ---------------------------------------------------------------------------

    async def pull(self, name: str, tag: str | None, platform: str | None, auth_header: str | None,
                   emit: Emit) -> None:
        """Pull ``name``[:tag|@digest]; without any tag, every tag of the repository (``docker pull -a``)."""
        ref = _pull_reference(name, tag)
        all_tags = ref.tag is None and ref.digest is None
        os_, arch, variant = parse_platform(platform)
        want = mf.Platform(os_, arch, variant)
        creds = decode_registry_auth(auth_header)
        updated_any = False
        warnings: list[str] = []
        async with new_session(self.limits) as session:
            if all_tags:
                client, tags = await self._connect(session, ref, creds, lambda c: c.list_tags())
                refs = [ref.with_tag(t) for t in sorted(tags)]
                first = None
            else:
                client, first = await self._connect(session, ref, creds,
                                                    lambda c: resolve(c, ref, want, bool(platform)))
                refs = [ref]
            for r in refs:
                try:
                    resolved = first if first is not None else await resolve(client, r, want, bool(platform))
                    if platform:
                        warning = await _platform_warning(client, r, resolved.manifest, want)
                        if warning and warning not in warnings:
                            warnings.append(warning)
                    image_id, updated = await self._pull_image(client, r, resolved, emit)
                except RegistryRequestError as exc:
                    raise _pull_error(exc, r) from None
                emit(pg.status(f"Digest: {resolved.digest}"))
                updated_any = updated_any or updated
                self.events.emit("image", "pull", image_id, {"name": r.familiar()})
        shown = ref.familiar_name if all_tags else ref.familiar()
        word = "Downloaded newer image" if updated_any else "Image is up to date"
        emit(pg.status(f"Status: {word} for {shown}"))
        for warning in warnings:
            emit(pg.status(warning))

    async def _connect(self, session: Any, ref: refmod.Reference, creds: AuthConfig,
                       first: Callable[[RepoClient], Awaitable[Any]]) -> tuple[RepoClient, Any]:
        """The first endpoint (mirrors first, for Docker Hub) on which ``first`` succeeds, and its result."""
        last: DockyardError | None = None
        for ep in await self._endpoints(session, ref.domain):
            client = RepoClient(session, ep, ref.path, Authenticator(creds, [repository_scope(ref.path, ["pull"])]),
                                self.limits)
            try:
                return client, await first(client)
            except Unavailable as exc:
                last = exc
            except RegistryRequestError as exc:
                last = _pull_error(exc, ref)
                if not ep.mirror:
                    raise last from None
        assert last is not None
        raise last

    async def _pull_image(self, client: RepoClient, ref: refmod.Reference, resolved: Any,
                          emit: Any) -> tuple[str, bool]:
        """(image ID, whether anything changed) — an image already here is only (re)tagged."""
        images = self.images
        image_id = resolved.manifest.config.digest
        refs = [refmod.Reference(ref.domain, ref.path, None, resolved.digest)]
        if ref.digest is None:
            refs.insert(0, ref.with_default_tag())
        existing = images.store.get(image_id)
        if existing is not None:
            before = {str(r) for r in images.store.refs_of(image_id)}
            wanted = ref.digest or ref.tag or refmod.DEFAULT_TAG
            emit(pg.message(f"Pulling from {ref.path}", wanted))
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._retag, image_id, refs)
            return image_id, not {str(r) for r in refs} <= before
        target = PullTarget(images.layers, images.store, images.db, images._lock, images._tmp_dir,
                            self.cfg.max_concurrent_downloads)
        return await pull(target, client, ref, resolved, emit), True

    def _retag(self, image_id: str, refs: list[refmod.Reference]) -> None:
        with self.images._lock:
            for r in refs:
                current = self.images.store.by_ref(r)
                if current is None or current.id != image_id:
                    self.images.store.set_tag(r, image_id, rfc3339_nano())

    # -- distribution inspect ------------------------------------------------------------

    async def inspect_distribution(self, name: str, auth_header: str | None) -> dict[str, Any]:
        """``GET /distribution/{name}/json``: the registry's descriptor of ``name`` and its platforms."""
        ref = refmod.parse_normalized(name)
        if ref.tag is None and ref.digest is None:
            ref = ref.with_default_tag()
        creds = decode_registry_auth(auth_header)
        async with new_session(self.limits) as session:
            try:
                client, (body, ctype) = await self._connect(
                    session, ref, creds, lambda c: c.get_manifest(ref.digest or ref.tag or "latest"))
                parsed = mf.parse(body, ctype)
                if isinstance(parsed, mf.Index):
                    platforms = [_platform_json(d.platform) for d in parsed.manifests if d.platform is not None]
                else:
                    config = json.loads(await client.get_blob_bytes(parsed.config))
                    platforms = [_platform_json(mf.Platform(str(config.get("os", "")),
                                                            str(config.get("architecture", "")),
                                                            str(config.get("variant", ""))))]
            except RegistryRequestError as exc:
                raise (NotFound(exc.message) if exc.http_status == 404 else _pull_error(exc, ref)) from None
        return {"Descriptor": {"mediaType": parsed.media_type, "digest": mf.sha256_digest(body), "size": len(body)},
                "Platforms": platforms}

    # -- push ---------------------------------------------------------------------------

    async def push(self, name: str, tag: str | None, auth_header: str | None, emit: Emit) -> None:
        base = refmod.parse_normalized(name)
        if base.digest is not None:
            raise InvalidParameter("cannot push a digest reference")
        tag = tag or base.tag
        repo = refmod.Reference(base.domain, base.path)
        if tag:
            targets = [repo.with_tag(refmod.validate_tag(tag))]
        else:
            targets = sorted({r for img in self.images.store.all() for r in self.images.store.refs_of(img.id)
                              if r.name == repo.name and r.tag is not None}, key=str)
        found = [(r, self.images.store.by_ref(r)) for r in targets]
        if not found or any(img is None for _, img in found):
            raise NotFound(f"An image does not exist locally with the tag: {repo.familiar_name}")
        creds = decode_registry_auth(auth_header)
        emit(pg.status(f"The push refers to repository [{repo.name}]"))
        src = PushSource(self.images.layers, self.images.db, self.cfg.max_concurrent_uploads)
        async with new_session(self.limits) as session:
            eps = [e for e in await self._endpoints(session, repo.domain) if not e.mirror]
            client = RepoClient(session, eps[0], repo.path,
                                Authenticator(creds, [repository_scope(repo.path, ["pull", "push"])]), self.limits)
            for r, img in found:
                try:
                    result = await push(src, client, r, img, self.images.config_bytes(img.id), emit)
                except RegistryRequestError as exc:
                    if exc.http_status in (401, 403):
                        raise Unauthorized(f"push access denied for {repo.familiar_name}, repository does not "
                                           f"exist or may require 'docker login': {exc.message}") from None
                    raise
                digest_ref = refmod.Reference(repo.domain, repo.path, None, result.digest)
                loop = asyncio.get_running_loop()
                await loop.run_in_executor(None, self._retag, img.id, [digest_ref])
                emit(pg.status(f"{r.tag}: digest: {result.digest} size: {result.size}"))
                emit({"progressDetail": {}, "aux": {"Tag": r.tag, "Digest": result.digest, "Size": result.size}})
                self.events.emit("image", "push", img.id, {"name": r.familiar()})

    # -- login --------------------------------------------------------------------------

    async def login(self, body: Any) -> dict[str, str]:
        """``POST /auth``: check the credentials against the registry (``GET /v2/`` with them)."""
        creds = auth_config_from_dict(body or {})
        domain = registry_of_server_address(creds.serveraddress)
        async with new_session(self.limits) as session:
            eps = [e for e in await self._endpoints(session, domain) if not e.mirror]
            client = RepoClient(session, eps[0], "", Authenticator(creds, []), self.limits)
            try:
                await client.ping()
            except RegistryRequestError as exc:
                if exc.http_status != 401:
                    raise
                if isinstance(exc, TokenRefused):  # the token server refused: its words
                    raise Unauthorized(exc.message) from None
                # the registry refused basic credentials: dockerd's words (moby's loginV2)
                raise Unauthorized(f"login attempt to {client.url('')} failed with status: 401 Unauthorized") \
                    from None
        return {"IdentityToken": "", "Status": "Login Succeeded"}


def _pull_reference(name: str, tag: str | None) -> refmod.Reference:
    """The reference ``fromImage`` + ``tag`` name (a tag that is a digest makes a digest reference;
    neither tag nor digest means every tag, as with dockerd)."""
    if tag and tag.startswith("sha256:"):
        return refmod.parse_normalized(f"{name}@{tag}")
    return refmod.normalize_repo_tag(name, tag) if tag else refmod.parse_normalized(name)


def _pull_error(exc: RegistryRequestError, ref: refmod.Reference) -> DockyardError:
    shown = ref.with_default_tag() if ref.digest is None else ref
    for err in exc.errors[:1]:
        text = pull_error_text(err, ref.familiar_name, shown.familiar())
        if text is not None:
            return NotFound(text)
    if exc.http_status == 401:
        # a 500 as from dockerd: a 401 would make the docker CLI prompt for a login and retry
        return DockyardError(exc.message)
    return exc


async def _platform_warning(client: RepoClient, ref: refmod.Reference, manifest: mf.Manifest,
                            want: mf.Platform) -> str | None:
    """dockerd's warning when an explicit ``--platform`` does not match a single-platform image
    (the image is pulled anyway, as dockerd does)."""
    config = json.loads(await client.get_blob_bytes(manifest.config))
    have = mf.normalize_platform(str(config.get("os", "")), str(config.get("architecture", "")),
                                 str(config.get("variant", "")))
    w = mf.normalize_platform(want.os, want.architecture, want.variant)
    if (have.os, have.architecture) == (w.os, w.architecture) and (not want.variant or have.variant == w.variant):
        return None
    actual = mf.Platform(str(config.get("os", "")), str(config.get("architecture", "")), str(config.get("variant", "")))
    return (f"WARNING: image with reference {ref.familiar_name} was found but does not match the specified "
            f"platform: wanted {want}, actual: {actual}")


def _platform_json(p: mf.Platform) -> dict[str, str]:
    out = {"architecture": p.architecture, "os": p.os}
    if p.variant:
        out["variant"] = p.variant
    return out
