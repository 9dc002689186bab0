"""System-wide answers: ``docker version`` and ``docker info``."""

from __future__ import annotations

import os
import platform
import time
from collections.abc import Callable
from typing import Any

from dockyard import __version__
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.hosts import tcp_warnings
from dockyard.image.distribution.endpoints import registry_config

API_VERSION = "1.50"
MIN_API_VERSION = "1.24"
DOCKER_VERSION = "28.2.2"


def _os_release() -> tuple[str, str]:
    name, version = "Linux", ""
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        name = fields.get("PRETTY_NAME", name).strip('"')
        version = fields.get("VERSION_ID", "").strip('"')
    except OSError:
        pass
    return name, version


def cgroup_version() -> str:
    return "2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "1"


def swap_accounting() -> bool:
    """Whether memory+swap limits can be set (memsw on v1, always on v2)."""
    return cgroup_version() == "2" or os.path.exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes")


def recursive_readonly_supported() -> bool:
    """Does the kernel have mount_setattr(2) (Linux >= 5.12), which the OCI ``rro`` option needs?

    Probed with arguments the kernel refuses (EBADF/EINVAL) unless the call is missing (ENOSYS).
    """
    import ctypes
    import errno

    nr = 442  # mount_setattr: one number on every architecture (a syscall added after 5.1)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(nr, ctypes.c_int(-1), None, ctypes.c_uint(0), None, ctypes.c_size_t(0)) == 0:
        return True
    return ctypes.get_errno() != errno.ENOSYS


# statfs f_type → the names moby's fsutils prints for "Backing Filesystem"
FS_MAGIC = {0xEF53: "extfs", 0x58465342: "xfs", 0x9123683E: "btrfs", 0x01021994: "tmpfs",
            0x794C7630: "overlayfs", 0x2FC12FC1: "zfs", 0x6969: "nfs", 0x65735546: "fuse",
            0x73717368: "squashfs", 0xF15F: "ecryptfs", 0x3153464A: "jfs", 0x52654973: "reiserfs",
            0x858458F6: "ramfs", 0x5346414F: "afs", 0x00C36400: "ceph", 0x47504653: "gpfs",
            0xF2F52010: "f2fs", 0x4244: "hfs", 0x6165676C: "pstorefs"}


def backing_filesystem(path: str) -> str:
    """The file system under ``path`` by statfs(2)'s f_type, as dockerd names it ("<unknown>" else)."""
    import ctypes

    buf = ctypes.create_string_buffer(256)  # struct statfs; f_type is its first word
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.statfs(os.fsencode(path), buf) != 0:
        return "<unknown>"
    magic = ctypes.c_ulong.from_buffer(buf).value & 0xFFFFFFFF
    return FS_MAGIC.get(magic, "<unknown>")


def ipv4_forwarding(proc: str = "/proc") -> bool:
    """Whether the kernel forwards IPv4 (net.ipv4.ip_forward)."""
    try:
        with open(os.path.join(proc, "sys/net/ipv4/ip_forward"), encoding="ascii") as f:
            return f.read().strip() == "1"
    except OSError:
        return False


def mem_total() -> int:
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def machine_id(data_root: str) -> str:
    """A stable daemon ID, kept in the data root."""
    path = os.path.join(data_root, "engine-id")
    try:
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except FileNotFoundError:
        import uuid

        ident = str(uuid.uuid4())
        with open(path + ".tmp", "w", encoding="ascii") as f:
            f.write(ident)
        os.replace(path + ".tmp", path)
        return ident


def build_time() -> str:
    """When this dockyard was installed (its package's mtime), as Go's time.RFC3339Nano prints it."""
    import dockyard

    ts = os.stat(dockyard.__file__).st_mtime
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int(ts % 1 * 1e9):09d}+00:00"


class SystemService:
    volumes: Any = None  # the volume service, set by build_backends

    def __init__(self, cfg: DaemonConfig, containers: Any, images: Any) -> None:
        self.cfg = cfg
        self.containers = containers
        self.images = images
        self.started = time.time()

    def version(self) -> dict[str, Any]:
        uname = os.uname()
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(uname.machine, uname.machine)
        return {
            "Platform": {"Name": f"dockyard {__version__}"},
            "Components": [{"Name": "Engine", "Version": DOCKER_VERSION, "Details": {
                "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION, "Os": "linux", "Arch": arch,
                "KernelVersion": uname.release, "GitCommit": "dockyard", "GoVersion": f"python{platform.python_version()}",
                "Experimental": "false", "BuildTime": build_time()}}],
            "Version": DOCKER_VERSION, "ApiVersion": API_VERSION, "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "dockyard", "GoVersion": f"python{platform.python_version()}", "Os": "linux",
            "Arch": arch, "KernelVersion": uname.release, "BuildTime": build_time(),
        }

    def disk_usage(self, types: list[str] | None = None) -> dict[str, Any]:
        """``GET /system/df``: images, containers (with sizes), volumes and build cache.

        ``types`` (API 1.42+) limits the answer to some of image, container,
        volume, build-cache, as dockerd does; the others are left out.
        """
        wanted = set(types or ["image", "container", "volume", "build-cache"])
        out: dict[str, Any] = {}
        containers = self.containers.list_containers(all_=True, size=True) if (
            "container" in wanted or "image" in wanted) else []
        if "image" in wanted:
            images = self.images.list_images(all=True)
            used: dict[str, int] = {}
            for c in containers:
                used[c["ImageID"]] = used.get(c["ImageID"], 0) + 1
            layers_size, shared = layer_sharing(self.images.store.all(), self.images.layers.get)
            for img in images:
                img["Containers"] = used.get(img["Id"], 0)
                img["SharedSize"] = shared.get(img["Id"], 0)
            out["LayersSize"] = layers_size
            out["Images"] = images
        if "container" in wanted:
            out["Containers"] = containers
        if "volume" in wanted:
            out["Volumes"] = self.volumes.disk_usage() if self.volumes is not None else []
        if "build-cache" in wanted:
            out["BuildCache"] = []
            out["BuilderSize"] = 0
        return out

    def _warnings(self) -> list[str] | None:
        """What dockerd warns about in ``docker info``: host limits, an unverified TCP API (null when none)."""
        warnings = []
        if not swap_accounting():
            warnings.append("WARNING: No swap limit support")
        warnings += tcp_warnings(self.cfg.listen_hosts, self.cfg.tls)
        return warnings or None

    def inventory(self) -> dict[str, Any]:
        """The head of ``docker info`` every host shares: engine id, counts, runtimes."""
        running, paused, stopped = self.containers.counts()
        return {
            "ID": machine_id(self.cfg.data_root),
            "Containers": running + paused + stopped, "ContainersRunning": running,
            "ContainersPaused": paused, "ContainersStopped": stopped,
            "Images": self.images.count(),
            "Runtimes": {name: {"path": rt.path, **({"runtimeArgs": rt.args} if rt.args else {})}
                         for name, rt in self.cfg.runtimes.items()},
        }

    def info(self) -> dict[str, Any]:
        uname = os.uname()
        os_name, os_version = _os_release()
        cgv = cgroup_version()
        arch = uname.machine
        return {
            **self.inventory(),
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", backing_filesystem(self.cfg.data_root)], ["Supports d_type", "true"],
                             ["Using metacopy", "false"], ["Native Overlay Diff", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["host", "null"],
                        "Authorization": None, "Log": ["json-file", "local"]},
            "MemoryLimit": True, "SwapLimit": swap_accounting(), "CpuCfsPeriod": True, "CpuCfsQuota": True, "CPUShares": True, "CPUSet": True,
            "PidsLimit": True, "IPv4Forwarding": ipv4_forwarding(),
            "Debug": self.cfg.log_level == "debug", "NFd": len(os.listdir("/proc/self/fd")),
            "OomKillDisable": cgv == "1", "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgv,
            "NEventsListener": self.containers.events.listeners(), "KernelVersion": uname.release, "OperatingSystem": os_name,
            "OSVersion": os_version, "OSType": "linux", "Architecture": arch,
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registry_config(self.cfg.insecure_registries, self.cfg.registry_mirrors),
            "NCPU": os.cpu_count() or 1, "MemTotal": mem_total(), "GenericResources": None,
            "DockerRootDir": self.cfg.data_root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": uname.nodename, "Labels": [], "ExperimentalBuild": False, "ServerVersion": DOCKER_VERSION,
            "DefaultRuntime": self.cfg.default_runtime,
            "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                      "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "Isolation": "", "InitBinary": os.path.basename(self.cfg.init_path or ""),
            "ContainerdCommit": {"ID": ""}, "RuncCommit": {"ID": ""}, "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"] + (["name=cgroupns"] if cgv == "2" else []),
            "CDISpecDirs": [], "Warnings": self._warnings(),
        }


def layer_sharing(images: list[Any], layer: Callable[[str], Any]) -> tuple[int, dict[str, int]]:
    """What dockerd's disk usage counts: each layer once (LayersSize), and per image the size of
    its layers that another image uses too (SharedSize) -- an image committed from another one
    shares its base, and adding both sizes would count the base twice."""
    refs: dict[str, int] = {}
    for img in images:
        for chain_id in dict.fromkeys(img.chain):
            refs[chain_id] = refs.get(chain_id, 0) + 1
    sizes = {chain_id: layer(chain_id).size for chain_id in refs}
    shared = {img.id: sum(sizes[c] for c in dict.fromkeys(img.chain) if refs[c] > 1) for img in images}
    return sum(sizes.values()), shared
