"""Manifests, indexes and platform selection, sans-I/O.

Docker schema2 and OCI manifests describe one image (a config blob and its
layer blobs); manifest lists and OCI indexes point at one manifest per
platform.  ``select_platform`` picks the one for the wanted platform the way
containerd's ``platforms.Only`` does (arm64 ≡ arm64/v8, arm/v7 also runs v6
and v5) and otherwise names what the image offers.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from dockyard.errors import InvalidParameter, NotFound

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
DOCKER_SCHEMA1 = ("application/vnd.docker.distribution.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v1+prettyjws")

ACCEPT = [OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST]
LAYER_TYPES = {DOCKER_LAYER, DOCKER_FOREIGN_LAYER, OCI_LAYER, OCI_LAYER_GZIP, OCI_LAYER_ZSTD,
               "application/vnd.oci.image.layer.nondistributable.v1.tar",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
               "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"}

_ARCH_ALIASES = {"x86_64": "amd64", "x86-64": "amd64", "aarch64": "arm64", "armhf": "arm", "armel": "arm",
                 "i386": "386", "i686": "386"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def normalize_platform(os_: str, arch: str, variant: str = "") -> Platform:
    """containerd's platforms.Normalize: aliases folded, arm64's v8 and arm's v7 made explicit."""
    arch = _ARCH_ALIASES.get(arch.lower(), arch.lower())
    variant = variant.lower()
    if arch == "arm64" and variant in ("", "8"):
        variant = "v8"
    elif arch == "arm" and variant in ("", "7"):
        variant = "v7"
    elif arch == "arm" and variant in ("5", "6", "8"):
        variant = "v" + variant
    elif arch == "amd64" and variant == "v1":
        variant = ""
    return Platform(os_.lower(), arch, variant)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "size": self.size, "digest": self.digest}
        if self.urls:
            out["urls"] = list(self.urls)
        return out


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(digest: str) -> str:
    """A ``sha256:<64 hex>`` digest, or InvalidParameter (we verify only sha256)."""
    algo, _, hexd = digest.partition(":")
    if algo != "sha256" or len(hexd) != 64 or any(c not in "0123456789abcdef" for c in hexd):
        raise InvalidParameter(f"unsupported digest {digest!r}: only sha256 is supported")
    return digest


def _descriptor(d: Any, what: str) -> Descriptor:
    if not isinstance(d, dict):
        raise InvalidParameter(f"invalid manifest: {what} is not an object")
    try:
        digest = check_digest(str(d["digest"]))
        size = int(d["size"])
    except (KeyError, TypeError, ValueError):
        raise InvalidParameter(f"invalid manifest: {what} lacks a digest or size") from None
    plat = d.get("platform")
    platform = None
    if isinstance(plat, dict):
        platform = normalize_platform(str(plat.get("os", "")), str(plat.get("architecture", "")),
                                      str(plat.get("variant", "")))
    return Descriptor(str(d.get("mediaType") or ""), digest, size, platform, tuple(d.get("urls") or ()),
                      dict(d.get("annotations") or {}))


def parse(body: bytes, content_type: str = "") -> Manifest | Index:
    """Parse a manifest or index; the media type comes from the body, else the Content-Type."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidParameter(f"invalid manifest: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidParameter("invalid manifest: not a JSON object")
    media = str(data.get("mediaType") or content_type.split(";")[0].strip())
    if media in DOCKER_SCHEMA1 or data.get("schemaVersion") == 1:
        raise InvalidParameter("unsupported manifest format: Docker Image manifest v2, schema 1 "
                               "(push the image again with a newer client)")
    if not media:
        media = OCI_INDEX if "manifests" in data else OCI_MANIFEST
    if media in (DOCKER_LIST, OCI_INDEX):
        return Index(media, tuple(_descriptor(m, "a manifest entry") for m in data.get("manifests") or []))
    if media in (DOCKER_MANIFEST, OCI_MANIFEST):
        layers = tuple(_descriptor(m, "a layer") for m in data.get("layers") or [])
        for layer in layers:
            if layer.media_type and layer.media_type not in LAYER_TYPES:
                raise InvalidParameter(f"unsupported layer media type {layer.media_type}")
        return Manifest(media, _descriptor(data.get("config"), "the config"), layers)
    raise InvalidParameter(f"unsupported manifest media type {media}")


def select_platform(index: Index, want: Platform) -> Descriptor:
    """The best manifest of ``index`` for ``want``; NotFound naming the platforms on offer."""
    want = normalize_platform(want.os, want.architecture, want.variant)
    compatible = [want.variant]
    if want.architecture == "arm" and want.variant in ("v7", "v6", "v5"):
        compatible = ["v7", "v6", "v5"][["v7", "v6", "v5"].index(want.variant):]
    best: tuple[int, Descriptor] | None = None
    for d in index.manifests:
        p = d.platform
        if p is None or p.os != want.os or p.architecture != want.architecture:
            continue
        if p.variant not in compatible and not (p.variant == "" and want.variant in ("", "v8", "v7")):
            continue
        rank = compatible.index(p.variant) if p.variant in compatible else len(compatible)
        if best is None or rank < best[0]:
            best = (rank, d)
    if best is None:
        offered = sorted({str(d.platform) for d in index.manifests
                          if d.platform is not None and d.platform.os != "unknown"})
        raise NotFound(f"no matching manifest for {want} in the manifest list entries"
                       f" (the image offers: {', '.join(offered) or 'no platform'})")
    return best[1]


def schema2_manifest(config: Descriptor, layers: list[Descriptor]) -> bytes:
    """The bytes of the Docker schema2 manifest dockerd pushes (its order of keys, indented by 3)."""
    doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST, "config": config.to_json(),
           "layers": [layer.to_json() for layer in layers]}
    return json.dumps(doc, indent=3).encode()
