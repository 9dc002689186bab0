"""Images through the real docker CLI and docker-py: import, images, inspect, tag, rmi, history, prune."""

from __future__ import annotations

import gzip
import json
import secrets
import subprocess

import pytest

from tests.support.daemon import docker


def docker_stdin(d, data: bytes, *args: str) -> subprocess.CompletedProcess[str]:
    """The docker CLI with binary stdin (a tarball piped into `docker import -`)."""
    p = subprocess.run(["docker", *args], env=d.env(), input=data, capture_output=True, timeout=120)
    return subprocess.CompletedProcess(p.args, p.returncode, p.stdout.decode(), p.stderr.decode())


@pytest.fixture
def d(dockyard_daemon):
    return dockyard_daemon


@pytest.fixture
def name(d):
    """A unique repository name; every image tagged with it is removed afterwards."""
    repo = f"dytest-img-{secrets.token_hex(3)}"
    yield repo
    ids = docker(d, "images", "-q", "--filter", f"reference={repo}*").stdout.split()
    ids += docker(d, "images", "-q", "--filter", f"reference=*/{repo}*").stdout.split()
    for iid in set(ids):
        docker(d, "rmi", "-f", iid)


def test_import_file_with_changes_and_inspect(d, name, busybox_tar):
    p = docker(d, "import", "--change", "CMD echo hi", "--change", "ENV A=1 B=2", "--change", "WORKDIR /tmp",
               "--change", "USER app", "--change", "EXPOSE 8080", "--change", 'LABEL dytest=yes',
               "--change", 'ENTRYPOINT ["/bin/sh", "-c"]', "--change", "VOLUME /data",
               "--change", "STOPSIGNAL SIGINT", "-m", "my message", str(busybox_tar), f"{name}:v1")
    assert p.returncode == 0, p.stderr
    iid = p.stdout.strip()
    assert iid.startswith("sha256:") and len(iid) == 71
    info = json.loads(docker(d, "image", "inspect", f"{name}:v1", check=True).stdout)[0]
    assert info["Id"] == iid and info["RepoTags"] == [f"{name}:v1"]
    cfg = info["Config"]
    assert cfg["Entrypoint"] == ["/bin/sh", "-c"]
    assert cfg["Cmd"] == ["/bin/sh", "-c", "echo hi"]  # set before ENTRYPOINT, so kept (Dockerfile rules)
    assert cfg["Env"] == ["A=1", "B=2"] and cfg["WorkingDir"] == "/tmp" and cfg["User"] == "app"
    assert cfg["ExposedPorts"] == {"8080/tcp": {}} and cfg["Labels"] == {"dytest": "yes"}
    assert cfg["Volumes"] == {"/data": {}} and cfg["StopSignal"] == "SIGINT"
    assert info["Comment"] == "my message" and info["RootFS"]["Type"] == "layers"
    assert docker(d, "inspect", "--format", "{{.Os}}/{{.Architecture}}", name + ":v1", check=True).stdout.strip() \
        .startswith("linux/")


def test_import_stdin_gzip_then_run_uses_the_config(d, name, busybox_tar):
    data = gzip.compress(busybox_tar.read_bytes())
    p = docker_stdin(d, data, "import", "--change", 'CMD ["sh", "-c", "echo $GREETING from $(pwd)"]', "--change",
                     "ENV GREETING=hello", "--change", "WORKDIR /etc", "-", name)
    assert p.returncode == 0, p.stderr
    run = docker(d, "run", "--rm", name)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "hello from /etc\n"


def test_images_listing_quiet_format_filters(d, name, busybox_tar):
    a = docker(d, "import", "--change", "LABEL dytest.kind=a", str(busybox_tar), f"{name}:a", check=True).stdout.strip()
    b = docker(d, "import", "--change", "LABEL dytest.kind=b", str(busybox_tar), f"{name}:b", check=True).stdout.strip()
    table = docker(d, "images", name, check=True).stdout.splitlines()
    assert table[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert sorted(line.split()[1] for line in table[1:]) == ["a", "b"]
    q = docker(d, "images", "-q", "--filter", f"reference={name}", check=True).stdout.split()
    assert sorted(q) == sorted([a[7:19], b[7:19]])
    out = docker(d, "images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "--filter", "label=dytest.kind=b",
                 check=True).stdout.splitlines()
    assert out == [f"{name}:b {b[7:19]}"]
    out = docker(d, "images", "--no-trunc", "--format", "{{json .}}", f"{name}:a", check=True).stdout
    assert json.loads(out)["ID"] == a
    assert docker(d, "images", "--filter", "bogus=1").returncode != 0


def test_tag_and_rmi_messages(d, name, busybox_tar):
    iid = docker(d, "import", str(busybox_tar), name, check=True).stdout.strip()
    docker(d, "tag", name, f"localhost:5000/{name}/x:t2", check=True)
    docker(d, "tag", iid[7:19], f"{name}:t3", check=True)
    tags = json.loads(docker(d, "image", "inspect", iid, check=True).stdout)[0]["RepoTags"]
    assert sorted(tags) == sorted([f"{name}:latest", f"{name}:t3", f"localhost:5000/{name}/x:t2"])
    p = docker(d, "rmi", iid[7:19])
    assert p.returncode == 1
    assert (f"conflict: unable to delete {iid[7:19]} (must be forced) - image is referenced in multiple "
            "repositories") in p.stderr
    p = docker(d, "rmi", f"{name}:t3")
    assert p.returncode == 0 and p.stdout == f"Untagged: {name}:t3\n"
    p = docker(d, "rmi", "-f", iid[7:19])
    assert p.returncode == 0, p.stderr
    assert f"Deleted: {iid}" in p.stdout and f"Untagged: {name}:latest" in p.stdout
    p = docker(d, "rmi", f"{name}-nope")
    assert p.returncode == 1 and f"No such image: {name}-nope:latest" in p.stderr
    p = docker(d, "tag", f"{name}-nope", "x")
    assert p.returncode == 1 and f"No such image: {name}-nope:latest" in p.stderr


def test_invalid_reference_and_change_errors(d, busybox_tar):
    p = docker(d, "import", "--change", "FOO bar", str(busybox_tar))
    assert p.returncode == 1 and "foo is not a valid change command" in p.stderr
    p = docker(d, "image", "inspect", "Dytest-Upper")
    assert p.returncode == 1
    p = docker(d, "run", "--rm", "dytest-no-such-image-xyz")
    assert p.returncode == 125
    assert "Unable to find image 'dytest-no-such-image-xyz:latest' locally" in p.stderr
    # the test daemon reaches no registry but loopback ones (tests/support/daemon.py: offline_env)
    assert 'Get "https://registry-1.docker.io/v2/library/dytest-no-such-image-xyz/' in p.stderr


def test_corrupt_tarball_is_refused_and_changes_nothing(d, name, busybox_tar, tmp_path):
    before = docker(d, "images", "-aq", "--no-trunc", check=True).stdout.split()
    bad = tmp_path / "bad.tar"
    bad.write_bytes(busybox_tar.read_bytes()[:300_000])
    p = docker(d, "import", str(bad), name)
    assert p.returncode == 1 and "Error processing tar file(exit status 1): unexpected EOF" in p.stderr
    p = docker_stdin(d, gzip.compress(busybox_tar.read_bytes())[:50_000], "import", "-", name)
    assert p.returncode == 1 and "invalid gzip archive" in p.stderr
    assert docker(d, "images", "-aq", "--no-trunc", check=True).stdout.split() == before


def test_rmi_of_image_used_by_container(d, name, busybox_tar):
    iid = docker(d, "import", str(busybox_tar), name, check=True).stdout.strip()
    cname = f"dytest-{secrets.token_hex(4)}"
    docker(d, "create", "--name", cname, name, "true", check=True)
    try:
        cid = docker(d, "inspect", "--format", "{{.Id}}", cname, check=True).stdout.strip()
        p = docker(d, "rmi", iid[7:19])
        assert p.returncode == 1
        assert (f"conflict: unable to delete {iid[7:19]} (must be forced) - image is being used by stopped "
                f"container {cid[:12]}") in p.stderr
        p = docker(d, "rmi", name)
        assert p.returncode == 1 and "(must force) - container" in p.stderr
    finally:
        docker(d, "rm", "-f", cname)


def test_history_and_prune(d, name, busybox_tar):
    iid = docker(d, "import", "-m", "dytest history", str(busybox_tar), name, check=True).stdout.strip()
    lines = docker(d, "history", "--no-trunc", "--format", "{{.ID}}|{{.Comment}}", name, check=True).stdout
    assert lines.splitlines() == [f"{iid}|dytest history"]
    dangling = docker(d, "import", "--change", f"LABEL dytest.prune={name}", str(busybox_tar),
                      check=True).stdout.strip()
    listed = docker(d, "images", "-q", "--no-trunc", "--filter", "dangling=true", check=True).stdout.split()
    assert dangling in listed and iid not in listed
    p = docker(d, "image", "prune", "-f", "--filter", f"label=dytest.prune={name}", check=True)
    assert f"deleted: {dangling}" in p.stdout.lower()
    assert docker(d, "image", "inspect", dangling).returncode == 1
    assert docker(d, "image", "inspect", iid).returncode == 0


def test_docker_py_images_api(d, name, busybox_tar):
    import docker as docker_mod  # a dependency: missing is a failure, not a skip
    client = docker_mod.DockerClient(base_url=d.docker_host, version="auto")
    try:
        out = client.api.import_image_from_data(busybox_tar.read_bytes(), repository=name, tag="py",
                                                changes=["CMD [\"true\"]"])
        iid = json.loads(out.splitlines()[-1] if isinstance(out, str) else out)["status"]
        img = client.images.get(f"{name}:py")
        assert img.id == iid and img.tags == [f"{name}:py"]
        assert img.attrs["Config"]["Cmd"] == ["true"]
        assert img.tag(name, "py2") is True
        assert sorted(client.images.get(iid).tags) == [f"{name}:py", f"{name}:py2"]
        assert any(i.id == iid for i in client.images.list(name=name))
        with pytest.raises(docker_mod.errors.ImageNotFound):
            client.images.get(f"{name}:nope")
        with pytest.raises(docker_mod.errors.APIError, match="registry-1.docker.io"):
            client.images.pull(f"{name}-not-local", tag="latest")  # Docker Hub is out of reach in tests
        client.images.remove(iid, force=True)
        with pytest.raises(docker_mod.errors.ImageNotFound):
            client.images.get(iid)
    finally:
        client.close()


def test_save_and_load_round_trip_keeps_the_id(d, name, busybox_tar, tmp_path):
    iid = docker(d, "import", "--change", "CMD [\"echo\", \"loaded\"]", str(busybox_tar), f"{name}:one",
                 check=True).stdout.strip()
    docker(d, "tag", f"{name}:one", f"{name}:two", check=True)
    archive = tmp_path / "saved.tar"
    docker(d, "save", "-o", str(archive), name, check=True)
    import tarfile
    with tarfile.open(archive) as tf:
        manifest = json.load(tf.extractfile("manifest.json"))
        names = tf.getnames()
    assert manifest[0]["Config"] == f"blobs/sha256/{iid[7:]}"
    assert sorted(manifest[0]["RepoTags"]) == [f"{name}:one", f"{name}:two"]
    assert "index.json" in names and "oci-layout" in names
    docker(d, "rmi", "-f", iid, check=True)
    p = docker(d, "load", "-i", str(archive))
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == [f"Loaded image: {name}:one", f"Loaded image: {name}:two"]
    assert docker(d, "inspect", "--format", "{{.Id}}", f"{name}:two", check=True).stdout.strip() == iid
    assert docker(d, "run", "--rm", f"{name}:one").stdout == "loaded\n"
    p = docker_stdin(d, b"not an archive" * 100, "load")
    assert p.returncode == 1 and "Error processing tar file(exit status 1): archive/tar: invalid tar header" in p.stderr


def test_commit_keeps_changes_and_whiteouts(d, name, busybox_tar):
    base = docker(d, "import", str(busybox_tar), f"{name}-base", check=True).stdout.strip()
    cname = f"dytest-{secrets.token_hex(4)}"
    try:
        p = docker(d, "run", "--name", cname, f"{name}-base", "sh", "-c",
                   "echo hi > /hello; rm /etc/group; rm -rf /home; mkdir /home; touch /home/only")
        assert p.returncode == 0, p.stderr
        p = docker(d, "commit", "-m", "dytest commit", "-a", "dytest", "--change", "ENV COMMITTED=yes",
                   "--change", 'CMD ["sh"]', cname, f"{name}:c")
        assert p.returncode == 0, p.stderr
        iid = p.stdout.strip()
    finally:
        docker(d, "rm", "-f", cname)
    run = docker(d, "run", "--rm", f"{name}:c", "sh", "-c",
                 "cat /hello; ls /home; test -e /etc/group || echo gone; test -e /etc/passwd && echo kept; "
                 "echo $COMMITTED")
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["hi", "only", "gone", "kept", "yes"]
    info = json.loads(docker(d, "image", "inspect", iid, check=True).stdout)[0]
    assert info["Parent"] == base and len(info["RootFS"]["Layers"]) == 2
    assert info["Comment"] == "dytest commit" and info["Author"] == "dytest" and info["Config"]["Cmd"] == ["sh"]
    hist = docker(d, "history", "--format", "{{.Comment}}", f"{name}:c", check=True).stdout.split("\n")
    assert hist[:2] == ["dytest commit", "Imported from -"]
    # the base is the child's parent: its tag goes, the image stays until the child goes
    assert docker(d, "rmi", f"{name}-base", check=True).stdout == f"Untagged: {name}-base:latest\n"
    out = docker(d, "rmi", f"{name}:c", check=True).stdout
    assert f"Deleted: {iid}" in out and f"Deleted: {base}" in out


def test_old_api_versions_get_the_old_fields(d, name, busybox_tar):
    docker(d, "import", str(busybox_tar), name, check=True)
    status, items = d.request("GET", f"/v1.43/images/json?filters=%7B%22reference%22%3A%5B%22{name}%22%5D%7D")
    assert status == 200 and items[0]["VirtualSize"] == items[0]["Size"]
    status, items = d.request("GET", f"/v1.40/images/json?filter={name}")
    assert status == 200 and [i["RepoTags"] for i in items] == [[f"{name}:latest"]]
    status, info = d.request("GET", f"/v1.44/images/{name}/json")
    assert status == 200 and "VirtualSize" not in info and info["ContainerConfig"]["Cmd"] is None
    status, info = d.request("GET", f"/images/{name}/json")
    assert status == 200 and "ContainerConfig" not in info
    status, body = d.request("GET", "/images/dytest-missing-xyz/json")
    assert status == 404 and body == {"message": "No such image: dytest-missing-xyz:latest"}
    status, body = d.request("GET", "/images/Dytest-Upper/json")
    assert status == 400
    assert body["message"] == "invalid reference format: repository name (library/Dytest-Upper) must be lowercase"
