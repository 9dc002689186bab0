"""cri-dockerd on a private CRI socket over one engine, with a CNI bridge, subnet and IPAM dir of its own.

Shared by tests/e2e/test_kubernetes.py and scripts/critest.py: the CNI
plugins are Debian's containernetworking-plugins (bridge + host-local +
portmap + loopback); the bridge is named ``<prefix><random>`` so that two
nodes on one machine never share one, and ``stop()`` deletes it.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets
import shutil
import subprocess
import time

CNI_BIN = "/usr/lib/cni"
ROOT = pathlib.Path(__file__).resolve().parents[2]
# shared/ sits beside the checkout (CI, the main work tree) or one level up (a git worktree)
TOOL_DIRS = [pathlib.Path(os.environ["DOCKYARD_K8S_TOOLS"])] if os.environ.get("DOCKYARD_K8S_TOOLS") else [
    ROOT.parent / "shared" / "tools" / "kubernetes", ROOT.parent.parent / "shared" / "tools" / "kubernetes"]


def find_tool(name: str) -> str | None:
    """The tool from shared/tools/kubernetes, else from PATH, else None."""
    for folder in TOOL_DIRS:
        path = folder / name
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    return shutil.which(name)


class CriNode:
    """cri-dockerd serving CRI at ``endpoint`` for the Engine API at ``engine_host``."""

    def __init__(self, engine_host: str, work: pathlib.Path, pause: str, net: str = "dytestpod",
                 prefix: str = "dyk", subnet_base: str = "10.251") -> None:
        self.engine_host, self.work, self.pause, self.net = engine_host, work, pause, net
        self.sock = work / "cri.sock"
        self.bridge = f"{prefix}{secrets.token_hex(3)}"
        self.subnet = f"{subnet_base}.{secrets.randbelow(200) + 20}.0/24"
        self.ipam = work / "ipam"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"unix://{self.sock}"

    def start(self, cri_dockerd: str, crictl: str, timeout: float = 30) -> None:
        conf = self.work / "net.d"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / f"10-{self.net}.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": self.net, "plugins": [
                {"type": "bridge", "bridge": self.bridge, "isGateway": True, "ipMasq": False,
                 "hairpinMode": True, "ipam": {"type": "host-local", "ranges": [[{"subnet": self.subnet}]],
                                               "dataDir": str(self.ipam)}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
                {"type": "loopback"}]}))
        with open(self.work / "cri-dockerd.log", "wb") as log:
            self.proc = subprocess.Popen(
                [cri_dockerd, "--docker-endpoint", self.engine_host, "--container-runtime-endpoint", self.endpoint,
                 "--network-plugin=cni", "--cni-bin-dir", CNI_BIN, "--cni-conf-dir", str(conf),
                 "--cni-cache-dir", str(self.work / "cnicache"), "--cri-dockerd-root-directory",
                 str(self.work / "root"), "--pod-infra-container-image", self.pause,
                 "--streaming-bind-addr", "127.0.0.1:0"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while subprocess.run([crictl, "--runtime-endpoint", self.endpoint, "version"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"cri-dockerd did not start: {self.log()}")
            time.sleep(0.2)

    def log(self) -> str:
        path = self.work / "cri-dockerd.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)
