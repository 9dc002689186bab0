"""A real dockyardd on a temporary socket, data root and cgroup parent, for tests."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

BIN_DIR = os.path.dirname(sys.executable)


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 30) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


@dataclass
class Daemon:
    """One dockyardd process; ``docker_host`` goes into DOCKER_HOST."""

    root: str
    prefix: str
    extra_args: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    daemon_env: dict[str, str] = field(default_factory=dict)  # added to the daemon's environment

    @property
    def socket(self) -> str:
        return os.path.join(self.root, "d.sock")

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def data_root(self) -> str:
        return os.path.join(self.root, "data")

    @property
    def exec_root(self) -> str:
        return os.path.join(self.root, "exec")

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "daemon.log")

    @property
    def cgroup_parent(self) -> str:
        return f"/{self.prefix}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.docker_host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = os.path.join(self.root, "docker-config")
        return env

    def start(self, timeout: float = 15) -> None:
        cfg_path = os.path.join(self.root, "daemon.json")
        with open(cfg_path, "w") as f:
            # many test daemons run at once, each with a default bridge: small subnets from a
            # large pool, so they never run out of Docker's 31 default ones (a config may override)
            json.dump({"default-address-pools": [{"base": "10.192.0.0/12", "size": 24}], **self.config}, f)
        argv = [os.path.join(BIN_DIR, "dockyardd"), "-H", self.docker_host, "--data-root", self.data_root,
                "--exec-root", self.exec_root, "--pidfile", os.path.join(self.root, "d.pid"),
                "--config-file", cfg_path, "--cgroup-parent", self.cgroup_parent,
                "--name-prefix", self.prefix, "--log-level", "debug", *self.extra_args]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     start_new_session=True, env={**offline_env(), **self.daemon_env})
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dockyardd exited {self.proc.returncode}:\n{self.log()}")
            try:
                if self.request("GET", "/_ping")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"dockyardd did not answer within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as f:
                return f.read()[-8000:]
        except OSError:
            return ""

    def request(self, method: str, path: str, body: Any = None, timeout: float = 60) -> tuple[int, Any]:
        conn = UnixHTTPConnection(self.socket, timeout=timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            try:
                return resp.status, json.loads(raw) if raw else None
            except ValueError:
                return resp.status, raw
        finally:
            conn.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def crash(self) -> None:
        """kill -9 the daemon (its containers and monitors keep running)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def remove_all_containers(self) -> None:
        status, items = self.request("GET", "/containers/json?all=1")
        if status != 200:
            return
        for c in items:
            self.request("DELETE", f"/containers/{c['Id']}?force=1&v=1")

    def leftovers(self) -> list[str]:
        """Kernel objects of this daemon still present: mounts and cgroups."""
        found = []
        with open("/proc/self/mountinfo") as f:
            found += [line.split()[4] for line in f if self.root in line.split()[4]]
        for base in cgroup_mounts():  # every hierarchy: a leak in any controller counts
            path = base + self.cgroup_parent
            if os.path.isdir(path):
                subdirs = [d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))]
                found += [os.path.join(path, d) for d in subdirs]
        return found

    def cleanup(self) -> None:
        """Stop everything this daemon made and remove its files."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.remove_all_containers()
        finally:
            self.stop()
            for base in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                         "hugetlb", "systemd", "unified", ""):
                path = os.path.join("/sys/fs/cgroup", base) + self.cgroup_parent
                if os.path.isdir(path):
                    for d in sorted((os.path.join(dp) for dp, _, _ in os.walk(path)), reverse=True):
                        try:
                            os.rmdir(d)
                        except OSError:
                            pass
            with open("/proc/self/mountinfo") as f:
                mounts = [line.split()[4] for line in f if self.root in line.split()[4]]
            for m in reversed(mounts):
                subprocess.run(["umount", "-l", m], check=False, capture_output=True)
            self._remove_network_leftovers()
            shutil.rmtree(self.root, ignore_errors=True)

    def _remove_network_leftovers(self) -> None:
        """After a crash test: this daemon's bridges, veths and nftables table (its prefix's only)."""
        from dockyard.network.linux import link_stem

        stem = link_stem(self.prefix)
        for name in os.listdir("/sys/class/net"):
            if name.startswith((stem + "b", stem + "v")):
                subprocess.run(["ip", "link", "del", name], check=False, capture_output=True)
        subprocess.run(["nft", "delete", "table", "ip", self.prefix], check=False, capture_output=True)
        pid_file = os.path.join(self.exec_root, f"{self.prefix}-net", "aardvark", "aardvark.pid")
        try:
            with open(pid_file) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if self.exec_root.encode() in f.read():  # still this daemon's aardvark-dns
                    os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            pass


@contextlib.contextmanager
def busybox_daemon(busybox_tar: Any, **kwargs: Any) -> Iterator[Daemon]:
    """A daemon of the caller's own with ``busybox:latest`` imported; cleaned up at the end."""
    d = new_daemon(**kwargs)
    d.start()
    try:
        docker(d, "import", str(busybox_tar), "busybox:latest", check=True)
        yield d
    finally:
        d.cleanup()


def offline_env() -> dict[str, str]:
    """The daemon's environment: registries other than loopback ones go through a proxy that is
    not there (a closed port), so no test can pull from Docker Hub, as dockerd honours the same
    variables."""
    env = dict(os.environ)
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[key] = "http://127.0.0.1:9"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    return env


def cgroup_mounts(mountinfo: str | None = None) -> list[str]:
    """Where every cgroup hierarchy (v1 controllers, the v2 unified tree) is mounted."""
    if mountinfo is None:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mountinfo = f.read()
    out = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        if right.split(" ", 1)[0] in ("cgroup", "cgroup2"):
            out.append(left.split()[4])
    return out


def new_daemon(**kwargs: Any) -> Daemon:
    tag = secrets.token_hex(3)
    root = tempfile.mkdtemp(prefix=f"dy{tag}-", dir="/tmp")
    return Daemon(root=root, prefix=f"dytest-{tag}", **kwargs)


def docker(daemon: Daemon, *args: str, input: bytes | str | None = None, timeout: float = 120,
           check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run the real docker CLI against ``daemon``."""
    if isinstance(input, bytes):
        input = input.decode()
    proc = subprocess.run(["docker", *args], env=daemon.env(), input=input, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def wait_for(pred: Any, timeout: float = 20.0, step: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something true (returned), failing after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")
