"""Failure rows of docker pull: a registry that answers 500, closes mid-blob or hangs (behind a
misbehaving loopback proxy), a client that goes away and a daemon killed mid-pull.

Each must end in a clear error naming the registry, within bounded retries and
timeouts, with no image recorded, no layer left and no half blob kept, and the
next pull must complete.  The daemon here has a 2 s registry timeout.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time

import pytest

from tests.support.daemon import docker, new_daemon
from tests.support.flakyproxy import FlakyProxy
from tests.support.ocimaker import Layout, layer_tar, skopeo

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="needs docker-registry")


@pytest.fixture(scope="module")
def d():
    daemon = new_daemon(daemon_env={"DOCKYARD_REGISTRY_TIMEOUT": "2"})
    daemon.start()
    yield daemon
    daemon.cleanup()


@pytest.fixture
def proxy(registry):
    p = FlakyProxy(registry.host)
    yield p
    p.stop()


@pytest.fixture(scope="module")
def image(registry, tmp_path_factory):
    """A two-layer image of ~2 MB in the registry: (repository path, config digest)."""
    root = tmp_path_factory.mktemp("img")
    layout = Layout(str(root / "oci"))
    desc, built = layout.image([layer_tar({"a": os.urandom(1 << 20)}), layer_tar({"b": os.urandom(1 << 20)})],
                               ["gzip", "gzip"])
    layout.tag(desc, "t")
    path = f"dytest-fail-{secrets.token_hex(3)}"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout.root}:t", f"docker://{registry.host}/{path}:1")
    return path, built.config_digest


def _nothing_left(d, before: list[str]) -> None:
    assert sorted(os.listdir(os.path.join(d.data_root, "overlay2"))) == before
    tmp = os.path.join(d.data_root, "image", "tmp")
    assert not os.path.isdir(tmp) or os.listdir(tmp) == []


def _layers(d) -> list[str]:
    return sorted(os.listdir(os.path.join(d.data_root, "overlay2")))


def test_transient_500s_are_retried(d, proxy, image):
    path, iid = image
    proxy.mode, proxy.budget = "error", 2
    p = docker(d, "pull", f"{proxy.host}/{path}:1")
    assert p.returncode == 0, p.stderr
    assert docker(d, "image", "inspect", "--format", "{{.Id}}", f"{proxy.host}/{path}:1").stdout.strip() == iid
    docker(d, "rmi", f"{proxy.host}/{path}:1", check=True)


@pytest.mark.parametrize("mode, words", [
    ("error", "answered 500 Internal Server Error (after 3 attempts)"),
    ("close", "(after 3 attempts)"),
    ("hang", "did not answer in time (after 3 attempts)"),
])
def test_a_failing_registry_is_named_and_nothing_is_stored(d, proxy, image, mode, words):
    path, _ = image
    before = _layers(d)
    proxy.mode, proxy.budget = mode, -1
    start = time.monotonic()
    p = docker(d, "pull", f"{proxy.host}/{path}:1")
    took = time.monotonic() - start
    assert p.returncode == 1
    assert f"registry {proxy.host}" in p.stderr and words in p.stderr, p.stderr
    assert took < 40
    assert docker(d, "image", "inspect", f"{proxy.host}/{path}:1").returncode == 1
    _nothing_left(d, before)
    proxy.mode = "ok"
    p = docker(d, "pull", f"{proxy.host}/{path}:1")
    assert p.returncode == 0, p.stderr
    docker(d, "rmi", f"{proxy.host}/{path}:1", check=True)


def _start_slow_pull(d, proxy, ref: str) -> subprocess.Popen[str]:
    proxy.mode, proxy.delay = "slow", 0.05
    cli = subprocess.Popen(["docker", "pull", ref], env=d.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proxy.blob_requests < 2:
        time.sleep(0.05)
    time.sleep(0.5)  # well inside the downloads (each ~3 s at this pace)
    return cli


def test_a_client_that_goes_away_cancels_the_pull(d, proxy, image):
    path, iid = image
    before = _layers(d)
    cli = _start_slow_pull(d, proxy, f"{proxy.host}/{path}:1")
    cli.kill()
    cli.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        tmp = os.path.join(d.data_root, "image", "tmp")
        if (not os.path.isdir(tmp) or not os.listdir(tmp)) and _layers(d) == before:
            break
        time.sleep(0.1)
    assert docker(d, "image", "inspect", f"{proxy.host}/{path}:1").returncode == 1
    _nothing_left(d, before)
    proxy.mode = "ok"
    assert docker(d, "pull", f"{proxy.host}/{path}:1").returncode == 0
    docker(d, "rmi", f"{proxy.host}/{path}:1", check=True)


def test_a_daemon_killed_mid_pull_leaves_nothing_and_the_next_pull_completes(d, proxy, image):
    path, iid = image
    before = _layers(d)
    cli = _start_slow_pull(d, proxy, f"{proxy.host}/{path}:1")
    d.crash()
    cli.wait(10)
    d.start()
    assert docker(d, "image", "inspect", f"{proxy.host}/{path}:1").returncode == 1
    _nothing_left(d, before)
    proxy.mode = "ok"
    p = docker(d, "pull", f"{proxy.host}/{path}:1")
    assert p.returncode == 0, p.stderr
    assert docker(d, "image", "inspect", "--format", "{{.Id}}", f"{proxy.host}/{path}:1").stdout.strip() == iid
    docker(d, "rmi", f"{proxy.host}/{path}:1", check=True)
