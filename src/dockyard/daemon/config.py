"""The daemon's configuration: dockerd's flags and daemon.json, as data.

Key names follow Docker's daemon.json (``data-root``, ``hosts``,
``default-runtime``, ``runtimes``, ...).  Flags given on the command line win
over the file, as with dockerd; a key set in both places is an error in
dockerd, here the flag simply wins (documented in README).
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from typing import Any

from dockyard.daemon import hosts as hostsmod
from dockyard.errors import InvalidParameter

DEFAULT_SOCKET = "/run/dockyard.sock"
DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_CONFIG_FILE = "/etc/dockyard/daemon.json"
DEFAULT_PIDFILE = "/run/dockyard.pid"

KNOWN_KEYS = {
    "data-root", "exec-root", "hosts", "pidfile", "log-level", "default-runtime", "runtimes",
    "log-driver", "log-opts", "default-ulimits", "live-restore", "cgroup-parent", "debug",
    "name-prefix", "storage-driver", "default-shm-size", "init-path", "bip", "default-address-pools", "mtu",
    "ipv6", "fixed-cidr-v6", "dns", "dns-search", "dns-opts",
    "tls", "tlsverify", "tlscacert", "tlscert", "tlskey", "group", "userns-remap",
    "insecure-registries", "registry-mirrors", "max-concurrent-downloads", "max-concurrent-uploads",
    "cpu-rt-period", "cpu-rt-runtime",
}


@dataclass
class RuntimeConfig:
    """One OCI runtime the daemon can hand containers to (``runtimes`` in daemon.json)."""

    name: str
    path: str
    args: list[str] = field(default_factory=list)


@dataclass
class DaemonConfig:
    hosts: list[str] = field(default_factory=lambda: [f"unix://{DEFAULT_SOCKET}"])
    data_root: str = DEFAULT_DATA_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    pidfile: str = DEFAULT_PIDFILE
    log_level: str = "info"
    default_runtime: str = "dockyard"
    runtimes: dict[str, RuntimeConfig] = field(default_factory=dict)
    log_opts: dict[str, str] = field(default_factory=dict)
    default_ulimits: dict[str, dict[str, Any]] = field(default_factory=dict)
    live_restore: bool = True
    cgroup_parent: str = "/dockyard"
    # The name under which the daemon's kernel objects live: the default cgroup
    # parent is /<name_prefix>, so a test daemon can run beside another one.
    name_prefix: str = "dockyard"
    init_path: str = "/usr/bin/tini-static"  # static: it runs in any rootfs
    default_shm_size: int = 64 * 1024 * 1024
    bip: str = ""  # the default bridge's gateway/prefix, e.g. 172.17.0.1/16 (chosen when empty)
    default_address_pools: list[tuple[str, int]] = field(default_factory=list)  # (base, size); empty: Docker's
    mtu: int | None = None  # of the bridges and veths (daemon.json "mtu")
    ipv6: bool = False  # the default bridge is dual-stack, on fixed_cidr_v6 (daemon.json "ipv6")
    fixed_cidr_v6: str = ""
    # containers' defaults when they give no --dns/--dns-search/--dns-option (daemon.json "dns", ...)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_opts: list[str] = field(default_factory=list)
    tls: hostsmod.TLSSettings = field(default_factory=hostsmod.TLSSettings)
    # the unix sockets' group (dockerd's -G/--group); missing "docker" is only a warning
    group: str = hostsmod.DEFAULT_SOCKET_GROUP
    userns_remap: str = ""  # daemon.json "userns-remap": "default", "user" or "user:group"
    remap: Any = None  # the resolved daemon.userns.Remap, set by the composition root at start
    # registries (daemon.json keys of the same names; dockerd's defaults)
    insecure_registries: list[str] = field(default_factory=list)
    registry_mirrors: list[str] = field(default_factory=list)
    max_concurrent_downloads: int = 3
    max_concurrent_uploads: int = 5
    # the real-time CPU budget given to every level above a container (dockerd's --cpu-rt-period/-runtime;
    # 0: none written, see daemon/cpu_rt.py)
    cpu_rt_period: int = 0
    cpu_rt_runtime: int = 0

    @property
    def listen_hosts(self) -> list[hostsmod.Host]:
        return [hostsmod.parse_host(h, self.tls.enabled) for h in self.hosts]

    @property
    def unix_sockets(self) -> list[str]:
        return [h[len("unix://"):] for h in self.hosts if h.startswith("unix://")]

    def runtime(self, name: str | None) -> RuntimeConfig:
        """The runtime called ``name`` (the default one for None)."""
        name = name or self.default_runtime
        try:
            return self.runtimes[name]
        except KeyError:
            raise InvalidParameter(f"unknown or invalid runtime name: {name}") from None


def builtin_runtimes(native: str | None = None) -> dict[str, RuntimeConfig]:
    """The runtimes known without configuration: ours, plus crun and runc when installed.

    ``native`` is the path of dockyard-runtime as the composition root located
    it (dockyardd); without it, the program on PATH.
    """
    ours = native or shutil.which("dockyard-runtime") or "dockyard-runtime"
    found = {"dockyard": RuntimeConfig("dockyard", ours)}
    for name in ("crun", "runc"):
        path = shutil.which(name)
        if path:
            found[name] = RuntimeConfig(name, path)
    return found


def parse_size(text: str | int) -> int:
    """Parse a Docker size like ``64m`` / ``1g`` / ``512`` into bytes."""
    if isinstance(text, int):
        return text
    units = {"": 1, "b": 1, "k": 1024, "kb": 1024, "m": 1024**2, "mb": 1024**2,
             "g": 1024**3, "gb": 1024**3, "t": 1024**4, "tb": 1024**4}
    s = text.strip().lower()
    num = s.rstrip("kmgtb")
    unit = s[len(num):]
    try:
        value = float(num)
    except ValueError:
        raise InvalidParameter(f"invalid size: '{text}'") from None
    if unit not in units or value < 0:
        raise InvalidParameter(f"invalid size: '{text}'")
    return int(value * units[unit])


def load(config_file: str | None, overrides: dict[str, Any], native_runtime: str | None = None,
         default_file: str = DEFAULT_CONFIG_FILE) -> DaemonConfig:
    """Build the configuration from daemon.json (if present) and flag ``overrides``.

    ``default_file`` is the host's daemon.json when ``--config-file`` is not given.
    ``overrides`` uses daemon.json key names; None values mean "not given".
    ``native_runtime`` is where dockyard-runtime is (see :func:`builtin_runtimes`).
    """
    data: dict[str, Any] = {}
    path = config_file or default_file
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"unable to configure the daemon with file {path}: {exc}") from None
        if not isinstance(data, dict):
            raise InvalidParameter(f"unable to configure the daemon with file {path}: not a JSON object")
        unknown = sorted(set(data) - KNOWN_KEYS)
        if unknown:
            raise InvalidParameter(
                f"the following directives don't match any configuration option: {', '.join(unknown)}")
    elif config_file:
        raise InvalidParameter(f"open {config_file}: no such file or directory")
    for key, value in overrides.items():
        if value is not None and value != []:
            if key == "runtimes":
                data.setdefault("runtimes", {}).update(value)
            else:
                data[key] = value

    cfg = DaemonConfig()
    _load_listen_config(cfg, data)
    for key, attr in (("data-root", "data_root"), ("exec-root", "exec_root"), ("pidfile", "pidfile"),
                      ("log-level", "log_level"), ("default-runtime", "default_runtime"),
                      ("cgroup-parent", "cgroup_parent"), ("name-prefix", "name_prefix"),
                      ("init-path", "init_path")):
        if key in data:
            setattr(cfg, attr, str(data[key]))
    if "cgroup-parent" not in data:
        cfg.cgroup_parent = f"/{cfg.name_prefix}"  # the cgroups of two daemons never mix
    if data.get("debug"):
        cfg.log_level = "debug"
    if "live-restore" in data:
        cfg.live_restore = bool(data["live-restore"])
    if "log-opts" in data:
        cfg.log_opts = {str(k): str(v) for k, v in data["log-opts"].items()}
    if "default-ulimits" in data:
        cfg.default_ulimits = dict(data["default-ulimits"])
    if "default-shm-size" in data:
        cfg.default_shm_size = parse_size(data["default-shm-size"])
    for key in ("cpu-rt-period", "cpu-rt-runtime"):
        if key in data:
            value = data[key]
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidParameter(f"{key}: an integer number of microseconds is required, not {value!r}")
            setattr(cfg, key.replace("-", "_"), value)
    _network_keys(cfg, data)
    _load_registry_keys(cfg, data)
    cfg.runtimes = builtin_runtimes(native_runtime)
    for name, spec in data.get("runtimes", {}).items():
        if not isinstance(spec, dict) or "path" not in spec:
            raise InvalidParameter(f"runtime {name}: a path is required")
        cfg.runtimes[name] = RuntimeConfig(name, spec["path"], list(spec.get("runtimeArgs", [])))
    if cfg.default_runtime not in cfg.runtimes:
        raise InvalidParameter(f"default runtime {cfg.default_runtime} is not a known runtime")
    cfg.cgroup_parent = "/" + cfg.cgroup_parent.strip("/")
    return cfg


def _network_keys(cfg: DaemonConfig, data: dict[str, Any]) -> None:
    """``bip``, ``default-address-pools``, ``mtu``, ``ipv6``/``fixed-cidr-v6`` and ``dns*``, checked as dockerd does."""
    import ipaddress

    if data.get("bip"):
        try:
            iface = ipaddress.ip_interface(str(data["bip"]))
        except ValueError:
            raise InvalidParameter(f"invalid bip: {data['bip']}") from None
        if iface.ip == iface.network.network_address:
            raise InvalidParameter(f"invalid bip {data['bip']}: the address is the network's, give the gateway")
        cfg.bip = str(iface)
    pools = []
    for pool in data.get("default-address-pools") or []:
        try:
            base, size = str(pool["base"]), int(pool["size"])
            ipaddress.ip_network(base)
        except (KeyError, TypeError, ValueError):
            raise InvalidParameter(f"invalid default-address-pools entry: {pool!r}") from None
        pools.append((base, size))
    cfg.default_address_pools = pools
    if data.get("mtu"):
        mtu = int(data["mtu"])
        if mtu < 68 or mtu > 65535:
            raise InvalidParameter(f"invalid MTU {mtu}")
        cfg.mtu = mtu
    cfg.ipv6 = bool(data.get("ipv6"))
    if data.get("fixed-cidr-v6"):
        try:
            net6 = ipaddress.ip_network(str(data["fixed-cidr-v6"]), strict=False)
        except ValueError:
            raise InvalidParameter(f"invalid fixed-cidr-v6: {data['fixed-cidr-v6']}") from None
        if net6.version != 6 or net6.prefixlen > 126:
            raise InvalidParameter(f"invalid fixed-cidr-v6: {data['fixed-cidr-v6']}")
        cfg.fixed_cidr_v6 = str(net6)
    if cfg.ipv6 and not cfg.fixed_cidr_v6:  # dockerd 20.10's refusal, word for word
        raise InvalidParameter("IPv6 is enabled for the default bridge, but no subnet is configured. Specify an "
                               "IPv6 subnet using --fixed-cidr-v6")
    for key in ("dns", "dns-search", "dns-opts"):
        value = data.get(key) or []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidParameter(f"invalid {key}: {value!r} (a list of strings)")
        setattr(cfg, key.replace("-", "_"), list(value))
    for server in cfg.dns:
        try:
            ipaddress.ip_address(server)
        except ValueError:
            raise InvalidParameter(f"{server} is not an ip address") from None


def _load_listen_config(cfg: DaemonConfig, data: dict[str, Any]) -> None:
    """``hosts``, the ``tls*`` keys and ``group``: TLS first, since it sets TCP's default port."""
    for key in ("tls", "tlsverify"):
        if key in data and data[key] is not None and not isinstance(data[key], bool):
            raise InvalidParameter(f"invalid value for {key}: {data[key]!r} (expected true or false)")
    cfg.tls = hostsmod.resolve_tls(data.get("tls"), data.get("tlsverify"), data.get("tlscacert"),
                                   data.get("tlscert"), data.get("tlskey"), os.environ.get("DOCKER_CERT_PATH"))
    if "hosts" in data:
        hosts = [str(h) for h in data["hosts"] if str(h).strip()]
    elif cfg.tls.enabled:
        hosts = ["tcp://localhost:2376"]  # dockerd: --tls without -H listens on TCP, not the socket
    else:
        hosts = cfg.hosts
    cfg.hosts = [str(hostsmod.parse_host(h, cfg.tls.enabled)) for h in hosts]
    if "group" in data:
        cfg.group = str(data["group"])
    cfg.userns_remap = str(data.get("userns-remap") or "")


def _load_registry_keys(cfg: DaemonConfig, data: dict[str, Any]) -> None:
    from dockyard.image.distribution.endpoints import validate_insecure, validate_mirrors

    cfg.insecure_registries = validate_insecure(list(data.get("insecure-registries") or []))
    cfg.registry_mirrors = validate_mirrors(list(data.get("registry-mirrors") or []))
    for key in ("max-concurrent-downloads", "max-concurrent-uploads"):
        if key in data:
            value = data[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise InvalidParameter(f"invalid {key}: {value!r} (a positive integer)")
            setattr(cfg, key.replace("-", "_"), value)
