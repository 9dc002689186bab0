"""Manifests, indexes, platform selection, registry errors, endpoints and the progress bar."""

from __future__ import annotations

import json

import pytest

from dockyard.errors import InvalidParameter, NotFound
from dockyard.image.distribution import manifest as mf
from dockyard.image.distribution import progress as pg
from dockyard.image.distribution.endpoints import (endpoints, is_insecure, registry_of_server_address,
                                                   validate_insecure, validate_mirrors)
from dockyard.image.distribution.errcode import parse_errors, pull_error_text

D = "sha256:" + "a" * 64
E = "sha256:" + "b" * 64


def _index(*platforms: dict[str, str], media: str = mf.OCI_INDEX) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": media, "manifests": [
        {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + f"{i:064x}", "size": 10, "platform": p}
        for i, p in enumerate(platforms)]}).encode()


def test_schema2_and_oci_manifests_parse():
    body = json.dumps({"schemaVersion": 2, "mediaType": mf.DOCKER_MANIFEST,
                       "config": {"mediaType": mf.DOCKER_CONFIG, "digest": D, "size": 7},
                       "layers": [{"mediaType": mf.DOCKER_LAYER, "digest": E, "size": 9}]}).encode()
    m = mf.parse(body)
    assert isinstance(m, mf.Manifest) and m.config.digest == D and [x.size for x in m.layers] == [9]
    oci = json.dumps({"schemaVersion": 2, "config": {"mediaType": mf.OCI_CONFIG, "digest": D, "size": 7},
                      "layers": [{"mediaType": mf.OCI_LAYER_ZSTD, "digest": E, "size": 3}]}).encode()
    m2 = mf.parse(oci, "application/vnd.oci.image.manifest.v1+json")
    assert isinstance(m2, mf.Manifest) and m2.layers[0].media_type == mf.OCI_LAYER_ZSTD
    assert isinstance(mf.parse(_index({"os": "linux", "architecture": "amd64"}, media=mf.DOCKER_LIST)), mf.Index)


@pytest.mark.parametrize("body, match", [
    (b"{", "invalid manifest"),
    (b'{"schemaVersion": 1, "fsLayers": []}', "schema 1"),
    (json.dumps({"mediaType": mf.OCI_MANIFEST, "config": {"digest": "md5:x", "size": 1}}).encode(), "only sha256"),
    (json.dumps({"mediaType": "text/plain"}).encode(), "unsupported manifest media type"),
    (json.dumps({"mediaType": mf.OCI_MANIFEST, "config": {"digest": D, "size": 1},
                 "layers": [{"mediaType": "application/x-evil", "digest": E, "size": 1}]}).encode(),
     "unsupported layer media type"),
])
def test_bad_manifests_are_refused_clearly(body, match):
    with pytest.raises(InvalidParameter, match=match):
        mf.parse(body)


def test_platform_selection_normalizes_and_prefers_the_exact_variant():
    idx = mf.parse(_index({"os": "linux", "architecture": "arm", "variant": "v6"},
                          {"os": "linux", "architecture": "arm", "variant": "v7"},
                          {"os": "linux", "architecture": "amd64"},
                          {"os": "linux", "architecture": "arm64", "variant": "v8"},
                          {"os": "unknown", "architecture": "unknown"}))
    assert isinstance(idx, mf.Index)
    pick = lambda *p: idx.manifests.index(mf.select_platform(idx, mf.Platform(*p)))  # noqa: E731
    assert pick("linux", "amd64") == 2
    assert pick("linux", "x86_64") == 2
    assert pick("linux", "arm64") == 3 and pick("linux", "aarch64", "") == 3
    assert pick("linux", "arm", "v7") == 1 and pick("linux", "arm") == 1
    assert pick("linux", "arm", "v6") == 0
    with pytest.raises(NotFound) as exc:
        mf.select_platform(idx, mf.Platform("linux", "s390x"))
    assert str(exc.value) == ("no matching manifest for linux/s390x in the manifest list entries "
                              "(the image offers: linux/amd64, linux/arm/v6, linux/arm/v7, linux/arm64/v8)")
    with pytest.raises(NotFound):
        mf.select_platform(idx, mf.Platform("linux", "arm", "v5"))


def test_schema2_manifest_bytes_are_dockerds():
    body = mf.schema2_manifest(mf.Descriptor(mf.DOCKER_CONFIG, D, 599), [mf.Descriptor(mf.DOCKER_LAYER, E, 1069805)])
    assert body.startswith(b'{\n   "schemaVersion": 2,\n   "mediaType": "application/vnd.docker.distribution.'
                           b'manifest.v2+json",\n   "config": {\n      "mediaType"')
    assert b'"size": 1069805,\n         "digest"' in body and not body.endswith(b"\n")


def test_registry_errors_in_dockerds_words():
    [e] = parse_errors(b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}')
    assert str(e) == "manifest unknown: manifest unknown"
    assert pull_error_text(e, "r:5000/x", "r:5000/x:latest") == \
        "manifest for r:5000/x:latest not found: manifest unknown: manifest unknown"
    [d] = parse_errors(b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}')
    assert pull_error_text(d, "foo", "foo:latest") == (
        "pull access denied for foo, repository does not exist or may require 'docker login': "
        "denied: requested access to the resource is denied")
    [n] = parse_errors(b'{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}')
    assert pull_error_text(n, "x", "x:1").startswith("repository x not found: name unknown")
    assert parse_errors(b"<html>") == [] and pull_error_text(parse_errors(
        b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')[0], "x", "x") is None


def test_endpoints_mirrors_insecure_and_loopback():
    assert [e.url for e in endpoints("docker.io", [], ["http://127.0.0.1:5001"])] == \
        ["http://127.0.0.1:5001", "https://registry-1.docker.io"]
    loop = endpoints("127.0.0.1:5000", [], [])
    assert [e.url for e in loop] == ["https://127.0.0.1:5000", "http://127.0.0.1:5000"]
    assert not loop[0].verify_tls
    assert [e.url for e in endpoints("localhost:5000", [], [])][1] == "http://localhost:5000"
    assert [e.url for e in endpoints("reg.example:443", [], [])] == ["https://reg.example:443"]
    assert endpoints("reg.example:443", [], [])[0].verify_tls
    assert is_insecure("reg.example:5000", ["reg.example:5000"]) and is_insecure("10.1.2.3:80", ["10.0.0.0/8"])
    assert not is_insecure("11.1.2.3:80", ["10.0.0.0/8"])
    with pytest.raises(InvalidParameter, match="should not contain"):
        validate_insecure(["http://x"])
    with pytest.raises(InvalidParameter, match="unsupported scheme"):
        validate_mirrors(["mirror.example"])
    assert registry_of_server_address("https://index.docker.io/v1/") == "docker.io"
    assert registry_of_server_address("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert registry_of_server_address("127.0.0.1:5000") == "127.0.0.1:5000"


@pytest.mark.parametrize("n, text", [(0, "0B"), (999, "999B"), (32768, "32.77kB"), (1069805, "1.07MB"),
                                     (655360, "655.4kB"), (1_000_000, "1MB"), (123_456_789_012, "123.5GB")])
def test_human_size_is_go_units(n, text):
    assert pg.human_size(n) == text


def test_progress_lines_are_dockerds():
    assert pg.progress("Downloading", "d5a56f5365a3", 32768, 1069805) == {
        "status": "Downloading", "progressDetail": {"current": 32768, "total": 1069805},
        "progress": "[=>                                                 ]  32.77kB/1.07MB", "id": "d5a56f5365a3"}
    assert pg.bar(1069805, 1069805) == "[==================================================>]   1.07MB/1.07MB"
    assert pg.bar(655360, 1069805) == "[==============================>                    ]  655.4kB/1.07MB"
    assert pg.status("Pull complete", "x") == {"status": "Pull complete", "progressDetail": {}, "id": "x"}
    assert pg.message("Pulling from busybox", "latest") == {"status": "Pulling from busybox", "id": "latest"}
    assert pg.error("boom") == {"errorDetail": {"message": "boom"}, "error": "boom"}
