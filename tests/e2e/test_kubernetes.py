"""A Kubernetes node on dockyard: cri-dockerd serves CRI over dockyard's socket; crictl drives a pod.

cri-dockerd (Mirantis) turns the kubelet's CRI calls into Docker Engine API
calls, so this is the path by which Kubernetes runs pods on dockyard.  The
tools come from ``../shared/tools/kubernetes`` (built from their public
sources) or from PATH; without them the test fails, since a node that cannot
be checked is not a node.  Pod networking is CNI (Debian's
containernetworking-plugins: bridge + host-local + portmap + loopback) on a
bridge and subnet of the test's own.
"""

from __future__ import annotations

import json
import pathlib
import secrets
import socket
import subprocess
import time
from typing import Any, Iterator

import pytest

from tests.support.crinode import TOOL_DIRS, CriNode, find_tool
from tests.support.daemon import docker, wait_for

PAUSE_CMD = 'CMD ["/bin/sh","-c","trap \\"exit 0\\" TERM INT; while :; do sleep 3600 & wait; done"]'


def tool(name: str) -> str:
    """The tool from shared/tools/kubernetes, else from PATH; a missing tool fails the test."""
    found = find_tool(name)
    if not found:
        pytest.fail(f"{name} not found in {TOOL_DIRS[0]} nor on PATH (see shared/tools/kubernetes/README.md)")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(host: str, port: int, timeout: float = 10) -> bytes:
    """GET / over a plain socket (busybox wget crashes; this is the client)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), 2) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := s.recv(4096):
                    data += chunk
                if data:
                    return data.split(b"\r\n\r\n", 1)[-1]
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing answered on {host}:{port}")
        time.sleep(0.2)


class Node(CriNode):
    """cri-dockerd on a private socket over a dockyard daemon, and crictl against it."""

    def __init__(self, daemon: Any, work: pathlib.Path) -> None:
        super().__init__(daemon.docker_host, work, "dytest-pause:1")
        self.daemon = daemon

    def start(self) -> None:  # type: ignore[override]
        super().start(tool("cri-dockerd"), tool("crictl"))

    def crictl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([tool("crictl"), "--runtime-endpoint", f"unix://{self.sock}", "--timeout", "60s", *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"crictl {' '.join(args)} failed: {p.stderr}\n{self.log()}")
        return p


@pytest.fixture
def node(dockyard_daemon, busybox_image, tmp_path) -> Iterator[Node]:
    docker(dockyard_daemon, "tag", busybox_image, "dytest-busybox:1", check=True)
    tar = tmp_path / "pause.tar"
    cid = docker(dockyard_daemon, "create", busybox_image, "true", check=True).stdout.strip()
    try:
        with open(tar, "wb") as f:
            subprocess.run(["docker", "export", cid], stdout=f, env=dockyard_daemon.env(), check=True)
    finally:
        docker(dockyard_daemon, "rm", "-f", cid)
    docker(dockyard_daemon, "import", "--change", PAUSE_CMD, str(tar), "dytest-pause:1", check=True)
    n = Node(dockyard_daemon, tmp_path)
    n.start()
    try:
        yield n
    finally:
        n.stop()
        docker(dockyard_daemon, "rmi", "-f", "dytest-pause:1", "dytest-busybox:1")


def test_a_pods_whole_life_through_cri_dockerd(node: Node, tmp_path: pathlib.Path) -> None:
    host_port = free_port()
    logs = tmp_path / "logs"
    logs.mkdir()  # the kubelet's job
    pod = {"metadata": {"name": "web", "namespace": "default", "uid": secrets.token_hex(4), "attempt": 1},
           "log_directory": str(logs), "hostname": "webpod",
           "port_mappings": [{"container_port": 80, "host_port": host_port}], "linux": {}}
    ctr = {"metadata": {"name": "httpd"}, "image": {"image": "dytest-busybox:1"},
           "command": ["sh", "-c", "mkdir -p /www; echo served-by-pod > /www/index.html; echo started; "
                                   "exec httpd -f -p 80 -h /www"],
           "log_path": "httpd.log", "linux": {}}
    side = {"metadata": {"name": "side"}, "image": {"image": "dytest-busybox:1"},
            "command": ["sleep", "1000"], "log_path": "side.log", "linux": {}}
    (tmp_path / "pod.json").write_text(json.dumps(pod))
    (tmp_path / "ctr.json").write_text(json.dumps(ctr))
    (tmp_path / "side.json").write_text(json.dumps(side))

    pod_id = node.crictl("runp", str(tmp_path / "pod.json")).stdout.strip()
    cid = node.crictl("create", pod_id, str(tmp_path / "ctr.json"), str(tmp_path / "pod.json")).stdout.strip()
    node.crictl("start", cid)
    sid = node.crictl("create", pod_id, str(tmp_path / "side.json"), str(tmp_path / "pod.json")).stdout.strip()
    node.crictl("start", sid)

    status = json.loads(node.crictl("inspectp", pod_id).stdout)["status"]
    assert status["state"] == "SANDBOX_READY"
    ip = status["network"]["ip"]
    assert ip.startswith(node.subnet.rsplit(".", 2)[0])
    ps = node.crictl("ps", "-o", "json").stdout
    assert {c["metadata"]["name"] for c in json.loads(ps)["containers"]} == {"httpd", "side"}

    # the pod's network: its address, its published port (CNI portmap), shared by both containers
    assert http_get(ip, 80) == b"served-by-pod\n"
    assert http_get("127.0.0.1", host_port) == b"served-by-pod\n"
    out = node.crictl("exec", "-s", sid, "sh", "-c", "hostname; nc 127.0.0.1 80 </dev/null >/dev/null; "
                                                     "echo GET / HTTP/1.0 | nc 127.0.0.1 80").stdout
    assert out.splitlines()[0] == "webpod" and "served-by-pod" in out

    # exec with stdin, and exit codes
    p = subprocess.run([tool("crictl"), "--runtime-endpoint", f"unix://{node.sock}", "exec", "-i", sid, "cat"],
                       input="through-stdin\n", capture_output=True, text=True, timeout=60)
    assert p.stdout == "through-stdin\n", p.stderr
    assert node.crictl("exec", "-s", sid, "sh", "-c", "exit 3", check=False).returncode != 0

    # logs in the CRI format at the path the kubelet asked for, and through crictl
    wait_for(lambda: "started" in node.crictl("logs", cid).stdout, timeout=20)
    line = (logs / "httpd.log").read_text().splitlines()[0]
    assert line.split(" ", 3)[1:] == ["stdout", "F", "started"]

    # port-forward from the host (cri-dockerd's streaming server, socat in the pod's netns)
    fwd_port = free_port()
    fwd = subprocess.Popen([tool("crictl"), "--runtime-endpoint", f"unix://{node.sock}", "port-forward", pod_id,
                            f"{fwd_port}:80"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert http_get("127.0.0.1", fwd_port, timeout=20) == b"served-by-pod\n"
    finally:
        fwd.terminate()
        fwd.wait(10)

    stats = json.loads(node.crictl("stats", "-o", "json", cid).stdout)["stats"][0]
    assert int(stats["memory"]["workingSetBytes"]["value"]) > 0

    # stop and remove everything; nothing of the pod stays behind
    node.crictl("stop", cid)
    node.crictl("rm", cid)
    node.crictl("stopp", pod_id)
    node.crictl("rmp", pod_id)
    assert node.crictl("pods", "-q").stdout.strip() == ""
    assert node.crictl("ps", "-a", "-q").stdout.strip() == ""
    left = docker(node.daemon, "ps", "-a", "-q", "--filter", "label=io.kubernetes.pod.uid").stdout.split()
    assert left == []
    reserved = [f for f in (node.ipam / "dytestpod").iterdir()
                if f.name not in ("lock", "last_reserved_ip.0")] if (node.ipam / "dytestpod").exists() else []
    assert reserved == [], "CNI IPAM still holds an address"
    links = subprocess.run(["ip", "-o", "link", "show", "master", node.bridge], capture_output=True, text=True)
    assert links.stdout.strip() == "", "a pod veth is left on the CNI bridge"
    assert all(not p.endswith((cid, sid, pod_id)) for p in node.daemon.leftovers())
