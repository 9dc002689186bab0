"""Build the OCI runtime ``config.json`` from Docker's container ``Config`` and ``HostConfig``.

``build_spec(SpecInput) -> dict`` is pure: the only host facts it needs (bind
source existence, device nodes, CPU count, swap accounting) come in through
:class:`SpecInput`, with defaults that ask the real host.  The shapes are the
Engine API's (``POST /containers/create`` body) and the image config's
(``config`` of an OCI/Docker image config), so a reader who knows Docker knows
which field does what.  Every refusal raises
:class:`dockyard.errors.InvalidParameter` with Docker's own text.
"""

from __future__ import annotations

import os
import stat as stat_mod
from dataclasses import dataclass, field
from typing import Any, Callable

from dockyard.errors import InvalidParameter
from dockyard.spec import mounts as mnt
from dockyard.spec.devices import host_devices
from dockyard.spec.resources import build_resources
from dockyard.spec.users import ResolvedUser, resolve_user

__all__ = ["SpecInput", "ResolvedUser", "build_spec", "resolve_user", "process_args",
           "capabilities", "stop_signal", "DEFAULT_CAPABILITIES", "DEFAULT_PATH", "INIT_PATH"]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
INIT_PATH = "/sbin/docker-init"
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
]
MASKED_PATHS = [
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
ULIMIT_NAMES = ("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
                "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack")


def _all_capabilities() -> list[str]:
    from dockyard.capabilities import ALL_CAPABILITIES
    return list(ALL_CAPABILITIES)


def _held_capabilities() -> list[str]:
    from dockyard.capabilities import held_names
    return held_names()


def _makedirs(path: str) -> None:
    os.makedirs(path, mode=0o755, exist_ok=True)


@dataclass
class SpecInput:
    """Everything ``build_spec`` needs; the daemon resolves the user and the /etc files first."""

    container_id: str
    config: dict[str, Any]
    host_config: dict[str, Any]
    image_config: dict[str, Any]
    rootfs: str
    user: ResolvedUser = field(default_factory=ResolvedUser)
    hostname: str = ""
    etc_files: dict[str, str] = field(default_factory=dict)  # ctr path -> host file
    init_path: str | None = None  # the host's tini, used when HostConfig.Init is true
    cgroups_path: str = ""
    default_ulimits: list[dict[str, Any]] = field(default_factory=list)  # daemon default-ulimits
    # the OCI linux.seccomp dict, or a function of the final capability list
    seccomp_profile: dict[str, Any] | Callable[[list[str]], dict[str, Any]] | None = None
    capabilities: list[str] | None = None  # the daemon's default set; None = Docker's 14
    annotations: dict[str, str] = field(default_factory=dict)
    namespace_paths: dict[str, str] = field(default_factory=dict)  # for container:<id> modes
    ncpu: int = field(default_factory=lambda: os.cpu_count() or 1)
    cgroup_v2: bool = False
    swap_limit: bool = True
    all_capabilities: list[str] = field(default_factory=_all_capabilities)
    held_capabilities: list[str] = field(default_factory=_held_capabilities)
    host_devices: Callable[[], list[dict[str, Any]]] = host_devices  # walked only for --privileged
    uid_maps: list[dict[str, int]] = field(default_factory=list)  # userns-remap: a user namespace with these
    gid_maps: list[dict[str, int]] = field(default_factory=list)
    path_exists: Callable[[str], bool] = os.path.exists
    makedirs: Callable[[str], None] = _makedirs
    stat_device: Callable[[str], os.stat_result] = os.stat
    readonly_mode: mnt.ReadOnlyMode = field(default_factory=mnt.ReadOnlyMode)  # ro vs rro binds
    # the container's mount points with their host sources (None: parse Binds and Mounts)
    mount_points: list[dict[str, Any]] | None = None
    default_sysctls: dict[str, str] = field(default_factory=dict)  # spec.network_sysctls


def process_args(config: dict[str, Any], image_config: dict[str, Any]) -> list[str]:
    """Entrypoint + Cmd exactly as Docker merges them.

    A user Entrypoint replaces the image's and drops the image's Cmd; ``--entrypoint ""``
    (``[""]``) clears the image's entrypoint but keeps its Cmd; an empty user Cmd falls
    back to the image's.
    """
    entry = config.get("Entrypoint")
    cmd = config.get("Cmd")
    if isinstance(entry, str):
        entry = [entry]
    if isinstance(cmd, str):
        cmd = [cmd]
    if entry == [""]:
        entry = []
    if not entry:  # moby's merge(): only without a user entrypoint does the image Cmd apply
        if not cmd:
            cmd = list(image_config.get("Cmd") or [])
        if entry is None:
            entry = list(image_config.get("Entrypoint") or [])
    args = list(entry) + list(cmd or [])
    if not args:
        raise InvalidParameter("No command specified")
    return args


def stop_signal(config: dict[str, Any], image_config: dict[str, Any]) -> str:
    """``--stop-signal``, else the image's STOPSIGNAL, else SIGTERM (the daemon sends it)."""
    sig = config.get("StopSignal") or image_config.get("StopSignal") or "SIGTERM"
    if sig.isdigit():
        return sig
    sig = sig.upper()
    return sig if sig.startswith("SIG") else "SIG" + sig


def _normalize_cap(name: str) -> str:
    n = name.strip().upper()
    if n == "ALL":
        return n
    return n if n.startswith("CAP_") else "CAP_" + n


def capabilities(base: list[str], cap_add: list[str] | None, cap_drop: list[str] | None,
                 known: list[str]) -> list[str]:
    """Docker's TweakCapabilities: ALL in drop empties the base, ALL in add takes every cap."""
    adds = [_normalize_cap(c) for c in cap_add or []]
    drops = [_normalize_cap(c) for c in cap_drop or []]
    for c in adds + drops:
        if c != "ALL" and c not in known:
            raise InvalidParameter(f'unknown capability: "{c}"')
    if "ALL" in adds:
        caps = list(known)
    elif "ALL" in drops:
        caps = []
    else:
        caps = list(base)
    for c in adds:
        if c != "ALL" and c not in caps:
            caps.append(c)
    return [c for c in caps if c not in drops]


def build_env(config: dict[str, Any], image_config: dict[str, Any], hostname: str, tty: bool,
              home: str) -> list[str]:
    """PATH, HOSTNAME, TERM; then image env overlaid by container env; HOME from passwd."""
    env: list[str] = [f"PATH={DEFAULT_PATH}"]
    if hostname:
        env.append(f"HOSTNAME={hostname}")
    if tty:
        env.append("TERM=xterm")

    def overlay(items: list[str]) -> None:
        for item in items:
            key, sep, _ = item.partition("=")
            idx = next((i for i, e in enumerate(env) if e.partition("=")[0] == key), None)
            if not sep:  # "FOO" alone: unset it (Docker drops unresolved names)
                if idx is not None:
                    env.pop(idx)
                continue
            if idx is None:
                env.append(item)
            else:
                env[idx] = item

    overlay(list(image_config.get("Env") or []))
    overlay(list(config.get("Env") or []))
    if not any(e.startswith("HOME=") for e in env):
        env.append(f"HOME={home or '/'}")
    return env


def build_rlimits(ulimits: list[dict[str, Any]], defaults: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``--ulimit`` over the daemon's default-ulimits; none at all unless asked (as Docker)."""
    merged: dict[str, dict[str, Any]] = {}
    for u in list(defaults) + list(ulimits):
        name = str(u.get("Name", "")).lower()
        if name not in ULIMIT_NAMES:
            raise InvalidParameter(f"invalid ulimit type: {name}")
        soft, hard = int(u.get("Soft", 0)), int(u.get("Hard", 0))
        if soft > hard:
            raise InvalidParameter(
                f"invalid ulimit argument: {name}={soft}:{hard}: soft limit must be less than or "
                "equal to hard limit")
        merged[name] = {"type": "RLIMIT_" + name.upper(), "hard": hard, "soft": soft}
    return list(merged.values())


def _mode(value: str | None) -> tuple[str, str]:
    """``host`` / ``container:<id>`` / private → (kind, ref)."""
    v = value or ""
    if v == "host":
        return "host", ""
    if v.startswith("container:"):
        return "container", v.split(":", 1)[1]
    return "private", ""


def build_namespaces(i: SpecInput) -> list[dict[str, Any]]:
    hc = i.host_config
    out: list[dict[str, Any]] = [{"type": "mount"}]
    for ns, key in (("network", "NetworkMode"), ("pid", "PidMode"), ("ipc", "IpcMode"),
                    ("uts", "UTSMode")):
        kind, ref = _mode(hc.get(key))
        if kind == "host":
            continue
        entry: dict[str, Any] = {"type": ns}
        if kind == "private" and i.namespace_paths.get(ns):  # a netns the engine made (bridge networks)
            entry["path"] = i.namespace_paths[ns]
        if kind == "container":
            path = i.namespace_paths.get(ns)
            if not path:
                raise InvalidParameter(f"cannot join the {ns} namespace of container {ref}: not running")
            entry["path"] = path
        out.append(entry)
    cg = hc.get("CgroupnsMode") or ("private" if i.cgroup_v2 else "host")
    if cg == "private":
        out.append({"type": "cgroup"})
    if i.uid_maps:
        out.append({"type": "user"})
    return out


def _devices(i: SpecInput) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``--device /host[:/ctr[:perms]]`` → (linux.devices, cgroup allow rules)."""
    nodes, rules = [], []
    for d in i.host_config.get("Devices") or []:
        host = d.get("PathOnHost") or ""
        ctr = d.get("PathInContainer") or host
        perms = d.get("CgroupPermissions") or "rwm"
        try:
            st = i.stat_device(host)
        except OSError as exc:
            raise InvalidParameter(
                f'error gathering device information while adding custom device "{host}": '
                f"{(exc.strerror or str(exc)).lower()}") from None
        if stat_mod.S_ISCHR(st.st_mode):
            kind = "c"
        elif stat_mod.S_ISBLK(st.st_mode):
            kind = "b"
        else:
            raise InvalidParameter(f'error gathering device information while adding custom '
                                   f'device "{host}": not a device node')
        major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
        nodes.append({"path": ctr, "type": kind, "major": major, "minor": minor,
                      "fileMode": stat_mod.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid})
        rules.append({"allow": True, "type": kind, "major": major, "minor": minor, "access": perms})
    return nodes, rules


def _security(i: SpecInput, caps: list[str]) -> tuple[bool, dict[str, Any] | None]:
    """(noNewPrivileges, linux.seccomp) from SecurityOpt and Privileged."""
    no_new_privs = False
    seccomp: Any = i.seccomp_profile
    custom: str | None = None
    for opt in i.host_config.get("SecurityOpt") or []:
        key, sep, val = opt.partition("=" if "=" in opt else ":")
        if key == "no-new-privileges":
            no_new_privs = val in ("1", "t", "T", "TRUE", "true", "True") if sep else True  # Go's ParseBool
        elif key == "seccomp":
            if val == "unconfined":
                seccomp = None
            else:
                custom = val
        elif key in ("label", "apparmor"):
            pass  # no SELinux/AppArmor on this host: accepted and ignored like Docker without them
        else:
            raise InvalidParameter(f"invalid --security-opt: {opt!r}")
    if custom is not None:
        from dockyard.spec.seccomp_profile import docker_to_oci
        seccomp = docker_to_oci(custom, caps)
    if i.host_config.get("Privileged"):
        seccomp = None
    if callable(seccomp):
        seccomp = seccomp(caps)
    return no_new_privs, seccomp


def build_spec(i: SpecInput) -> dict[str, Any]:
    """The OCI runtime config.json for one container (runtime spec 1.0.2 fields)."""
    cfg, hc, img = i.config, i.host_config, i.image_config
    privileged = bool(hc.get("Privileged"))
    tty = bool(cfg.get("Tty"))
    args = process_args(cfg, img)
    mounts_extra: list[dict[str, Any]] = []
    if hc.get("Init"):
        if not i.init_path:
            raise InvalidParameter("--init requested but no init binary (tini) was found on the host")
        args = [INIT_PATH, "--", *args]
        mounts_extra.append({"destination": INIT_PATH, "type": "bind", "source": i.init_path,
                             "options": ["bind", "ro", "rprivate"]})
    cwd = cfg.get("WorkingDir") or img.get("WorkingDir") or "/"
    if not cwd.startswith("/"):
        raise InvalidParameter(f"the working directory '{cwd}' is invalid, it needs to be an absolute path")
    uts_host = _mode(hc.get("UTSMode"))[0] == "host"
    # Docker: --hostname, else the first 12 characters of the container id
    default_hostname = i.hostname or cfg.get("Hostname") or i.container_id[:12]
    hostname = "" if uts_host else default_hostname
    known = i.all_capabilities
    caps = list(i.held_capabilities) if privileged else capabilities(
        list(i.capabilities if i.capabilities is not None else DEFAULT_CAPABILITIES),
        hc.get("CapAdd"), hc.get("CapDrop"), known)
    no_new_privs, seccomp = _security(i, caps)
    process: dict[str, Any] = {
        "terminal": tty,
        "user": {"uid": i.user.uid, "gid": i.user.gid},
        "args": args,
        "env": build_env(cfg, img, default_hostname, tty, i.user.home),
        "cwd": cwd,
        # moby's SetCapabilities: a non-root user keeps only the bounding set
        "capabilities": {"bounding": caps, "effective": caps if i.user.uid == 0 else [],
                         "permitted": caps if i.user.uid == 0 else []},
        "noNewPrivileges": no_new_privs,
    }
    if i.user.additional_gids:
        process["user"]["additionalGids"] = list(i.user.additional_gids)
    rlimits = build_rlimits(hc.get("Ulimits") or [], i.default_ulimits)
    if rlimits:
        process["rlimits"] = rlimits
    if hc.get("OomScoreAdj"):
        process["oomScoreAdj"] = hc["OomScoreAdj"]
    size = hc.get("ConsoleSize") or [0, 0]
    if tty and size and size[0] and size[1]:
        process["consoleSize"] = {"height": size[0], "width": size[1]}

    shm = hc.get("ShmSize") or 0
    ipc_host = _mode(hc.get("IpcMode"))[0] == "host"
    defaults = mnt.default_mounts(shm or mnt.DEFAULT_SHM_SIZE, privileged, ipc_host)
    user = mnt.user_mounts(hc, i.path_exists, i.makedirs, i.readonly_mode, i.mount_points) + mounts_extra
    ro_root = bool(hc.get("ReadonlyRootfs"))
    etc = [{"destination": dst, "type": "bind", "source": src,
            "options": ["rbind", "rprivate"] + (["ro"] if ro_root else [])}
           for dst, src in sorted(i.etc_files.items())]
    nodes, dev_rules = _devices(i)
    if privileged:  # every host device at its own path, then the ones asked for by name
        asked = {n["path"] for n in nodes}
        nodes = [d for d in i.host_devices() if d["path"] not in asked] + nodes
    linux: dict[str, Any] = {
        "resources": build_resources(hc, i.ncpu, i.swap_limit, privileged, dev_rules, i.stat_device),
        "namespaces": build_namespaces(i),
    }
    if i.cgroups_path:
        linux["cgroupsPath"] = i.cgroups_path
    if i.uid_maps:
        linux["uidMappings"], linux["gidMappings"] = list(i.uid_maps), list(i.gid_maps)
    if nodes:
        linux["devices"] = nodes
    if not privileged:  # the request's lists (create fills Docker's defaults when it gave none)
        masked, readonly = hc.get("MaskedPaths"), hc.get("ReadonlyPaths")
        linux["maskedPaths"] = list(MASKED_PATHS if masked is None else masked)
        linux["readonlyPaths"] = list(READONLY_PATHS if readonly is None else readonly)
    if seccomp:
        linux["seccomp"] = seccomp
    sysctl = {**i.default_sysctls, **(hc.get("Sysctls") or {})}  # the request's win (as dockerd)
    if sysctl:
        linux["sysctl"] = sysctl
    spec: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": i.rootfs, "readonly": ro_root},
        "mounts": mnt.merge_mounts(defaults, user, etc),
        "linux": linux,
    }
    if hostname:
        spec["hostname"] = hostname
    if cfg.get("Domainname") and not uts_host:
        spec["domainname"] = cfg["Domainname"]
    annotations = dict(i.annotations)
    if annotations:
        spec["annotations"] = annotations
    return spec
