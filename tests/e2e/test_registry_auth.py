"""docker login / pull / push against registries with htpasswd basic auth and with token auth.

The basic registry's htpasswd is written with bcrypt (libxcrypt's $2b$ through
Python's crypt); the token registry trusts a token server started by the test
(tests/support/tokenserver.py) that gives anonymous users only pull on
``public/*``.  Texts are dockerd's (checked against dockerd 20.10 on the same
registries).
"""

from __future__ import annotations

import os
import secrets
import warnings

import pytest

from tests.support.daemon import docker
from tests.support.ocimaker import Layout, layer_tar, skopeo
from tests.support.registry import new_registry

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="needs docker-registry")


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32))


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory):
    path = tmp_path_factory.mktemp("htpasswd") / "htpasswd"
    path.write_text(f"alice:{_bcrypt('s3cret')}\n")
    r = new_registry(htpasswd=str(path))
    r.start()
    yield r
    r.cleanup()


@pytest.fixture(scope="module")
def token_registry(tmp_path_factory):
    from tests.support.tokenserver import TokenServer

    ts = TokenServer(str(tmp_path_factory.mktemp("token")), {"bob": "hunter2"})
    r = new_registry(**ts.registry_auth())
    r.start()
    r.token_server = ts  # type: ignore[attr-defined]
    yield r
    r.cleanup()
    ts.stop()


@pytest.fixture
def d(dockyard_daemon):
    return dockyard_daemon


def login(d, host: str, user: str, password: str):
    return docker(d, "login", "-u", user, "--password-stdin", host, input=password)


def test_basic_auth_login_push_pull(d, basic_registry, tmp_path):
    host = basic_registry.host
    repo = f"{host}/dytest-basic-{secrets.token_hex(3)}"
    p = login(d, host, "alice", "wrong")
    assert p.returncode == 1
    assert f"Error response from daemon: login attempt to http://{host}/v2/ failed with status: 401 Unauthorized" \
        in p.stderr
    p = docker(d, "pull", f"{repo}:x", input="")
    assert p.returncode == 1
    assert f'Get "http://{host}/v2/{repo.split("/", 1)[1]}/manifests/x": no basic auth credentials' in p.stderr
    p = login(d, host, "alice", "s3cret")
    assert p.returncode == 0 and "Login Succeeded" in p.stdout, p.stderr
    try:
        src = tmp_path / "l.tar"
        src.write_bytes(layer_tar({"f": os.urandom(10_000)}))
        iid = docker(d, "import", str(src), f"{repo}:1", check=True).stdout.strip()
        p = docker(d, "push", f"{repo}:1")
        assert p.returncode == 0 and "1: digest: sha256:" in p.stdout, p.stderr
        docker(d, "rmi", f"{repo}:1", check=True)
        p = docker(d, "pull", f"{repo}:1")
        assert p.returncode == 0, p.stderr
        assert docker(d, "image", "inspect", "--format", "{{.Id}}", f"{repo}:1", check=True).stdout.strip() == iid
    finally:
        docker(d, "logout", host)
        docker(d, "rmi", "-f", f"{repo}:1")


def test_token_auth_scopes_anonymous_and_login(d, token_registry, tmp_path, busybox_tar):
    host = token_registry.host
    ts = token_registry.token_server
    name = f"dytest-tok-{secrets.token_hex(3)}"
    p = docker(d, "pull", f"{host}/{name}:latest", input="")
    assert p.returncode == 1
    assert (f"pull access denied for {host}/{name}, repository does not exist or may require 'docker login': "
            "denied: requested access to the resource is denied") in p.stderr
    assert {"scope": [f"repository:{name}:pull"], "service": ["dockyard-test-registry"]} in ts.requests
    p = login(d, host, "bob", "nope")
    assert p.returncode == 1
    assert f'Error response from daemon: Get "http://{host}/v2/": unauthorized: incorrect username or password' \
        in p.stderr
    p = login(d, host, "bob", "hunter2")
    assert p.returncode == 0 and "Login Succeeded" in p.stdout, p.stderr
    try:
        docker(d, "import", str(busybox_tar), f"{host}/{name}:v1", check=True)
        ts.requests.clear()
        p = docker(d, "push", f"{host}/{name}:v1")
        assert p.returncode == 0, p.stderr
        assert any(q.get("scope") == [f"repository:{name}:pull,push"] and q.get("account") == ["bob"]
                   for q in ts.requests), ts.requests
        docker(d, "rmi", f"{host}/{name}:v1", check=True)
        p = docker(d, "pull", f"{host}/{name}:v1")
        assert p.returncode == 0, p.stderr
        # anonymous pull of a public repository (pushed by skopeo as bob)
        layout = Layout(str(tmp_path / "pub"))
        desc, built = layout.image([layer_tar({"p": b"public"})], ["gzip"])
        layout.tag(desc, "t")
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", "bob:hunter2", f"oci:{layout.root}:t",
               f"docker://{host}/public/{name}:1")
        docker(d, "logout", host, check=True)
        p = docker(d, "pull", f"{host}/public/{name}:1")
        assert p.returncode == 0, p.stderr
        assert docker(d, "image", "inspect", "--format", "{{.Id}}", f"{host}/public/{name}:1",
                      check=True).stdout.strip() == built.config_digest
    finally:
        docker(d, "logout", host)
        for ref in (f"{host}/{name}:v1", f"{host}/public/{name}:1"):
            docker(d, "rmi", "-f", ref)


def test_docker_py_login_and_pull_with_auth_config(d, basic_registry, tmp_path):
    docker_mod = pytest.importorskip("docker")
    host = basic_registry.host
    client = docker_mod.DockerClient(base_url=d.docker_host, version="auto")
    try:
        with pytest.raises(docker_mod.errors.APIError) as exc:
            client.login("alice", "bad", registry=host, reauth=True)
        assert exc.value.status_code == 401 and "failed with status: 401 Unauthorized" in str(exc.value)
        out = client.login("alice", "s3cret", registry=host, reauth=True)
        assert out["Status"] == "Login Succeeded"
        repo = f"{host}/dytest-py-{secrets.token_hex(3)}"
        src = tmp_path / "l.tar"
        src.write_bytes(layer_tar({"g": os.urandom(1000)}))
        docker(d, "import", str(src), f"{repo}:a", check=True)
        creds = {"username": "alice", "password": "s3cret"}
        lines = list(client.api.push(repo, tag="a", stream=True, decode=True, auth_config=creds))
        assert any("aux" in line for line in lines), lines
        client.images.remove(f"{repo}:a")
        img = client.images.pull(repo, tag="a", auth_config=creds)
        assert img.tags == [f"{repo}:a"]
        client.images.remove(f"{repo}:a")
    finally:
        client.close()


def test_an_identity_token_is_exchanged_for_an_access_token(d, token_registry, busybox_tar):
    docker_mod = pytest.importorskip("docker")
    host = token_registry.host
    name = f"{host}/dytest-idt-{secrets.token_hex(3)}"
    assert login(d, host, "bob", "hunter2").returncode == 0
    try:
        docker(d, "import", str(busybox_tar), f"{name}:1", check=True)
        docker(d, "push", f"{name}:1", check=True)
        docker(d, "rmi", f"{name}:1", check=True)
    finally:
        docker(d, "logout", host)
    ts = token_registry.token_server
    ts.requests.clear()
    client = docker_mod.DockerClient(base_url=d.docker_host, version="auto")
    try:
        img = client.images.pull(name, tag="1", auth_config={"identitytoken": "refresh-bob"})
        assert img.tags == [f"{name}:1"]
        assert any(q.get("grant_type") == ["refresh_token"] for q in ts.requests)
        client.images.remove(f"{name}:1")
        with pytest.raises(docker_mod.errors.APIError, match="invalid refresh token"):
            client.images.pull(name, tag="1", auth_config={"identitytoken": "refresh-mallory"})
    finally:
        client.close()
