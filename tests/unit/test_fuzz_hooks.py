"""bench/fuzz_hooks.py: no generated request can reach a registry, a subnet or a cgroup outside the fuzz's own."""

from __future__ import annotations

import importlib.util
import io
import ipaddress
import os
import sys
import tarfile

import pytest

_spec = importlib.util.spec_from_file_location(
    "fuzz_hooks", os.path.join(os.path.dirname(__file__), "..", "..", "bench", "fuzz_hooks.py"))
assert _spec is not None and _spec.loader is not None
hooks = importlib.util.module_from_spec(_spec)
sys.modules["fuzz_hooks"] = hooks
_spec.loader.exec_module(hooks)

def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.addfile(tarfile.TarInfo("x"), io.BytesIO(b""))
    return out.getvalue()


TAR = _tar()
LIMITS = hooks.Limits(registry="127.0.0.1:5999", net4="10.231.0.0/16", net6="fd5e:1a2b:3c4d::/48",
                      cgroup_parent="/dytest-abc123")


@pytest.mark.parametrize("ref, want", [
    ("busybox", "busybox"),  # Docker Hub: the mirror, then the closed proxy
    ("library/busybox", "library/busybox"),
    ("quay.io/x/y:1", "127.0.0.1:5999/x/y:1"),
    ("evil.example:443/a", "127.0.0.1:5999/a"),
    ("localhost/a", "127.0.0.1:5999/a"),
    ("UPPER/a", "127.0.0.1:5999/a"),  # an upper-case first part is a host to Docker's parser
    (7, 7),
])
def test_registry_hosts_become_the_loopback_registry(ref, want):
    q = {"fromImage": ref}
    hooks.sanitize("POST", "/images/create", {}, q, None, LIMITS)
    assert q["fromImage"] == want
    params = {"name": ref}
    hooks.sanitize("POST", "/images/{name}/push", params, {}, None, LIMITS)
    assert params["name"] in (want, "127.0.0.1:5999/fuzz/busybox")  # half: the image fuzz_api.py tagged


def test_import_urls_remote_contexts_and_logins_stay_on_loopback():
    q = {"fromSrc": ["http://example.com/x.tar", "-"]}
    hooks.sanitize("POST", "/images/create", {}, q, None, LIMITS)
    assert q["fromSrc"] == ["http://127.0.0.1:5999/fuzz/import.tar", "-"]
    q = {"remote": "git://github.com/x/y", "cgroupparent": "/system.slice"}
    hooks.sanitize("POST", "/build", {}, q, TAR, LIMITS)
    assert q == {"remote": "http://127.0.0.1:5999/fuzz/context.tar", "cgroupparent": "/dytest-abc123"}
    body = hooks.sanitize("POST", "/auth", {}, {}, {"ServerAddress": "https://index.docker.io/v1/"}, LIMITS)
    assert body == {"ServerAddress": "http://127.0.0.1:5999"}
    assert hooks.sanitize("POST", "/auth", {}, {}, {"username": "u"}, LIMITS)["serveraddress"] == "http://127.0.0.1:5999"


def test_network_subnets_move_into_the_fuzz_range_and_bridge_names_go():
    body = {"name": "n", "ipam": {"CONFIG": [{"Subnet": "0.0.0.0/1"}, {"subnet": "::/0"}, {"Subnet": 5}]},
            "Options": {"com.docker.network.bridge.name": "eth0", "com.docker.network.driver.mtu": "1400"}}
    out = hooks.sanitize("POST", "/networks/create", {}, {}, body, LIMITS)
    v4, v6, odd = out["ipam"]["CONFIG"]
    assert ipaddress.ip_network(v4["Subnet"]).subnet_of(ipaddress.ip_network("10.231.0.0/16"))
    assert ipaddress.ip_network(v4["Subnet"]).prefixlen == 24
    assert ipaddress.ip_network(v6["subnet"]).subnet_of(ipaddress.ip_network("fd5e:1a2b:3c4d::/48"))
    assert odd == {"Subnet": 5}  # not a string: the daemon refuses it
    assert out["Options"] == {"com.docker.network.driver.mtu": "1400"}
    assert hooks.sanitize("POST", "/networks/create", {}, {}, ["x"], LIMITS) == ["x"]


def test_container_cgroup_parent_is_the_daemons():
    body = {"Image": "busybox", "hostconfig": {"cgroupParent": "/elsewhere"}}
    assert hooks.sanitize("POST", "/containers/create", {}, {}, body, LIMITS)["hostconfig"] == {
        "cgroupParent": "/dytest-abc123"}


def test_events_end_a_second_from_now():
    q: dict = {}
    hooks.sanitize("GET", "/events", {}, q, None, LIMITS, now=1000.0)
    assert q == {"until": "1001"}
    q = {"until": "99999999999", "since": "5"}
    hooks.sanitize("GET", "/events", {}, q, None, LIMITS, now=1000.0)
    assert q == {"until": "1001", "since": "5"}
    for far in ("", " ", "2099-01-01T00:00:00Z", None):
        q = {"until": far}
        hooks.sanitize("GET", "/events", {}, q, None, LIMITS, now=1000.0)
        assert q == {"until": "1001"}
    for quick in ("soon", "10m", "5.5"):  # the daemon's 400, a duration (in the past), a past time
        q = {"until": quick}
        hooks.sanitize("GET", "/events", {}, q, None, LIMITS, now=1000.0)
        assert q == {"until": quick}


def test_half_the_random_build_bodies_become_tiny_contexts():
    made = 0
    for i in range(40):
        body = hooks.build_context(bytes([i]) * 3)
        if body[257:262] == b"ustar":
            made += 1
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                assert tar.extractfile("Dockerfile").read().decode() in hooks.DOCKERFILES
    assert 5 < made < 35
    assert hooks.build_context(TAR) == TAR


def test_a_build_that_gets_a_context_goes_without_the_refused_parameters():
    made = 0
    for i in range(20):
        q = {"squash": "true", "version": "2", "t": f"x{i}"}
        body = hooks.sanitize("POST", "/build", {}, q, b"\x89PNG the same sample every time", LIMITS)
        made += body[257:262] == b"ustar"
        if body[257:262] == b"ustar":
            assert q == {"t": f"x{i}"}
        else:
            assert q == {"squash": "true", "version": "2", "t": f"x{i}"}
    assert 3 < made < 17  # one file sample, and still about half of the builds get a context


class Binary(str):
    """What schemathesis hands the hook for a binary body: a str subclass carrying ``.data``."""

    def __new__(cls, data: bytes) -> "Binary":
        obj = super().__new__(cls, "")
        obj.data = data
        return obj


def test_schemathesis_binary_bodies_are_unwrapped():
    bodies = [hooks.build_context(Binary(b"\x89PNG sample"), str(i)) for i in range(20)]
    tars = [b for b in bodies if isinstance(b, bytes)]
    assert tars and all(b[257:262] == b"ustar" for b in tars)
    assert all(isinstance(b, Binary) for b in bodies if not isinstance(b, bytes))


def test_pulls_that_name_nothing_often_pull_from_the_loopback_registry():
    picked = set()
    for i in range(40):
        q = {"tag": str(i)}
        hooks.sanitize("POST", "/images/create", {}, q, None, LIMITS)
        picked.add(q.get("fromImage"))
    assert picked == {None, "busybox", "127.0.0.1:5999/library/busybox", "127.0.0.1:5999/fuzz/missing"}
