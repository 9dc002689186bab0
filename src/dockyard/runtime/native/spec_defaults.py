"""The default OCI spec (``dockyard-runtime spec``) and validation of a bundle's config.

Validation runs in the runtime before anything is created, so bad input ends
with one clear error and nothing left behind.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidParameter
from dockyard.runtime.native import fastjson
from dockyard.runtime.native import syscalls as sc
from dockyard.platforms import check_platform_sections
from dockyard.sysctls import sysctl_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NAMESPACE_FLAGS = {
    "pid": sc.CLONE_NEWPID,
    "network": sc.CLONE_NEWNET,
    "mount": sc.CLONE_NEWNS,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "user": sc.CLONE_NEWUSER,
    "cgroup": sc.CLONE_NEWCGROUP,
    "time": sc.CLONE_NEWTIME,
}
# /proc/<pid>/ns/<name> for each namespace type
NAMESPACE_PROC = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts",
                  "user": "user", "cgroup": "cgroup", "time": "time"}

RLIMITS = {
    "RLIMIT_CPU": 0, "RLIMIT_FSIZE": 1, "RLIMIT_DATA": 2, "RLIMIT_STACK": 3, "RLIMIT_CORE": 4,
    "RLIMIT_RSS": 5, "RLIMIT_NPROC": 6, "RLIMIT_NOFILE": 7, "RLIMIT_MEMLOCK": 8, "RLIMIT_AS": 9,
    "RLIMIT_LOCKS": 10, "RLIMIT_SIGPENDING": 11, "RLIMIT_MSGQUEUE": 12, "RLIMIT_NICE": 13,
    "RLIMIT_RTPRIO": 14, "RLIMIT_RTTIME": 15,
}

# (path, major, minor): the devices every container gets (runc's AllowedDevices)
DEFAULT_DEVICES = [
    ("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
    ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0),
]
DEFAULT_SYMLINKS = [
    ("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"),
]
# device-cgroup rules every container gets after the spec's own (runc's AllowedDevices)
DEFAULT_DEVICE_RULES = [
    {"allow": True, "type": "c", "major": None, "minor": None, "access": "m"},
    {"allow": True, "type": "b", "major": None, "minor": None, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},
    {"allow": True, "type": "c", "major": 136, "minor": None, "access": "rwm"},
]
HOOK_NAMES = ("prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop")


def default_spec(rootless: bool = False) -> dict[str, Any]:
    """A config.json like ``runc spec`` writes: a shell in a busybox-style rootfs."""
    caps = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2-dev",  # what crun 1.8 and runc 1.1 accept
        "process": {
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {k: list(caps) for k in ("bounding", "effective", "permitted", "ambient")},
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": True},
        "hostname": "dockyard",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
        },
    }
    if rootless:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": os.getuid(), "size": 1}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": os.getgid(), "size": 1}]
    return spec


def load_bundle_config(bundle: str) -> dict[str, Any]:
    """Read and validate ``<bundle>/config.json``; every problem is one InvalidParameter."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise InvalidParameter(f"bundle {bundle}: config.json not found") from None
    except OSError as exc:
        raise InvalidParameter(f"bundle {bundle}: cannot read config.json: {exc.strerror}") from None
    try:
        config = fastjson.loads(raw)
    except ValueError as exc:
        raise InvalidParameter(f"malformed config.json in {bundle}: {exc}") from None
    validate(config, bundle)
    return config


def _expect(cond: bool, message: str) -> None:
    if not cond:
        raise InvalidParameter(message)


def validate(config: Any, bundle: str) -> None:
    """Check the parts of config.json the runtime acts on (runtime spec 1.0–1.2)."""
    _expect(isinstance(config, dict), "config.json: the top level must be an object")
    check_platform_sections(config, "linux")
    version = config.get("ociVersion")
    _expect(isinstance(version, str) and version.startswith("1."),
            f"config.json: unsupported ociVersion {version!r} (want 1.x)")
    root = config.get("root")
    _expect(isinstance(root, dict) and isinstance(root.get("path"), str) and root["path"] != "",
            "config.json: root.path is required")
    rootfs = rootfs_path(config, bundle)
    _expect(os.path.isdir(rootfs), f"rootfs {rootfs} does not exist or is not a directory")
    process = config.get("process")
    _expect(isinstance(process, dict), "config.json: process is required")
    validate_process(process)
    linux = config.get("linux") or {}
    _expect(isinstance(linux, dict), "config.json: linux must be an object")
    seen = set()
    for ns in linux.get("namespaces") or []:
        kind = ns.get("type") if isinstance(ns, dict) else None
        _expect(kind in NAMESPACE_FLAGS, f"config.json: unknown namespace type {kind!r}")
        _expect(kind not in seen, f"config.json: namespace {kind!r} listed twice")
        seen.add(kind)
        if ns.get("path"):
            _expect(os.path.exists(ns["path"]), f"namespace {kind} path {ns['path']} does not exist")
    for key in ("uidMappings", "gidMappings"):
        for m in linux.get(key) or []:
            _expect(all(isinstance(m.get(f), int) for f in ("containerID", "hostID", "size")),
                    f"config.json: linux.{key} entries need integer containerID, hostID, size")
    if (linux.get("uidMappings") or linux.get("gidMappings")) and "user" not in seen:
        raise InvalidParameter("config.json: uidMappings/gidMappings need a user namespace")
    for m in config.get("mounts") or []:
        _expect(isinstance(m, dict) and isinstance(m.get("destination"), str),
                "config.json: every mount needs a destination")
        _expect(m["destination"].startswith("/"),
                f"config.json: mount destination {m['destination']!r} must be absolute")
    hooks = config.get("hooks") or {}
    for name, entries in hooks.items():
        _expect(name in HOOK_NAMES, f"config.json: unknown hook type {name!r}")
        for h in entries or []:
            _expect(isinstance(h, dict) and isinstance(h.get("path"), str) and h["path"].startswith("/"),
                    f"config.json: {name} hook needs an absolute path")
    for key in (linux.get("sysctl") or {}):
        problem = sysctl_error(str(key), seen)
        _expect(problem is None, f"config.json: {problem}")


def validate_process(process: dict[str, Any]) -> None:
    args = process.get("args")
    _expect(isinstance(args, list) and len(args) > 0 and all(isinstance(a, str) for a in args),
            "process.args must be a non-empty list of strings")
    cwd = process.get("cwd", "/")
    _expect(isinstance(cwd, str) and cwd.startswith("/"), f"process.cwd {cwd!r} must be an absolute path")
    for r in process.get("rlimits") or []:
        _expect(r.get("type") in RLIMITS, f"unknown rlimit type {r.get('type')!r}")
        _expect(isinstance(r.get("soft"), int) and isinstance(r.get("hard"), int),
                f"rlimit {r.get('type')}: soft and hard must be integers")
        _expect(r["soft"] <= r["hard"], f"rlimit {r['type']}: soft limit {r['soft']} is above hard limit {r['hard']}")
    user = process.get("user") or {}
    for key in ("uid", "gid"):
        _expect(isinstance(user.get(key, 0), int), f"process.user.{key} must be an integer")
    for e in process.get("env") or []:
        _expect(isinstance(e, str) and "=" in e, f"process.env entry {e!r} must look like NAME=value")


def rootfs_path(config: dict[str, Any], bundle: str) -> str:
    path = config["root"]["path"]
    return os.path.normpath(path if path.startswith("/") else os.path.join(bundle, path))


def resources_with_devices(config: dict[str, Any]) -> dict[str, Any] | None:
    """linux.resources with the device rules the container's default /dev needs appended.

    Only when the spec restricts devices: a spec without device rules keeps
    the cgroup's allow-all.
    """
    linux = config.get("linux") or {}
    resources = linux.get("resources")
    if not resources or not resources.get("devices"):
        return resources
    # As runc: the nodes of linux.devices get no rule of their own. The engine says in
    # resources.devices what each may do (``--device /dev/x:/dev/y:r`` is read-only);
    # an allow-rwm here would widen it.
    return dict(resources, devices=list(resources["devices"]) + DEFAULT_DEVICE_RULES)


def namespace_flags(config: dict[str, Any]) -> tuple[int, list[tuple[str, str]]]:
    """(flags to unshare, [(type, path) to join]) from linux.namespaces."""
    flags = 0
    join: list[tuple[str, str]] = []
    for ns in (config.get("linux") or {}).get("namespaces") or []:
        if ns.get("path"):
            join.append((ns["type"], ns["path"]))
        else:
            flags |= NAMESPACE_FLAGS[ns["type"]]
    return flags, join
