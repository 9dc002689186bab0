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
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import time
from typing import Any, Iterator

import pytest

from tests.support.daemon import docker, wait_for

ROOT = pathlib.Path(__file__).resolve().parents[2]
# shared/ sits beside the checkout (CI, the main work tree) or one level up (a git worktree)
TOOL_DIRS = [pathlib.Path(os.environ["DOCKYARD_K8S_TOOLS"])] if os.environ.get("DOCKYARD_K8S_TOOLS") else [
    ROOT.parent / "shared" / "tools" / "kubernetes", ROOT.parent.parent / "shared" / "tools" / "kubernetes"]
CNI_BIN = "/usr/lib/cni"
PAUSE_CMD = 'CMD ["/bin/sh","-c","trap \\"exit 0\\" TERM INT; while :; do sleep 3600 & wait; done"]'


def tool(name: str) -> str:
    """The tool from shared/tools/kubernetes, else from PATH; a missing tool fails the test."""
    for folder in TOOL_DIRS:
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    found = shutil.which(name)
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


class Node:
    """cri-dockerd on a private socket over a dockyard daemon, and crictl against it."""

    def __init__(self, daemon: Any, work: pathlib.Path) -> None:
        self.daemon, self.work = daemon, work
        self.sock = work / "cri.sock"
        self.bridge = f"dyk{secrets.token_hex(3)}"
        self.subnet = f"10.251.{secrets.randbelow(200) + 20}.0/24"
        self.ipam = work / "ipam"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        conf = self.work / "net.d"
        conf.mkdir()
        (conf / "10-dytest.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "dytestpod", "plugins": [
                {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True, "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                                               "dataDir": str(self.ipam)}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"}]}))
        log = open(self.work / "cri-dockerd.log", "wb")
        self.proc = subprocess.Popen(
            [tool("cri-dockerd"), "--docker-endpoint", self.daemon.docker_host,
             "--container-runtime-endpoint", f"unix://{self.sock}", "--network-plugin=cni",
             "--cni-bin-dir", CNI_BIN, "--cni-conf-dir", str(conf), "--cni-cache-dir", str(self.work / "cnicache"),
             "--cri-dockerd-root-directory", str(self.work / "root"), "--pod-infra-container-image", "dytest-pause:1"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        wait_for(lambda: self.crictl("version", check=False).returncode == 0, timeout=30)

    def crictl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        p = subprocess.run([tool("crictl"), "--runtime-endpoint", f"unix://{self.sock}", "--timeout", "60s", *args],
                           capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError(f"crictl {' '.join(args)} failed: {p.stderr}\n{self.log()}")
        return p

    def log(self) -> str:
        return (self.work / "cri-dockerd.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


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
