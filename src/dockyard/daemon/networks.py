"""The network service: Docker's network objects and their records.

Predefined ``bridge`` (the default bridge), ``host`` and ``none`` exist from
the first start; user-defined bridge networks are created, inspected, listed,
removed and pruned here with Docker's shapes and error texts.  What a
container's start needs of the kernel (netns, veths, NAT, ports, DNS) lives in
:mod:`dockyard.daemon.network_endpoints`, mixed into this service.

Records are kept in the ``kv`` table as ``network/<id>``; fields starting with
``_`` (the bridge's name) are ours and never shown.
"""

from __future__ import annotations

import copy
import fcntl
import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

from dockyard import errors
from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.containers.model import now_rfc3339
from dockyard.daemon.names import new_id
from dockyard.daemon.network_endpoints import EndpointOps
from dockyard.network import ipam
from dockyard.network import linux as netlinux
from dockyard.network.dns import Aardvark, find_aardvark
from dockyard.state.db import Database, dumps, loads

log = logging.getLogger("dockyard.networks")

PREDEFINED = ("bridge", "host", "none")
DRIVERS = {"bridge": "bridge", "host": "host", "none": "null"}
BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
MTU_OPT = "com.docker.network.driver.mtu"
KNOWN_OPTS = {BRIDGE_NAME_OPT, MTU_OPT, "com.docker.network.bridge.enable_icc",
              "com.docker.network.bridge.enable_ip_masquerade", "com.docker.network.bridge.host_binding_ipv4",
              "com.docker.network.bridge.default_bridge"}
LIST_FILTERS = {"driver", "id", "label", "name", "scope", "type", "dangling"}
# one lock for every dockyard daemon on the host: choosing a free subnet and making its bridge is atomic
HOST_LOCK = "/run/lock/dockyard-network.lock"


class NetworkService(EndpointOps):
    """Owns the network records; containers are reached through ``containers`` (set by build_backends)."""

    def __init__(self, cfg: DaemonConfig, db: Database, events: Any) -> None:
        self.cfg = cfg
        self.db = db
        self.events = events
        self.containers: Any = None
        self.stem = netlinux.link_stem(cfg.name_prefix)
        self.table = cfg.name_prefix
        self.state_dir = os.path.join(cfg.exec_root, f"{cfg.name_prefix}-net")
        self.netns_dir = os.path.join(self.state_dir, "netns")
        self.dns = Aardvark(os.path.join(self.state_dir, "aardvark"), find_aardvark())
        self._networks: dict[str, dict[str, Any]] = {}
        for row in db.query("SELECT value FROM kv WHERE key LIKE 'network/%'"):
            n = loads(row["value"])
            self._networks[n["Id"]] = n
        self._ensure_predefined()

    # -- records ------------------------------------------------------------------------
    def _save(self, n: dict[str, Any]) -> None:
        with self.db.tx() as cur:
            cur.execute("INSERT OR REPLACE INTO kv (key, value) VALUES (?, ?)", (f"network/{n['Id']}", dumps(n)))

    def _delete(self, n: dict[str, Any]) -> None:
        with self.db.tx() as cur:
            cur.execute("DELETE FROM kv WHERE key = ?", (f"network/{n['Id']}",))
        self._networks.pop(n["Id"], None)

    @contextmanager
    def host_lock(self) -> Iterator[None]:
        os.makedirs(os.path.dirname(HOST_LOCK), exist_ok=True)
        with open(HOST_LOCK, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _record(self, name: str, driver: str, ipam_cfgs: list[ipam.IPAMConfig], *, internal: bool = False,
                attachable: bool = False, options: dict[str, str] | None = None,
                labels: dict[str, str] | None = None, bridge: str = "") -> dict[str, Any]:
        return {
            "Name": name, "Id": new_id(), "Created": now_rfc3339(), "Scope": "local", "Driver": driver,
            "EnableIPv4": True, "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None if name in PREDEFINED else {},
                     "Config": [c.to_docker() for c in ipam_cfgs]},
            "Internal": internal, "Attachable": attachable, "Ingress": False, "ConfigFrom": {"Network": ""},
            "ConfigOnly": False, "Options": dict(options or {}), "Labels": dict(labels or {}),
            "_bridge": bridge,
        }

    def _taken_subnets(self, exclude: str = "") -> list[ipam.Net]:
        nets = [ipam.Net(cfg["Subnet"]) for n in self._networks.values() if n["Id"] != exclude
                for cfg in n["IPAM"]["Config"] if ":" not in cfg["Subnet"]]
        return nets + [ipam.Net(r) for r in netlinux.host_routes()]

    def _pools(self) -> list[tuple[str, int]]:
        return self.cfg.default_address_pools or ipam.DEFAULT_POOLS

    def _ensure_predefined(self) -> None:
        names = {n["Name"] for n in self._networks.values()}
        if "bridge" not in names:
            if self.cfg.bip:
                iface = ipam.parse_subnet(self.cfg.bip)
                gw = self.cfg.bip.split("/")[0]
                cfg = ipam.IPAMConfig(iface, ipam.parse_addr(gw))
            else:
                subnet = ipam.pick_subnet(self._pools(), self._taken_subnets())
                cfg = ipam.IPAMConfig(subnet, next(subnet.hosts()))
            opts = {"com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": "true",
                    "com.docker.network.bridge.enable_ip_masquerade": "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    BRIDGE_NAME_OPT: f"{self.stem}b0",
                    MTU_OPT: str(self.cfg.mtu or 1500)}
            n = self._record("bridge", "bridge", [cfg], options=opts, bridge=f"{self.stem}b0")
            self._networks[n["Id"]] = n
        self._default_bridge_v6(next(n for n in self._networks.values() if n["Name"] == "bridge"))
        for name in ("host", "none"):
            if name not in names:
                n = self._record(name, DRIVERS[name], [])
                self._networks[n["Id"]] = n
                self._save(n)

    def _default_bridge_v6(self, n: dict[str, Any]) -> None:
        """The default bridge's IPv6 follows daemon.json ``ipv6``/``fixed-cidr-v6`` at every start (dockerd's).

        Saved always: a new record, or one whose IPv6 the configuration changed.  A bridge
        that running containers keep meanwhile gets its new gateway when it is next made.
        """
        v4, v6 = ipam.split_configs(n["IPAM"]["Config"])
        want = None
        if self.cfg.ipv6:
            net6 = ipam.parse_any_subnet(self.cfg.fixed_cidr_v6)
            want = ipam.IPAMConfig(net6, next(net6.hosts())).to_docker()
        elif self.cfg.fixed_cidr_v6:
            log.warning("fixed-cidr-v6 is set but ipv6 is not: the default bridge stays IPv4 only (as dockerd)")
        n["IPAM"]["Config"] = [c for c in (v4, want) if c]
        n["EnableIPv6"] = want is not None
        self._save(n)

    # -- lookups ------------------------------------------------------------------------
    def get(self, ref: str) -> dict[str, Any]:
        """Docker's order: full ID, full name, then a unique ID prefix."""
        if ref in self._networks:
            return self._networks[ref]
        for n in self._networks.values():
            if n["Name"] == ref:
                return n
        if ref:
            matches = [n for n in self._networks.values() if n["Id"].startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise errors.InvalidParameter(f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)")
        raise errors.NotFound(f"network {ref} not found")

    def default_bridge(self) -> dict[str, Any]:
        return self.get("bridge")

    def _endpoints_of(self, n: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:
        """(container, endpoint settings) of every container configured on ``n``."""
        out = []
        for c in self.containers.all() if self.containers is not None else []:
            for ep in ((getattr(c, "NetworkSettings", None) or {}).get("Networks") or {}).values():
                if ep.get("NetworkID") == n["Id"]:
                    out.append((c, ep))
        return out

    # -- views --------------------------------------------------------------------------
    def view(self, n: dict[str, Any], *, with_containers: bool = True) -> dict[str, Any]:
        out = {k: copy.deepcopy(v) for k, v in n.items() if not k.startswith("_")}
        if with_containers:
            attached = {}
            for c, ep in self._endpoints_of(n):
                if not ep.get("EndpointID"):
                    continue
                attached[c.Id] = {"Name": c.Name, "EndpointID": ep["EndpointID"], "MacAddress": ep.get("MacAddress", ""),
                                  "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}" if ep.get("IPAddress") else "",
                                  "IPv6Address": (f"{ep['GlobalIPv6Address']}/{ep['GlobalIPv6PrefixLen']}"
                                                  if ep.get("GlobalIPv6Address") else "")}
            out["Containers"] = attached
        return out

    def inspect(self, ref: str) -> dict[str, Any]:
        return self.view(self.get(ref))

    def list_networks(self, filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        filters = filters or {}
        for key in filters:
            if key not in LIST_FILTERS:
                raise errors.InvalidParameter(f"invalid filter '{key}'")
        out = []
        for n in sorted(self._networks.values(), key=lambda n: n["Created"]):
            if self._matches(n, filters):
                out.append(self.view(n, with_containers=False) | {"Containers": {}})
        return out

    def _matches(self, n: dict[str, Any], filters: dict[str, list[str]]) -> bool:
        from dockyard.daemon.containers.view import match_labels

        class _L:  # match_labels reads Config.Labels
            Config = {"Labels": n["Labels"]}

        if "driver" in filters and n["Driver"] not in filters["driver"]:
            return False
        if "id" in filters and not any(n["Id"].startswith(v) for v in filters["id"]):
            return False
        if "name" in filters and not any(v in n["Name"] for v in filters["name"]):
            return False
        if "scope" in filters and n["Scope"] not in filters["scope"]:
            return False
        if "type" in filters:
            kinds = {"builtin" if n["Name"] in PREDEFINED else "custom"}
            for v in filters["type"]:
                if v not in ("custom", "builtin"):
                    raise errors.InvalidParameter(f"invalid filter: 'type'='{v}'")
            if not kinds & set(filters["type"]):
                return False
        if "dangling" in filters:
            want = filters["dangling"][0].lower() in ("true", "1")
            dangling = n["Name"] not in PREDEFINED and not self._endpoints_of(n)
            if dangling != want:
                return False
        return match_labels(_L, filters)  # type: ignore[arg-type]

    # -- create / remove ----------------------------------------------------------------
    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("Name") or ""
        if not name:
            raise errors.InvalidParameter("network name is required")
        # dockerd takes any name (docker-py creates "test 01"); a slash could never be addressed in
        # /networks/{id} and control characters would poison the CLI's tables
        if "/" in name or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
            raise errors.InvalidParameter(f"invalid network name {name!r}")
        driver = body.get("Driver") or "bridge"
        if name in PREDEFINED:
            raise errors.Forbidden(f"{name} is a pre-defined network and cannot be created")
        if any(n["Name"] == name for n in self._networks.values()):
            raise errors.Conflict(f"network with name {name} already exists")
        if driver != "bridge":
            raise errors.NotFound(f"plugin \"{driver}\" not found") if driver not in ("host", "null") else \
                errors.Forbidden(f"only one instance of \"{driver}\" network is allowed")
        ipv6 = bool(body.get("EnableIPv6"))
        if body.get("Ingress") or body.get("ConfigOnly") or (body.get("ConfigFrom") or {}).get("Network"):
            raise errors.InvalidParameter("Ingress, ConfigOnly and ConfigFrom are not supported (swarm)")
        opts = {str(k): str(v) for k, v in (body.get("Options") or {}).items()}
        for key in opts:
            if key not in KNOWN_OPTS:
                raise errors.InvalidParameter(f"network option {key} is not supported yet")
        mtu = None
        if MTU_OPT in opts:
            try:
                mtu = int(opts[MTU_OPT])
            except ValueError:
                raise errors.InvalidParameter(f"invalid MTU number: {opts[MTU_OPT]}") from None
            if mtu < 68 or mtu > 65535:
                raise errors.InvalidParameter(f"invalid MTU number: {mtu}")
        ipam_body = body.get("IPAM") or {}
        if (ipam_body.get("Driver") or "default") != "default":
            raise errors.NotFound(f"plugin \"{ipam_body['Driver']}\" not found")
        if ipam_body.get("Options"):
            raise errors.InvalidParameter("IPAM options are not supported yet")
        nid_bridge = opts.get(BRIDGE_NAME_OPT, "")
        with self.host_lock():
            cfgs = []
            aux: dict[str, str] = {}
            user_cfgs = [c for c in ipam_body.get("Config") or [] if c.get("Subnet")]
            for raw in ipam_body.get("Config") or []:
                if not raw.get("Subnet"):
                    if raw.get("Gateway") or raw.get("IPRange"):
                        raise errors.InvalidParameter("ip-range and gateway need a subnet (--subnet)")
                    continue
                cfg = ipam.user_config(raw["Subnet"], raw.get("Gateway") or "", raw.get("IPRange") or "")
                if cfg.v6 and not ipv6:
                    raise errors.Forbidden(f"non-IPv6 network cannot have an IPv6 subnet ({raw['Subnet']}): "
                                           "enable IPv6 (--ipv6)")
                if cfg.v6 and raw.get("AuxiliaryAddresses"):
                    raise errors.InvalidParameter("aux-address in an IPv6 subnet is not supported yet")
                for text in (raw.get("AuxiliaryAddresses") or {}).values():
                    if ipam.parse_addr(text, "aux-address") not in cfg.subnet:
                        raise errors.InvalidParameter(f"no matching subnet for aux-address {text}")
                if not cfg.v6:
                    aux = {str(k): str(v) for k, v in (raw.get("AuxiliaryAddresses") or {}).items()}
                ipam.check_overlap(cfg.subnet, [ipam.parse_any_subnet(c["Subnet"]) for n in self._networks.values()
                                                for c in n["IPAM"]["Config"]] + [c.subnet for c in cfgs])
                cfgs.append(cfg)
            v4_cfgs = [c for c in cfgs if not c.v6]
            v6_cfgs = [c for c in cfgs if c.v6]
            if len(v4_cfgs) > 1 or len(v6_cfgs) > 1:
                raise errors.InvalidParameter("more than one subnet of a family per network is not supported yet")
            if ipv6 and not v6_cfgs:  # from an IPv6 entry of default-address-pools; none: dockerd's 404
                taken6 = [ipam.parse_any_subnet(c["Subnet"]) for x in self._networks.values()
                          for c in x["IPAM"]["Config"] if ":" in c["Subnet"]]
                subnet6 = ipam.pick_subnet(self.cfg.default_address_pools, taken6, version=6)
                v6_cfgs = [ipam.IPAMConfig(subnet6, next(subnet6.hosts()))]
            if not v4_cfgs:  # as dockerd: a v6-only request still gets an automatic IPv4 subnet
                subnet = ipam.pick_subnet(self._pools(), self._taken_subnets())
                v4_cfgs = [ipam.IPAMConfig(subnet, next(subnet.hosts()))]
            cfgs = v4_cfgs + v6_cfgs  # the IPv4 config stays first: Config[0] is what IPv4 code reads
            n = self._record(name, "bridge", cfgs, internal=bool(body.get("Internal")),
                             attachable=bool(body.get("Attachable")), options=opts,
                             labels=body.get("Labels") or {})
            n["_user_subnet"] = any(":" not in c["Subnet"] for c in user_cfgs)
            n["EnableIPv6"] = ipv6
            n["IPAM"]["Options"] = ipam_body.get("Options")  # dockerd echoes the request's: {} or null
            if user_cfgs and aux:  # reserved: never given to a container (dockerd's --aux-address)
                n["IPAM"]["Config"][0]["AuxiliaryAddresses"] = aux
            bridge = nid_bridge or f"{self.stem}b{n['Id'][:6]}"
            if len(bridge) > 15:
                raise errors.InvalidParameter(f"bridge name {bridge!r} is longer than 15 characters")
            if any(x.get("_bridge") == bridge for x in self._networks.values()) or bridge in netlinux.links():
                raise errors.Conflict(f"bridge name {bridge} is already in use")
            n["_bridge"] = bridge
            n["_mtu"] = mtu
            self._make_bridge(n)
            try:
                self._networks[n["Id"]] = n
                self._save(n)
                self.sync()
            except BaseException:
                self._networks.pop(n["Id"], None)
                netlinux.delete_link(bridge)
                raise
        self.events.emit("network", "create", n["Id"], {"name": name, "type": "bridge"})
        return {"Id": n["Id"], "Warning": ""}

    def _make_bridge(self, n: dict[str, Any]) -> None:
        cfg = ipam.IPAMConfig.from_docker(n["IPAM"]["Config"][0])
        _v4, v6 = ipam.split_configs(n["IPAM"]["Config"])
        gw6 = ""
        if v6 is not None:
            cfg6 = ipam.IPAMConfig.from_docker(v6)
            gw6 = f"{cfg6.gateway}/{cfg6.subnet.prefixlen}"
        netlinux.create_bridge(n["_bridge"], f"{cfg.gateway}/{cfg.subnet.prefixlen}",
                               n.get("_mtu") or self.cfg.mtu, gateway6_cidr=gw6)

    def remove(self, ref: str) -> None:
        n = self.get(ref)
        if n["Name"] in PREDEFINED:
            raise errors.Forbidden(f"{n['Name']} is a pre-defined network and cannot be removed")
        attached = [c for c, ep in self._endpoints_of(n) if ep.get("EndpointID") or c.State.Running]
        if attached:
            raise errors.Forbidden(f"error while removing network: network {n['Name']} id {n['Id']} has active "
                                   "endpoints")
        for c, _ep in self._endpoints_of(n):  # stopped containers forget the network, as in Docker
            self._forget(c, n)
        self._delete(n)
        netlinux.delete_link(n["_bridge"])
        self.sync()
        self.events.emit("network", "destroy", n["Id"], {"name": n["Name"], "type": "bridge"})

    def _forget(self, c: Any, n: dict[str, Any]) -> None:
        nets = c.NetworkSettings.get("Networks") or {}
        for name in [k for k, ep in nets.items() if ep.get("NetworkID") == n["Id"]]:
            del nets[name]
        self.containers._save(c)

    def prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        from dockyard.daemon.containers.view import parse_until
        from dockyard.daemon.filters import PRUNE_FILTERS, check_accepted

        check_accepted(filters, PRUNE_FILTERS)
        until = parse_until(filters.get("until"))
        deleted = []
        for n in list(self._networks.values()):
            if n["Name"] in PREDEFINED or self._endpoints_of(n):
                continue
            if not self._matches(n, {k: v for k, v in filters.items() if k in ("label", "label!")}):
                continue
            if until is not None and n["Created"] > until:
                continue
            self.remove(n["Id"])
            deleted.append(n["Name"])
        self.events.emit("network", "prune", "", {})
        return {"NetworksDeleted": deleted or None}

    # -- connect / disconnect -----------------------------------------------------------
    def connect(self, ref: str, container_ref: str, endpoint: dict[str, Any] | None) -> None:
        n = self.get(ref)
        c = self.containers.get(container_ref)
        mode = c.HostConfig.get("NetworkMode") or "default"
        if mode.startswith("container:") or mode == "host":
            raise errors.Forbidden("container sharing network namespace with another container or host cannot be "
                                   "connected to any other network")
        if n["Driver"] != "bridge" and n["Name"] != "none":
            raise errors.Forbidden("container cannot be disconnected from host network or connected to host "
                                   "network")
        nets = c.NetworkSettings.setdefault("Networks", {})
        if "none" in (mode, n["Name"]):
            if n["Name"] in nets:
                return  # as dockerd: already there, nothing to do
            raise errors.InvalidParameter("container cannot be connected to multiple networks with one of the "
                                          "networks in private (none) mode")
        if n["Name"] in nets and not c.State.Running:
            return  # dockerd keeps the config it has for a container that is not running
        if n["Name"] in nets:
            raise errors.Forbidden(f"endpoint with name {c.Name} already exists in network {n['Name']}")
        ep = self.endpoint_config(n, endpoint, mode)
        if c.State.Running:
            path = c.NetworkSettings.get("SandboxKey")
            if not path:
                raise errors.Forbidden(f"container {c.Id} has no network namespace of dockyard's to connect")
            used = {e.get("_ifname") for e in nets.values()}
            ifname = next(f"eth{i}" for i in range(len(nets) + 1) if f"eth{i}" not in used)
            self._ensure_bridge(n)
            self._plug(c, path, n, ep, ifname, default_route=False)
            nets[n["Name"]] = ep
            try:
                self.sync()
            except BaseException:
                netlinux.delete_link(ep["_veth"])
                del nets[n["Name"]]
                raise
            self.events.emit("network", "connect", n["Id"], {"container": c.Id, "name": n["Name"], "type": "bridge"})
            self._refresh_etc(c)
        else:
            nets[n["Name"]] = ep
        self.containers._save(c)

    def _refresh_etc(self, c: Any) -> None:
        """Rewrite a running container's /etc/hosts and resolv.conf in place (they are bind mounts).

        As dockerd: joining a user network brings its DNS server, leaving it takes it away.
        """
        hosts, resolv = self.etc_contents(c, c.Config.get("Hostname") or c.Id[:12])
        for path, text in ((c.HostsPath, hosts), (c.ResolvConfPath, resolv)):
            if path and os.path.exists(path):
                with open(path, "r+", encoding="utf-8") as f:
                    f.write(text)
                    f.truncate()

    def disconnect(self, ref: str, container_ref: str, force: bool = False) -> None:
        n = self.get(ref)
        c = self.containers.get(container_ref)
        nets = c.NetworkSettings.get("Networks") or {}
        name = next((k for k, ep in nets.items() if ep.get("NetworkID") == n["Id"]), None)
        if name is None and not c.State.Running:  # dockerd's words (and its 500) for a stopped container
            raise errors.SystemError_(f"container {c.Id} is not connected to the network {n['Name']}")
        if name is None:
            raise errors.Forbidden(f"container {c.Id} is not connected to network {n['Name']}")
        if n["Driver"] != "bridge":
            raise errors.Forbidden("container cannot be disconnected from host network or connected to host "
                                   "network")
        ep = nets.pop(name)
        if ep.get("_veth"):
            netlinux.delete_link(ep["_veth"])
        # dockerd logs it for a stopped container too (its connect logs nothing until the start)
        self.events.emit("network", "disconnect", n["Id"], {"container": c.Id, "name": n["Name"], "type": "bridge"})
        self.containers._save(c)
        self.sync()
        if c.State.Running:
            self._refresh_etc(c)

    # -- start-up / shutdown: the kernel state follows the records ------------------------
    def startup(self) -> None:
        """Keep what running containers use, remake user bridges, remove what belongs to nothing."""
        running = [c for c in self.containers.all() if c.State.Running]
        for c in self.containers.all():
            if not c.State.Running and (c.NetworkSettings or {}).get("SandboxKey"):
                self.detach(c)
                self.containers._save(c)
        keep = {ep.get("_veth") for c in running for _n, _nn, ep in self._bridged(c)}
        for n in self._networks.values():
            if n["Driver"] != "bridge":
                continue
            in_use = any(ep.get("EndpointID") for c, ep in self._endpoints_of(n) if c.State.Running)
            if n["Name"] != "bridge" or in_use:
                keep.add(n["_bridge"])
                if n["_bridge"] not in netlinux.links():
                    try:
                        self._make_bridge(n)
                    except errors.DockyardError as exc:
                        log.warning("network %s: %s", n["Name"], exc)
        for link in netlinux.links():
            if link.startswith((self.stem + "b", self.stem + "v")) and link not in keep:
                log.info("removing %s: no network or running container of ours uses it", link)
                netlinux.delete_link(link)
        if os.path.isdir(self.netns_dir):
            alive = {c.NetworkSettings.get("SandboxKey") for c in running}
            for name in os.listdir(self.netns_dir):
                path = os.path.join(self.netns_dir, name)
                if path not in alive:
                    netlinux.delete_netns(path)
        self.sync()

    def shutdown(self) -> None:
        """Containers outlive the daemon; bridges no running container uses go (startup remakes them)."""
        for n in self._networks.values():
            if n["Driver"] != "bridge":
                continue
            if not any(ep.get("EndpointID") for _c, ep in self._endpoints_of(n)):
                netlinux.delete_link(n["_bridge"])
        self.sync()
