"""docker pull / push / login against Debian's docker-registry, with skopeo as the independent peer.

Images are built by hand as OCI layouts (tests/support/ocimaker.py) and pushed
with skopeo, pulled with the real docker CLI through dockyard, and the image ID
(config digest), DiffIDs and RepoDigests compared with what the layout says;
the reverse direction is read back with skopeo.  No test leaves loopback.
"""

from __future__ import annotations

import glob
import gzip
import hashlib
import io
import json
import os
import secrets
import subprocess
import tarfile

import pytest

from tests.support.daemon import docker
from tests.support.ocimaker import Layout, layer_tar, sha, skopeo

pytestmark = pytest.mark.skipif(not (os.path.exists("/usr/bin/docker-registry") and os.path.exists("/usr/bin/skopeo")),
                                reason="needs docker-registry and skopeo (scripts/install.sh)")


@pytest.fixture
def d(dockyard_daemon):
    return dockyard_daemon


@pytest.fixture(scope="module")
def bb_layer(busybox_tar) -> bytes:
    return busybox_tar.read_bytes()


@pytest.fixture
def repo(d, registry):
    name = f"{registry.host}/dytest-reg-{secrets.token_hex(3)}"
    yield name
    for iid in set(docker(d, "images", "-q", "--filter", f"reference={name}*").stdout.split()):
        docker(d, "rmi", "-f", iid)


def publish(tmp_path, target: str, layers: list[bytes], compression: list[str], **kw):
    """Build an OCI layout and push it with skopeo; returns what was built."""
    layout = Layout(str(tmp_path / f"oci-{secrets.token_hex(3)}"))
    desc, built = layout.image(layers, compression, **kw)
    layout.tag(desc, "t")
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.root}:t", f"docker://{target}")
    return built


def inspect(d, ref: str) -> dict:
    return json.loads(docker(d, "image", "inspect", ref, check=True).stdout)[0]


def test_pull_of_a_skopeo_pushed_gzip_and_zstd_image(d, registry, repo, tmp_path, bb_layer):
    extra = layer_tar({"data/random.bin": os.urandom(300_000), "etc/motd": b"hello from layer 2\n"})
    third = layer_tar({"data/note": b"zstd layer\n"})
    built = publish(tmp_path, f"{repo}:v1", [bb_layer, extra, third], ["gzip", "gzip", "zstd"],
                    cmd=["cat", "/etc/motd"])
    p = docker(d, "pull", f"{repo}:v1")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    path = repo.split("/", 1)[1]
    shorts = [b[7:19] for b in built.blob_digests]
    assert lines[0] == f"v1: Pulling from {path}"
    for i, s in enumerate(shorts):
        mine = [line.split(": ", 1)[1] for line in lines if line.startswith(s + ": ")]
        if i == 0 and mine == ["Already exists"]:
            continue  # the busybox layer: another test of this session's daemon may have stored it
        assert mine[0] == "Pulling fs layer" and mine[-1] == "Pull complete", mine
        assert "Download complete" in mine and "Verifying Checksum" in mine
    assert lines[-3:] == [f"Digest: {built.manifest_digest}", f"Status: Downloaded newer image for {repo}:v1",
                          f"{repo}:v1"]
    info = inspect(d, f"{repo}:v1")
    assert info["Id"] == built.config_digest
    assert info["RootFS"]["Layers"] == built.diff_ids
    assert info["RepoTags"] == [f"{repo}:v1"] and info["RepoDigests"] == [f"{repo}@{built.manifest_digest}"]
    assert info["Created"] == "2024-01-01T00:00:00Z" and info["Size"] > 300_000
    run = docker(d, "run", "--rm", f"{repo}:v1")
    assert run.returncode == 0 and run.stdout == "hello from layer 2\n", run.stderr
    again = docker(d, "pull", f"{repo}:v1", check=True).stdout.splitlines()
    assert again == [f"v1: Pulling from {path}", f"Digest: {built.manifest_digest}",
                     f"Status: Image is up to date for {repo}:v1", f"{repo}:v1"]
    listed = docker(d, "images", "--digests", "--format", "{{.Repository}} {{.Tag}} {{.Digest}}", repo,
                    check=True).stdout.split("\n")
    assert f"{repo} v1 {built.manifest_digest}" in listed


def test_pull_by_digest_and_a_second_image_shares_layers(d, registry, repo, tmp_path, bb_layer):
    built = publish(tmp_path, f"{repo}:a", [bb_layer], ["gzip"])
    p = docker(d, "pull", f"{repo}@{built.manifest_digest}")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[0] == f"{built.manifest_digest}: Pulling from {repo.split('/', 1)[1]}"
    assert f"Status: Downloaded newer image for {repo}@{built.manifest_digest}" in p.stdout
    info = inspect(d, f"{repo}@{built.manifest_digest}")
    assert info["Id"] == built.config_digest and info["RepoTags"] == []
    top = layer_tar({"x": b"x"})
    built2 = publish(tmp_path, f"{repo}:b", [bb_layer, top], ["gzip", "gzip"])
    p = docker(d, "pull", f"{repo}:b", check=True)
    assert f"{built2.blob_digests[0][7:19]}: Already exists" in p.stdout.splitlines()
    assert inspect(d, f"{repo}:b")["RootFS"]["Layers"] == built2.diff_ids


def test_pull_all_tags(d, registry, repo, tmp_path, bb_layer):
    one = publish(tmp_path, f"{repo}:t1", [bb_layer], ["gzip"])
    two = publish(tmp_path, f"{repo}:t2", [bb_layer, layer_tar({"two": b"2"})], ["gzip", "gzip"])
    p = docker(d, "pull", "-a", repo)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    path = repo.split("/", 1)[1]
    assert lines[0] == f"t1: Pulling from {path}" and f"Digest: {one.manifest_digest}" in lines
    i = lines.index(f"t2: Pulling from {path}")
    assert f"Digest: {two.manifest_digest}" in lines[i:]
    assert lines[-2:] == [f"Status: Downloaded newer image for {repo}", repo]
    assert inspect(d, f"{repo}:t1")["Id"] == one.config_digest
    assert inspect(d, f"{repo}:t2")["Id"] == two.config_digest
    again = docker(d, "pull", "-a", repo, check=True).stdout.splitlines()
    assert again == [f"t1: Pulling from {path}", f"Digest: {one.manifest_digest}", f"t2: Pulling from {path}",
                     f"Digest: {two.manifest_digest}", f"Status: Image is up to date for {repo}", repo]


def test_manifest_list_platforms(d, registry, repo, tmp_path, bb_layer):
    layout = Layout(str(tmp_path / "multi"))
    amd, amd_built = layout.image([bb_layer, layer_tar({"arch": b"amd64\n"})], ["gzip", "gzip"], arch="amd64",
                                  cmd=["cat", "/arch"])
    arm, arm_built = layout.image([bb_layer, layer_tar({"arch": b"arm64\n"})], ["gzip", "gzip"], arch="arm64",
                                  variant="v8")
    idx, idx_digest = layout.index([amd, arm])
    layout.tag(idx, "t")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout.root}:t", f"docker://{repo}:multi")
    p = docker(d, "pull", f"{repo}:multi")
    assert p.returncode == 0, p.stderr
    assert f"Digest: {idx_digest}" in p.stdout
    info = inspect(d, f"{repo}:multi")
    assert info["Id"] == amd_built.config_digest and info["RepoDigests"] == [f"{repo}@{idx_digest}"]
    assert docker(d, "run", "--rm", f"{repo}:multi").stdout == "amd64\n"
    p = docker(d, "pull", "--platform", "linux/arm64", f"{repo}:multi")
    assert p.returncode == 0, p.stderr
    assert inspect(d, f"{repo}:multi")["Id"] == arm_built.config_digest
    assert inspect(d, f"{repo}:multi")["Architecture"] == "arm64"
    p = docker(d, "pull", "--platform", "linux/s390x", f"{repo}:multi")
    assert p.returncode == 1
    assert ("no matching manifest for linux/s390x in the manifest list entries (the image offers: "
            "linux/amd64, linux/arm64/v8)") in p.stderr


def test_unknown_repository_tag_and_bad_reference(d, registry):
    p = docker(d, "pull", f"{registry.host}/dytest-nope/none")
    assert p.returncode == 1
    assert f"manifest for {registry.host}/dytest-nope/none:latest not found: manifest unknown" in p.stderr
    p = docker(d, "pull", f"{registry.host}/Upper")
    assert p.returncode == 1 and "must be lowercase" in p.stderr


def test_a_corrupt_blob_is_refused_and_nothing_is_stored(d, registry, repo, tmp_path):
    payload = layer_tar({"f": os.urandom(200_000)})
    built = publish(tmp_path, f"{repo}:bad", [payload], ["gzip"])
    data_file = glob.glob(f"{registry.root}/data/docker/registry/v2/blobs/sha256/*/"
                          f"{built.blob_digests[0][7:]}/data")[0]
    raw = bytearray(open(data_file, "rb").read())
    raw[len(raw) // 2] ^= 0xFF  # same size, other bytes
    with open(data_file, "wb") as f:
        f.write(raw)
    layers_before = sorted(os.listdir(os.path.join(d.data_root, "overlay2")))
    p = docker(d, "pull", f"{repo}:bad")
    assert p.returncode == 1
    assert f"filesystem layer verification failed for digest {built.blob_digests[0]}" in p.stderr
    assert docker(d, "image", "inspect", f"{repo}:bad").returncode == 1
    assert sorted(os.listdir(os.path.join(d.data_root, "overlay2"))) == layers_before
    assert os.listdir(os.path.join(d.data_root, "image", "tmp")) == []


def _tar(members: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for m in members:
            if isinstance(m, tuple):
                tf.addfile(m[0], io.BytesIO(m[1]))
            else:
                tf.addfile(m)
    return buf.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, data: bytes = b"", target: str = "") -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type, ti.size, ti.linkname = kind, len(data), target
    return ti


def test_a_malicious_layer_never_writes_outside_it(d, registry, repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    sym = _tar([_member("abs", tarfile.SYMTYPE, target=str(outside)),
                (_member("abs/f1", data=b"1"), b"1"), (_member("/etc/dytest-abs", data=b"2"), b"2")])
    built = publish(tmp_path, f"{repo}:sym", [sym], ["gzip"])
    assert docker(d, "pull", f"{repo}:sym").returncode == 0
    assert list(outside.iterdir()) == [] and not os.path.exists("/etc/dytest-abs")
    assert inspect(d, f"{repo}:sym")["Id"] == built.config_digest
    before = sorted(os.listdir(os.path.join(d.data_root, "overlay2")))
    for name, members in (("dotdot", [(_member(f"../../../../../..{outside}/x", data=b"x"), b"x")]),
                          ("hardlink", [_member("evil", tarfile.LNKTYPE, target="../../../../etc/passwd")])):
        publish(tmp_path, f"{repo}:{name}", [_tar(members)], ["gzip"])
        p = docker(d, "pull", f"{repo}:{name}")
        assert p.returncode == 1 and "outside" in p.stderr, p.stderr
        assert docker(d, "image", "inspect", f"{repo}:{name}").returncode == 1
    assert list(outside.iterdir()) == []
    assert sorted(os.listdir(os.path.join(d.data_root, "overlay2"))) == before


def _skopeo_layers(target: str, dest: str) -> list[str]:
    """DiffIDs as skopeo sees them: copy to an OCI layout and hash each decompressed layer."""
    skopeo("copy", "--src-tls-verify=false", f"docker://{target}", f"oci:{dest}:x")
    index = json.load(open(os.path.join(dest, "index.json")))
    man = json.load(open(os.path.join(dest, "blobs", "sha256", index["manifests"][0]["digest"][7:])))
    out = []
    for layer in man["layers"]:
        data = open(os.path.join(dest, "blobs", "sha256", layer["digest"][7:]), "rb").read()
        out.append(sha(gzip.decompress(data)))
    return out


def test_push_is_read_back_by_skopeo_and_skips_or_mounts_known_blobs(d, registry, repo, tmp_path):
    fresh = tmp_path / "fresh.tar"
    fresh.write_bytes(layer_tar({"bin/data": os.urandom(500_000), "etc/x": b"compressible " * 10000}))
    iid = docker(d, "import", "--change", "CMD [\"true\"]", str(fresh), f"{repo}:p1", check=True).stdout.strip()
    p = docker(d, "push", f"{repo}:p1")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    info = inspect(d, f"{repo}:p1")
    short = info["RootFS"]["Layers"][0][7:19]
    assert lines[:2] == [f"The push refers to repository [{repo}]", f"{short}: Preparing"]
    assert lines[2] in (f"{short}: Pushed",) and lines[-1].startswith("p1: digest: sha256:")
    digest, size = lines[-1].split()[2], int(lines[-1].split()[4])
    raw = skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{repo}:p1").stdout.encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == digest and len(raw) == size
    cfg = json.loads(skopeo("inspect", "--tls-verify=false", "--config", "--raw", f"docker://{repo}:p1").stdout)
    assert cfg["rootfs"]["diff_ids"] == info["RootFS"]["Layers"]
    manifest = json.loads(raw)
    assert manifest["config"]["digest"] == iid
    assert manifest["layers"][0]["mediaType"] == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert _skopeo_layers(f"{repo}:p1", str(tmp_path / "back")) == info["RootFS"]["Layers"]
    assert info["RepoDigests"] == [f"{repo}@{digest}"]
    again = docker(d, "push", f"{repo}:p1", check=True).stdout.splitlines()
    assert f"{short}: Layer already exists" in again and again[-1] == lines[-1]
    other = f"{repo}-other:m"
    docker(d, "tag", f"{repo}:p1", other, check=True)
    mounted = docker(d, "push", other, check=True).stdout.splitlines()
    assert f"{short}: Mounted from {repo.split('/', 1)[1]}" in mounted
    docker(d, "rmi", "-f", iid, check=True)
    p = docker(d, "pull", f"{repo}:p1", check=True)
    assert inspect(d, f"{repo}:p1")["Id"] == iid


def test_push_of_a_missing_image(d, registry):
    p = docker(d, "push", f"{registry.host}/dytest-absent:1")
    assert p.returncode == 1
    assert f"An image does not exist locally with the tag: {registry.host}/dytest-absent" in p.stderr


def test_docker_py_pull_stream_push(d, registry, repo, tmp_path, bb_layer):
    import docker as docker_mod  # a dependency: missing is a failure, not a skip
    built = publish(tmp_path, f"{repo}:py", [bb_layer, layer_tar({"a": b"1"})], ["gzip", "zstd"])
    client = docker_mod.DockerClient(base_url=d.docker_host, version="auto")
    try:
        events = list(client.api.pull(repo, tag="py", stream=True, decode=True))
        assert events[0] == {"status": "Pulling from " + repo.split("/", 1)[1], "id": "py"}
        statuses = {e.get("status") for e in events}
        assert {"Pulling fs layer", "Downloading", "Download complete", "Extracting", "Pull complete"} <= statuses
        dl = [e for e in events if e.get("status") == "Downloading"][-1]
        assert dl["progressDetail"]["current"] == dl["progressDetail"]["total"] and dl["progress"].startswith("[=")
        assert events[-1] == {"status": f"Status: Downloaded newer image for {repo}:py"}
        img = client.images.pull(repo, tag="py")
        assert img.id == built.config_digest
        img.tag(repo, "py2")
        out = list(client.api.push(repo, tag="py2", stream=True, decode=True))
        aux = [e["aux"] for e in out if "aux" in e]
        assert aux and aux[0]["Tag"] == "py2" and aux[0]["Digest"].startswith("sha256:")
        with pytest.raises(docker_mod.errors.NotFound):
            client.images.pull(f"{registry.host}/dytest-none", tag="x")
    finally:
        client.close()


def test_docker_hub_is_never_reached_in_tests(d):
    p = docker(d, "pull", "dytest-no-such-image-xyz")
    assert p.returncode == 1
    assert "registry-1.docker.io" in p.stderr


def test_registry_mirrors_and_max_concurrent_downloads(registry, tmp_path, bb_layer):
    """A Docker Hub name goes to the mirror (never to Docker Hub); one download at a time: the rest wait."""
    from tests.support.daemon import new_daemon

    name = f"dytest-mirror-{secrets.token_hex(3)}"
    built = publish(tmp_path, f"{registry.host}/library/{name}:m",
                    [bb_layer, layer_tar({"a": os.urandom(50_000)}), layer_tar({"b": os.urandom(50_000)})],
                    ["gzip", "gzip", "gzip"])
    d = new_daemon(config={"registry-mirrors": [f"http://{registry.host}"], "max-concurrent-downloads": 1})
    d.start()
    try:
        info = json.loads(docker(d, "info", "--format", "{{json .RegistryConfig}}", check=True).stdout)
        assert info["Mirrors"] == [f"http://{registry.host}/"]
        p = docker(d, "pull", f"{name}:m")
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        assert lines[0] == f"m: Pulling from library/{name}"
        assert [line.split(": ")[0] for line in lines if line.endswith(": Waiting")] == \
            [b[7:19] for b in built.blob_digests[1:]]
        assert lines[-1] == f"docker.io/library/{name}:m"
        assert inspect(d, f"{name}:m")["Id"] == built.config_digest
        assert inspect(d, f"{name}:m")["RepoDigests"] == [f"{name}@{built.manifest_digest}"]
    finally:
        d.cleanup()
    bad = new_daemon(config={"max-concurrent-downloads": 0})
    with pytest.raises(RuntimeError, match="invalid max-concurrent-downloads"):
        bad.start()
    bad.cleanup()


def test_the_id_survives_pull_save_load_push_pull(d, registry, repo, tmp_path, bb_layer):
    built = publish(tmp_path, f"{repo}:src", [bb_layer, layer_tar({"z": os.urandom(100_000)})], ["gzip", "zstd"])
    docker(d, "pull", f"{repo}:src", check=True)
    archive = tmp_path / "rt.tar"
    docker(d, "save", "-o", str(archive), f"{repo}:src", check=True)
    assert _sha_of(skopeo("inspect", "--config", "--raw", f"docker-archive:{archive}").stdout) == built.config_digest
    docker(d, "rmi", f"{repo}:src", check=True)
    docker(d, "load", "-i", str(archive), check=True)
    docker(d, "tag", f"{repo}:src", f"{repo}-rt:1", check=True)
    docker(d, "push", f"{repo}-rt:1", check=True)
    cfg = skopeo("inspect", "--tls-verify=false", "--config", "--raw", f"docker://{repo}-rt:1").stdout
    assert _sha_of(cfg) == built.config_digest and json.loads(cfg)["rootfs"]["diff_ids"] == built.diff_ids
    docker(d, "rmi", "-f", built.config_digest, check=True)
    docker(d, "pull", f"{repo}-rt:1", check=True)
    info = inspect(d, f"{repo}-rt:1")
    assert info["Id"] == built.config_digest and info["RootFS"]["Layers"] == built.diff_ids
    docker(d, "rmi", "-f", built.config_digest)


def _sha_of(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def test_build_from_an_image_in_a_registry_pulls_its_latest_tag(d, registry, repo, tmp_path, bb_layer):
    built = publish(tmp_path, f"{repo}:latest", [bb_layer], ["gzip"])
    publish(tmp_path, f"{repo}:other", [bb_layer, layer_tar({"o": b"o"})], ["gzip", "gzip"])
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {repo}\nRUN echo built-from-registry\n")
    p = subprocess.run(["docker", "build", "-t", f"{repo}-built", str(ctx)], env={**d.env(), "DOCKER_BUILDKIT": "0"},
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert f"Status: Downloaded newer image for {repo}:latest" in p.stdout and "built-from-registry" in p.stdout
    assert inspect(d, f"{repo}:latest")["Id"] == built.config_digest
    assert docker(d, "image", "inspect", f"{repo}:other").returncode == 1  # only the tag FROM names


def test_platform_mismatch_of_a_single_platform_image_warns_as_dockerd(d, registry, repo, tmp_path, bb_layer):
    built = publish(tmp_path, f"{repo}:single", [bb_layer], ["gzip"])
    p = docker(d, "pull", "--platform", "linux/arm64", f"{repo}:single")
    assert p.returncode == 0, p.stderr
    assert (f"WARNING: image with reference {repo} was found but does not match the specified platform: "
            "wanted linux/arm64, actual: linux/amd64") in p.stdout + p.stderr
    assert inspect(d, f"{repo}:single")["Id"] == built.config_digest


def test_distribution_inspect_through_docker_py(d, registry, repo, tmp_path, bb_layer):
    docker_mod = pytest.importorskip("docker")
    layout = Layout(str(tmp_path / "multi"))
    amd, _ = layout.image([bb_layer], ["gzip"], arch="amd64")
    arm, _ = layout.image([bb_layer], ["gzip"], arch="arm", variant="v7")
    idx, idx_digest = layout.index([amd, arm])
    layout.tag(idx, "t")
    skopeo("copy", "--all", "--dest-tls-verify=false", f"oci:{layout.root}:t", f"docker://{repo}:multi")
    single = publish(tmp_path, f"{repo}:single", [bb_layer], ["gzip"])
    client = docker_mod.DockerClient(base_url=d.docker_host, version="auto")
    try:
        data = client.images.get_registry_data(f"{repo}:multi")
        assert data.id == idx_digest
        assert data.attrs["Descriptor"]["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert data.attrs["Platforms"] == [{"architecture": "amd64", "os": "linux"},
                                           {"architecture": "arm", "os": "linux", "variant": "v7"}]
        assert data.has_platform("linux/arm/v7") and not data.has_platform("linux/s390x")
        one = client.images.get_registry_data(f"{repo}:single")
        assert one.id == single.manifest_digest and one.attrs["Descriptor"]["size"] == single.manifest_size
        assert one.attrs["Platforms"] == [{"architecture": "amd64", "os": "linux"}]
        with pytest.raises(docker_mod.errors.NotFound, match="manifest unknown"):
            client.images.get_registry_data(f"{repo}:nope")
    finally:
        client.close()


def test_a_loopback_registry_over_https_with_a_self_signed_certificate(d, tmp_path, bb_layer):
    """Loopback registries are insecure by default: HTTPS is tried first, without certificate checks."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem")],
                   check=True, capture_output=True)
    from tests.support.registry import new_registry

    r = new_registry(tls=(str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")))
    r.start()
    try:
        name = f"{r.host}/dytest-tls-{secrets.token_hex(3)}"
        layout = Layout(str(tmp_path / "oci"))
        desc, built = layout.image([bb_layer], ["gzip"])
        layout.tag(desc, "t")
        skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.root}:t", f"docker://{name}:1")
        p = docker(d, "pull", f"{name}:1")
        assert p.returncode == 0, p.stderr
        assert inspect(d, f"{name}:1")["Id"] == built.config_digest
        docker(d, "tag", f"{name}:1", f"{name}:2", check=True)
        assert docker(d, "push", f"{name}:2").returncode == 0
        assert "Digest" in skopeo("inspect", "--tls-verify=false", f"docker://{name}:2").stdout
        docker(d, "rmi", "-f", built.config_digest)
    finally:
        r.cleanup()


def test_max_concurrent_uploads(registry, tmp_path):
    """One upload at a time: the other layers wait; each is gzip-compressed and pushed."""
    from tests.support.daemon import new_daemon

    layout = Layout(str(tmp_path / "oci"))
    desc, built = layout.image([layer_tar({f"f{i}": os.urandom(30_000)}) for i in range(3)], ["none"] * 3)
    layout.tag(desc, "t")
    archive = tmp_path / "img.tar"
    skopeo("copy", f"oci:{layout.root}:t", f"docker-archive:{archive}:dytest-up/img:1")
    d = new_daemon(config={"max-concurrent-uploads": 1})
    d.start()
    try:
        docker(d, "load", "-i", str(archive), check=True)
        target = f"{registry.host}/dytest-up-{secrets.token_hex(3)}:1"
        docker(d, "tag", "dytest-up/img:1", target, check=True)
        p = docker(d, "push", target)
        assert p.returncode == 0, p.stderr
        lines = p.stdout.splitlines()
        shorts = [x[7:19] for x in built.diff_ids]
        assert lines[1:4] == [f"{s}: Preparing" for s in reversed(shorts)]
        assert [line.split(":")[0] for line in lines if line.endswith(": Waiting")] == list(reversed(shorts))[1:]
        assert sorted(line.split(":")[0] for line in lines if line.endswith(": Pushed")) == sorted(shorts)
        man = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{target}").stdout)
        assert [m["mediaType"] for m in man["layers"]] == ["application/vnd.docker.image.rootfs.diff.tar.gzip"] * 3
        assert man["config"]["digest"] == built.config_digest
    finally:
        d.cleanup()
