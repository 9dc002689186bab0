"""Create options: refused with a 400 naming them until they work (issue 19), or applied.

Every row of ``daemon/containers/refused.py`` is sent to a real daemon; the
cheap options that work now (per-container cgroup parent, blkio throttles,
masked/readonly paths from the request, ps filters, /info) are checked from
inside the container or from the host.
"""

from __future__ import annotations

import json
import os
import urllib.parse

import pytest

from dockyard.daemon.containers.refused import REFUSED
from dockyard.daemon.system import backing_filesystem
from tests.support.daemon import docker


def _ids(d) -> set[str]:
    return {c["Id"] for c in d.request("GET", "/containers/json?all=1")[1]}


def _body(image: str, extra: dict) -> dict:
    body = {"Image": image, "Cmd": ["true"]}
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(body.get(key), dict):
            body[key] = {**body[key], **value}
        else:
            body[key] = value
    return body


@pytest.mark.parametrize("row", REFUSED, ids=[r.option for r in REFUSED])
def test_refused_option_is_a_400_naming_it(dockyard_daemon, busybox_image, row):
    before = _ids(dockyard_daemon)
    status, answer = dockyard_daemon.request("POST", "/containers/create", _body(busybox_image, row.example))
    assert status == 400, answer
    assert answer["message"].startswith(f"{row.option} ({row.flag}) is not supported by dockyard yet")
    assert _ids(dockyard_daemon) == before


def test_cli_publish_and_network_none_host_default_work(dockyard_daemon, busybox_image):
    p = docker(dockyard_daemon, "run", "--rm", "-p", "80", busybox_image, "true")
    assert p.returncode == 0, p.stderr
    for mode in ("none", "host", "default"):
        p = docker(dockyard_daemon, "run", "--rm", "--network", mode, busybox_image, "true")
        assert p.returncode == 0, (mode, p.stderr)


def _run(d, image: str, host_config: dict, cmd: list[str]) -> tuple[str, str]:
    status, c = d.request("POST", "/containers/create", {"Image": image, "Cmd": cmd, "HostConfig": host_config})
    assert status == 201, c
    cid = c["Id"]
    try:
        assert d.request("POST", f"/containers/{cid}/start")[0] == 204
        d.request("POST", f"/containers/{cid}/wait")
        out = docker(d, "logs", cid, check=True)
        return cid, out.stdout + out.stderr
    finally:
        d.request("DELETE", f"/containers/{cid}?force=1")


def test_cgroup_parent_per_container(dockyard_daemon, busybox_image):
    parent = f"/{dockyard_daemon.prefix}-own"
    try:
        cid, out = _run(dockyard_daemon, busybox_image, {"CgroupParent": parent}, ["cat", "/proc/self/cgroup"])
        # cgroup v1 shows the host paths (no cgroup namespace); v2 shows "/" inside a cgroupns
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            assert os.path.isdir(f"/sys/fs/cgroup{parent}")
        else:
            assert f"{parent}/{cid}" in out
    finally:
        for base in ("", *os.listdir("/sys/fs/cgroup")):
            path = os.path.join("/sys/fs/cgroup", base) + parent
            if os.path.isdir(path):
                os.rmdir(path)


def _root_block_device() -> str | None:
    """A block device node of this host (the one holding /), or None."""
    dev = os.stat("/").st_dev
    for name in os.listdir("/dev"):
        path = os.path.join("/dev", name)
        try:
            st = os.stat(path)
        except OSError:
            continue
        if (st.st_mode & 0o170000) == 0o060000 and st.st_rdev == dev:
            return path
    return None


def test_blkio_throttles_reach_the_cgroup(dockyard_daemon, busybox_image):
    device = _root_block_device()
    if device is None:
        pytest.skip("no block device node for / on this host")
    v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    if not v2 and not os.path.exists("/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device"):
        pytest.skip("the blkio controller has no throttle files on this kernel")
    st = os.stat(device)
    majmin = f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
    hc = {"BlkioDeviceReadBps": [{"Path": device, "Rate": 1048576}],
          "BlkioDeviceWriteIOps": [{"Path": device, "Rate": 77}]}
    files = "/sys/fs/cgroup/io.max" if v2 else \
        "/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device"
    _, out = _run(dockyard_daemon, busybox_image, hc, ["sh", "-c", f"cat {files}"])
    if v2:
        assert f"{majmin} rbps=1048576" in out and "wiops=77" in out
    else:
        assert f"{majmin} 1048576" in out and f"{majmin} 77" in out


def test_blkio_device_must_be_a_block_device(dockyard_daemon, busybox_image):
    status, c = dockyard_daemon.request("POST", "/containers/create", {
        "Image": busybox_image, "Cmd": ["true"], "HostConfig": {"BlkioDeviceReadBps": [{"Path": "/dev/null",
                                                                                         "Rate": 1}]}})
    if status == 201:  # refused at start at the latest
        try:
            status, answer = dockyard_daemon.request("POST", f"/containers/{c['Id']}/start")
            assert status == 400 and "/dev/null: not a block device" in answer["message"]
        finally:
            dockyard_daemon.request("DELETE", f"/containers/{c['Id']}?force=1")
    else:
        assert status == 400 and "/dev/null: not a block device" in c["message"]


def test_masked_and_readonly_paths_from_the_request(dockyard_daemon, busybox_image):
    hc = {"MaskedPaths": ["/etc/passwd"], "ReadonlyPaths": ["/tmp"]}
    cid, out = _run(dockyard_daemon, busybox_image, hc,
                    ["sh", "-c", "wc -c < /etc/passwd; touch /tmp/x 2>&1 || echo ro-tmp; "
                                 "head -c 1 /proc/kcore >/dev/null 2>&1 && echo kcore-readable"])
    assert out.split()[0] == "0" and "ro-tmp" in out
    assert "kcore-readable" not in out  # /proc/kcore is not in the request's list, but it is not readable anyway


def test_ps_filters_health_publish_expose_is_task(dockyard_daemon, busybox_image):
    status, c = dockyard_daemon.request("POST", "/containers/create", {
        "Image": busybox_image, "Cmd": ["true"], "ExposedPorts": {"80/tcp": {}}})
    assert status == 201
    cid = c["Id"]

    def ps(filters: dict) -> tuple[int, object]:
        q = urllib.parse.quote(json.dumps(filters))
        return dockyard_daemon.request("GET", f"/containers/json?all=1&filters={q}")

    try:
        def found(filters: dict) -> bool:
            status, items = ps(filters)
            assert status == 200, items
            return cid in {i["Id"] for i in items}

        assert found({"health": ["none"]}) and not found({"health": ["healthy"]})
        assert found({"is-task": ["false"]}) and not found({"is-task": ["true"]})
        # a container that never ran has no ports in ps, as with dockerd
        assert not found({"publish": ["80"]}) and not found({"expose": ["80/tcp"]})
        for bad, text in (({"health": ["fine"]}, "Unrecognised filter value for health: fine"),
                          ({"is-task": ["maybe"]}, "Invalid filter 'is-task=[maybe]'"),
                          ({"publish": ["http"]}, "invalid port filter: 'http'")):
            status, answer = ps(bad)
            assert status == 400 and answer["message"] == text
    finally:
        dockyard_daemon.request("DELETE", f"/containers/{cid}?force=1")


def test_info_reports_what_is_true(dockyard_daemon):
    import socket

    sock = socket.socket(socket.AF_UNIX)
    sock.connect(dockyard_daemon.socket)
    sock.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    sock.recv(1024)  # the response head: the listener is registered
    try:
        status, info = dockyard_daemon.request("GET", "/info")
        assert status == 200
        assert info["NEventsListener"] >= 1
    finally:
        sock.close()
    fs = dict(info["DriverStatus"])["Backing Filesystem"]
    assert fs == backing_filesystem(dockyard_daemon.data_root) != "<unknown>"
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        assert info["IPv4Forwarding"] == (f.read().strip() == "1")
    assert info["InitBinary"] == "tini-static"  # the init --init runs (Debian's tini-static), not "docker-init"
