"""Preparing a container's bundle just before it starts: /etc files and config.json."""

from __future__ import annotations

import json
import os
from typing import Any

from dockyard.daemon.config import DaemonConfig
from dockyard.errors import InvalidParameter
from dockyard.daemon.containers.model import Container
from dockyard.network.etcfiles import DEFAULT_HOSTS



def _write(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def _resolv_conf() -> str:
    """The host's resolv.conf, minus loopback resolvers a container can't reach."""
    try:
        with open("/etc/resolv.conf", encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    kept = [ln for ln in lines if not (ln.startswith("nameserver") and
                                       (" 127." in ln or " ::1" in ln))]
    if not any(ln.startswith("nameserver") for ln in kept):
        kept += ["nameserver 8.8.8.8", "nameserver 8.8.4.4"]
    return "\n".join(kept) + "\n"


def hostname_of(c: Container) -> str:
    return c.Config.get("Hostname") or c.Id[:12]


def write_etc_files(c: Container, net: Any = None) -> dict[str, str]:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf for the container, in its bundle dir."""
    host_network = c.HostConfig.get("NetworkMode") == "host"
    hostname = os.uname().nodename if host_network else hostname_of(c)
    c.HostnamePath = os.path.join(c.bundle, "hostname")
    c.HostsPath = os.path.join(c.bundle, "hosts")
    c.ResolvConfPath = os.path.join(c.bundle, "resolv.conf")
    _write(c.HostnamePath, hostname + "\n")
    hosts = DEFAULT_HOSTS
    if host_network:
        try:
            with open("/etc/hosts", encoding="utf-8") as f:
                hosts = f.read()
        except OSError:
            pass
    if net is not None and not host_network:
        hosts_text, resolv_text = net.etc_contents(c, hostname)
        _write(c.HostsPath, hosts_text)
        _write(c.ResolvConfPath, resolv_text)
        return {"/etc/hostname": c.HostnamePath, "/etc/hosts": c.HostsPath, "/etc/resolv.conf": c.ResolvConfPath}
    extra = "".join(f"{h.split(':', 1)[1]}\t{h.split(':', 1)[0]}\n" for h in c.HostConfig.get("ExtraHosts") or []
                    if ":" in h)
    _write(c.HostsPath, hosts + extra)
    _write(c.ResolvConfPath, _resolv_conf())
    return {"/etc/hostname": c.HostnamePath, "/etc/hosts": c.HostsPath, "/etc/resolv.conf": c.ResolvConfPath}


def cgroups_path(c: Container, cfg: DaemonConfig) -> str:
    """``--cgroup-parent`` of the container, else the daemon's; absolute, as moby's cgroupfs driver."""
    parent = c.HostConfig.get("CgroupParent") or cfg.cgroup_parent
    return "/" + f"{parent.strip('/')}/{c.Id}".lstrip("/")


def userns_maps(c: Container, cfg: DaemonConfig) -> dict[str, Any]:
    """The uid/gid maps under userns-remap, unless the container opted out (``--userns host``)."""
    from dockyard.daemon.userns import remap_of

    if remap_of(c, cfg) is None:
        return {}
    if c.HostConfig.get("Privileged"):
        raise InvalidParameter("privileged mode is incompatible with user namespaces.  You must run the "
                               "container in the host namespace when running privileged mode")
    # the container's folders are 0710: their group lets its root reach /etc/hostname & co (Docker's way)
    for path in (os.path.dirname(c.bundle), c.bundle):
        os.chown(path, 0, cfg.remap.root_gid)
    return {"uid_maps": [m.oci() for m in cfg.remap.uid_maps], "gid_maps": [m.oci() for m in cfg.remap.gid_maps]}


def share_network_files(c: Container, peer: Container) -> tuple[str, dict[str, str]]:
    """``--network container:<peer>``: the peer's hostname and its /etc/hostname, hosts and
    resolv.conf, as moby's initializeNetworking copies them (the hostname shows in inspect)."""
    hostname = os.uname().nodename if peer.HostConfig.get("NetworkMode") == "host" else hostname_of(peer)
    c.Config["Hostname"] = hostname
    c.Config["Domainname"] = peer.Config.get("Domainname") or ""
    c.HostnamePath, c.HostsPath, c.ResolvConfPath = peer.HostnamePath, peer.HostsPath, peer.ResolvConfPath
    return hostname, {"/etc/hostname": c.HostnamePath, "/etc/hosts": c.HostsPath, "/etc/resolv.conf": c.ResolvConfPath}


def has_ipv6(c: Container) -> bool:
    """One of the container's endpoints has an IPv6 address (a network's or a link-local one)."""
    for ep in (c.NetworkSettings.get("Networks") or {}).values():
        link_local = (ep.get("IPAMConfig") or {}).get("LinkLocalIPs") or []
        if ep.get("GlobalIPv6Address") or any(":" in a for a in link_local):
            return True
    return False


def check_working_dir(rootfs: str, workdir: str) -> None:
    """dockerd's start error for a working directory that exists as a file in the image (the
    runtime would only say that it cannot chdir); a missing one is created by the runtime."""
    from dockyard import errors
    from dockyard.securejoin import secure_join

    if not workdir or not rootfs:
        return
    path = secure_join(rootfs, workdir)
    if os.path.lexists(path) and not os.path.isdir(path):
        raise errors.SystemError_(f"Cannot mkdir: {workdir} is not a directory")


def prepare_bundle(c: Container, cfg: DaemonConfig, net: Any = None, netns: str | None = None,
                   peers: dict[str, str] | None = None, net_peer: Container | None = None) -> dict[str, Any]:
    """Write config.json into the bundle; returns the spec.

    ``netns``: the network namespace the engine made for the container (bridge
    networks); ``peers``: namespace files of ``container:<ref>`` modes by type;
    ``net_peer``: the running container whose network this one joins.
    """
    from dockyard.daemon.system import cgroup_version, recursive_readonly_supported, swap_accounting
    from dockyard.spec.default_seccomp import default_profile
    from dockyard.spec.bundle import SpecInput, build_spec, resolve_user
    from dockyard.spec.mounts import ReadOnlyMode
    from dockyard.spec.network_sysctls import network_sysctls

    if net_peer is not None:
        hostname, etc_files = share_network_files(c, net_peer)
    else:
        etc_files = write_etc_files(c, net)
        hostname = os.uname().nodename if c.HostConfig.get("NetworkMode") == "host" else hostname_of(c)
    user = resolve_user(c.rootfs, c.Config.get("User") or "", c.HostConfig.get("GroupAdd") or ())
    check_working_dir(c.rootfs, c.Config.get("WorkingDir") or "")
    config = c.Config
    if net is not None and c.HostConfig.get("Links"):  # legacy links' environment, never stored (moby)
        config = {**c.Config, "Env": list(c.Config.get("Env") or []) + net.link_env(c)}
    maps = userns_maps(c, cfg)
    sysctls = network_sysctls(c.HostConfig.get("NetworkMode") or "default", ipv6=has_ipv6(c),
                              user_namespace=bool(maps))
    host_config = c.HostConfig
    if maps and netns:  # our namespace, owned by the host's user namespace: we write its sysctls
        from dockyard.network.linux import write_sysctls

        asked = host_config.get("Sysctls") or {}
        write_sysctls(netns, {**sysctls, **{k: v for k, v in asked.items() if k.startswith("net.")}})
        host_config = {**host_config, "Sysctls": {k: v for k, v in asked.items() if not k.startswith("net.")}}
        sysctls = {}
    spec = build_spec(SpecInput(
        container_id=c.Id, config=config, host_config=host_config, image_config={},
        rootfs=c.rootfs, user=user, hostname=hostname, etc_files=etc_files,
        init_path=cfg.init_path if c.HostConfig.get("Init") else None,
        cgroups_path=cgroups_path(c, cfg), annotations=dict(c.HostConfig.get("Annotations") or {}), default_ulimits=list(cfg.default_ulimits.values()),
        seccomp_profile=default_profile, cgroup_v2=cgroup_version() == "2",
        swap_limit=swap_accounting(), namespace_paths={**(peers or {}), **({"network": netns} if netns else {})},
        mount_points=c.MountPoints or None,
        readonly_mode=ReadOnlyMode(recursive_readonly_supported(), c.ro_non_recursive),
        default_sysctls=sysctls, **maps))
    path = os.path.join(c.bundle, "config.json")
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(spec, f)
    os.replace(path + ".tmp", path)
    return spec
