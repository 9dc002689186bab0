"""schemathesis hooks for bench/fuzz_api.py: what a generated request may reach, made safe before it is sent.

Loaded by schemathesis through ``SCHEMATHESIS_HOOKS=fuzz_hooks`` (this folder on
``PYTHONPATH``); the settings come from the environment fuzz_api.py sets:

- ``DYFUZZ_REGISTRY``: ``127.0.0.1:PORT`` of a loopback docker-registry.  Every
  registry host in an image reference (pull, push, distribution inspect,
  login) is replaced by it, and an import URL (``fromSrc``) or a remote build
  context points into it; a Docker Hub name stays, and fails fast through the
  daemon's proxy variables (a closed loopback port), as in every test.
- ``DYFUZZ_NET4`` / ``DYFUZZ_NET6``: a free ``10.x`` /16 and ``fdxx:…`` /48 of
  this run; every subnet a network create asks for is moved into them (a
  random subnet on a bridge could shadow the host's own routes), and the
  bridge-name option is dropped (a bridge must carry the daemon's prefix).
- ``DYFUZZ_CGROUP_PARENT``: the daemon's cgroup parent; a cgroup parent asked
  for by a build or a container create becomes it (the runtime leaves a parent
  it made; the daemon's own is checked for leftovers).
- ``/events``: the stream ends at ``until``; without one (or an empty one, or
  one that may lie ahead) every example would wait for the request timeout, so
  it ends a second from now.

Go decodes JSON keys case-insensitively (and so does dockyard): keys are
matched that way here too.  The rewriting is pure (:func:`sanitize`) and unit
tested in tests/unit/test_fuzz_hooks.py.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import os
import re
import tarfile
import time
from dataclasses import dataclass
from typing import Any

BRIDGE_NAME_OPT = "com.docker.network.bridge.name"


@dataclass
class Limits:
    registry: str  # host:port of the loopback registry
    net4: str  # e.g. "10.231.0.0/16"
    net6: str  # e.g. "fd5e:1a2b:3c4d::/48"
    cgroup_parent: str  # the daemon's, e.g. "/dytest-1a2b3c"

    @classmethod
    def from_env(cls) -> Limits:
        return cls(os.environ["DYFUZZ_REGISTRY"], os.environ["DYFUZZ_NET4"], os.environ["DYFUZZ_NET6"],
                   os.environ["DYFUZZ_CGROUP_PARENT"])


def _key(d: dict, name: str) -> list[str]:
    """The keys of ``d`` that Go's decoder would take for field ``name``."""
    return [k for k in d if isinstance(k, str) and k.lower() == name.lower()]


def local_reference(ref: Any, registry: str) -> Any:
    """An image reference whose registry (when it names one) is the loopback registry."""
    if not isinstance(ref, str) or "/" not in ref:
        return ref
    first, rest = ref.split("/", 1)
    if any(c in first for c in ".:") or first == "localhost" or first.lower() != first:
        return f"{registry}/{rest}"
    return ref


def _subnet_in(value: Any, pool: str, seed: str) -> Any:
    """A subnet of the same family and a stable pick inside ``pool``: /24 for IPv4, /64 for IPv6."""
    if not isinstance(value, str):
        return value
    base = ipaddress.ip_network(pool)
    n = int(hashlib.sha256(f"{seed}/{value}".encode()).hexdigest(), 16)
    new_prefix = 24 if base.version == 4 else 64
    count = 2 ** (new_prefix - base.prefixlen)
    return str(ipaddress.ip_network((int(base.network_address) + (n % count) * 2 ** (base.max_prefixlen - new_prefix),
                                     new_prefix)))


def _safe_subnet(value: Any, limits: Limits) -> Any:
    if not isinstance(value, str):
        return value
    return _subnet_in(value, limits.net6 if ":" in value else limits.net4, "subnet")


def _network_body(body: Any, limits: Limits) -> Any:
    if not isinstance(body, dict):
        return body
    for ipam_key in _key(body, "IPAM"):
        ipam = body[ipam_key]
        if not isinstance(ipam, dict):
            continue
        for cfg_key in _key(ipam, "Config"):
            configs = ipam[cfg_key]
            if not isinstance(configs, list):
                continue
            for cfg in configs:
                if isinstance(cfg, dict):
                    for k in _key(cfg, "Subnet"):
                        cfg[k] = _safe_subnet(cfg[k], limits)
    for opt_key in _key(body, "Options"):
        opts = body[opt_key]
        if isinstance(opts, dict):
            for k in [k for k in opts if isinstance(k, str) and k.lower() == BRIDGE_NAME_OPT]:
                del opts[k]
    return body


# Dockerfiles for a build whose generated body is not a tar: most generated bodies are a
# few random bytes, which only ever reach the tar reader; these reach the builder, with
# the generated query parameters (tags, build args, limits, network mode, target, ...).
DOCKERFILES = (
    "FROM busybox\nRUN echo fuzz > /f\n",
    "FROM scratch\nCOPY a /a\n",
    "FROM busybox\nARG X=1\nENV Y=$X\nLABEL fuzz=1\nWORKDIR /w\nCMD [\"true\"]\n",
    "FROM busybox AS one\nRUN true\nFROM one\nCOPY --from=one /bin/true /t\n",
    "FROM no-such-image-of-the-fuzz\n",
    "FRM busybox\n",
)


def raw_bytes(body: Any) -> bytes | None:
    """The bytes of a generated binary body: schemathesis wraps them (``Binary``, a ``str`` with ``.data``)."""
    data = getattr(body, "data", body)
    return bytes(data) if isinstance(data, (bytes, bytearray)) else None


def build_context(body: Any, salt: str = "") -> Any:
    """Half of the non-tar bodies (by their hash and ``salt``) become a tiny tar with one of :data:`DOCKERFILES`.

    The generator draws binary bodies from a handful of file samples (PNG, GIF, ...),
    so the request's query goes into the hash too.
    """
    raw = raw_bytes(body)
    if raw is None or raw[257:262] == b"ustar":
        return body
    n = int(hashlib.sha256(raw + salt.encode("utf-8", "replace")).hexdigest(), 16)
    if n % 2:
        return body
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("Dockerfile", DOCKERFILES[(n // 2) % len(DOCKERFILES)].encode()), ("a", raw)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# query parameters dockyard refuses with a 400 (BuildKit's, remote contexts, squash): a
# build that gets a real context goes without them, so it reaches the builder
REFUSED_BUILD_PARAMS = ("squash", "remote", "outputs", "session", "isolation", "version", "platform")


def _pick(seed: Any, choices: tuple[Any, ...]) -> Any:
    """A stable choice for a generated value (the same request always gets the same one)."""
    return choices[int(hashlib.sha256(repr(seed).encode()).hexdigest(), 16) % len(choices)]


def _cgroup_parent(value: Any, limits: Limits) -> Any:
    if not isinstance(value, str) or not value:
        return value
    return limits.cgroup_parent  # container cgroups right below it, removed with the container


def _query(query: dict, name: str, fn: Any) -> None:
    if name in query:
        value = query[name]
        query[name] = [fn(v) for v in value] if isinstance(value, list) else fn(value)


def sanitize(method: str, path: str, path_parameters: dict | None, query: dict | None, body: Any,
             limits: Limits, now: float | None = None) -> Any:
    """Rewrite one generated request in place (``path_parameters``, ``query``); return the new body."""
    method = method.upper()
    query = query if isinstance(query, dict) else {}
    params = path_parameters if isinstance(path_parameters, dict) else {}
    registry = limits.registry
    if path == "/images/create":
        if not query.get("fromImage") and not query.get("fromSrc"):
            # most generated pulls name nothing: half of them pull something real, from the registry
            image = _pick(sorted(query.items(), key=str),
                          (f"{registry}/library/busybox", "busybox", f"{registry}/fuzz/missing", None, None, None))
            if image is not None:
                query["fromImage"] = image
        _query(query, "fromImage", lambda v: local_reference(v, registry))
        _query(query, "fromSrc", lambda v: v if v == "-" else f"http://{registry}/fuzz/import.tar")
    elif path in ("/images/{name}/push", "/distribution/{name}/json") and "name" in params:
        params["name"] = local_reference(params["name"], registry)
        if _pick(params["name"], (True, False)):
            # half of them name the image fuzz_api.py tagged for the registry: a push that happens
            params["name"] = f"{registry}/fuzz/busybox"
            query.pop("platform", None)
    elif path == "/auth" and isinstance(body, dict):
        for k in _key(body, "serveraddress") or ["serveraddress"]:  # none: Docker Hub's
            body[k] = f"http://{registry}"
    elif path == "/build":
        _query(query, "remote", lambda v: f"http://{registry}/fuzz/context.tar" if v else v)
        _query(query, "cgroupparent", lambda v: _cgroup_parent(v, limits))
        new = build_context(body, repr(sorted(query.items(), key=str)))
        if new is not body:
            for name in REFUSED_BUILD_PARAMS:
                query.pop(name, None)
        body = new
    elif path == "/networks/create":
        body = _network_body(body, limits)
    elif path == "/containers/create" and isinstance(body, dict):
        for hc_key in _key(body, "HostConfig"):
            hc = body[hc_key]
            if isinstance(hc, dict):
                for k in _key(hc, "CgroupParent"):
                    hc[k] = _cgroup_parent(hc[k], limits)
    elif path == "/events" and method == "GET":
        soon = int((now if now is not None else time.time()) + 1)

        def bounded(v: Any) -> Any:
            if not isinstance(v, str) or not v.strip() or re.match(r"\s*\d{4}-", v):
                return str(soon)  # none, or a date (RFC 3339) that may lie ahead
            try:
                return v if float(v) <= soon else str(soon)
            except ValueError:
                return v  # a duration (in the past) or no time at all: the daemon's answer is quick

        if "until" in query:
            _query(query, "until", bounded)
        else:
            query["until"] = str(soon)
    elif path == "/images/load":
        body = build_context(body, repr(sorted(query.items(), key=str)))
    return body


if "DYFUZZ_REGISTRY" in os.environ:  # loaded by schemathesis for fuzz_api.py (the unit tests: the pure part)
    import schemathesis

    @schemathesis.serializer("application/x-tar")
    def tar_serializer(ctx: Any, value: Any) -> bytes:
        """image load and archive upload bodies: the generated bytes as they are."""
        raw = raw_bytes(value)
        return raw if raw is not None else str(value).encode()

    @schemathesis.hook
    def before_call(context: Any, case: Any, **kwargs: Any) -> None:
        """Every request schemathesis sends (examples, fuzzing, stateful links, checks) passes here."""
        limits = Limits.from_env()
        if case.query is None and case.operation.path == "/events":
            case.query = {}
        case.body = sanitize(case.method, case.operation.path, case.path_parameters, case.query, case.body, limits)
