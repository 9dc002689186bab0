"""A private Debian dockerd (docker.io) for reference runs: the one starter the benchmarks and scripts share.

dockerd is never part of dockyard: benchmarks (``bench/*``) and the
conformance scripts (``scripts/conformance.py``, ``scripts/critest.py``) start
one beside dockyard to see what Docker does.  Each gets everything of its own,
so it never touches a daemon someone else uses: a temporary root (data root,
exec root, socket, pid file, an empty daemon.json), a containerd namespace and
a cgroup parent named by ``tag``, and either no networking or a bridge of its
own that this class creates and deletes (dockerd's default ``docker0`` may
belong to another dockerd).  ``stop`` undoes all of it: the process, every
mount under the root (deepest first), the cgroup parent in every hierarchy, the
bridge and the files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

NO_NETWORK = ["--bridge", "none", "--iptables=false", "--ip6tables=false", "--ip-masq=false"]


def remove_cgroup_tree(parent: str) -> None:
    """rmdir a cgroup parent (and its empty children) in every hierarchy."""
    for base in [os.path.join("/sys/fs/cgroup", d) for d in os.listdir("/sys/fs/cgroup")] + ["/sys/fs/cgroup"]:
        top = base + parent
        if not os.path.isdir(top):
            continue
        for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (children, recursively)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class PrivateDockerd:
    """One dockerd on a socket of its own: ``start()``, ``env()``, ``pids()``, ``stop()``.

    ``tag`` names its root (``/tmp/<tag>-docker-*``) and containerd namespace;
    ``cgroup_parent`` defaults to ``/<tag>-dockerd``.  ``bridge`` (name,
    address/prefix) makes a bridge for it and runs dockerd on it without
    iptables; otherwise ``network_args`` are dockerd's networking flags (no
    networking by default).  ``private_config`` gives the docker CLI a config
    directory of its own under the root (no credentials or contexts of the
    user's).
    """

    def __init__(self, tag: str, *, network_args: list[str] | None = None,
                 bridge: tuple[str, str] | None = None, cgroup_parent: str | None = None,
                 private_config: bool = False, stop_timeout: float = 30) -> None:
        self.tag = tag
        self.bridge = bridge
        if bridge is not None:
            network_args = ["--bridge", bridge[0], "--iptables=false", "--ip6tables=false", "--ip-masq=false"]
        self.network_args = network_args or list(NO_NETWORK)
        self.cgroup_parent = cgroup_parent or f"/{tag}-dockerd"
        self.private_config = private_config
        self.stop_timeout = stop_timeout
        self.root = tempfile.mkdtemp(prefix=f"{tag}-docker-", dir="/tmp")
        self.socket = os.path.join(self.root, "docker.sock")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def docker_host(self) -> str:
        return f"unix://{self.socket}"

    @property
    def log_path(self) -> str:
        return os.path.join(self.root, "dockerd.log")

    def env(self) -> dict[str, str]:
        env = dict(os.environ, DOCKER_HOST=self.docker_host)
        if self.private_config:
            env["DOCKER_CONFIG"] = os.path.join(self.root, "docker-config")
        env.pop("DOCKER_CONTEXT", None)
        return env

    def start(self) -> None:
        if self.bridge is not None:
            name, address = self.bridge
            subprocess.run(["ip", "link", "add", name, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)
            subprocess.run(["ip", "link", "set", name, "up"], check=True)
        cfg = os.path.join(self.root, "daemon.json")
        with open(cfg, "w") as f:
            f.write("{}")
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                ["dockerd", "-H", self.docker_host, "--data-root", os.path.join(self.root, "data"),
                 "--exec-root", os.path.join(self.root, "exec"), "--pidfile", os.path.join(self.root, "d.pid"),
                 *self.network_args, "--containerd-namespace", self.tag, "--cgroup-parent", self.cgroup_parent,
                 "--config-file", cfg],
                stdout=log, stderr=log, start_new_session=True)
        for _ in range(300):
            if subprocess.run(["docker", "version"], env=self.env(), capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"dockerd did not start; see {self.log_path}")

    def pids(self) -> list[int]:
        """dockerd, its containerd and every shim (children, recursively)."""
        assert self.proc is not None
        return descendants(self.proc.pid)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # every mount dockerd left under its root (its exec root's netns/default is a file, not a
        # mount point umount -R of the folder would find), deepest first
        with open("/proc/self/mounts") as f:
            points = [line.split()[1] for line in f if line.split()[1].startswith(self.root + "/")]
        for point in sorted(points, key=len, reverse=True):
            subprocess.run(["umount", point], capture_output=True)
        remove_cgroup_tree(self.cgroup_parent)
        if self.bridge is not None:
            subprocess.run(["ip", "link", "del", self.bridge[0]], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)
