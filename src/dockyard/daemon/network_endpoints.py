"""A container's side of networking: endpoints, published ports, DNS, /etc files.

Mixed into :class:`~dockyard.daemon.networks.NetworkService`.  ``configure``
checks a create request's networks (Docker's errors, before anything exists);
``attach`` runs just before the runtime starts the container: a persistent
netns file, one veth per network, the NAT/port table and the DNS records;
``detach`` undoes all of it when the container stops (and on a failed start).
The kernel state is a function of the records, so ``sync`` (nft + DNS) simply
renders it again, and ``startup`` removes whatever belongs to no container.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from dockyard import errors
from dockyard.network import etcfiles, firewall, ipam
from dockyard.network import linux as netlinux
from dockyard.network.dns import NO_UPSTREAM, Record, find_record, render_links, render_network
from dockyard.network.links import parse_link

log = logging.getLogger("dockyard.networks")

USER_IP_ONLY_WITH_SUBNET = ("user specified IP address is supported only when connecting to networks with user "
                            "configured subnets")
PORT_MODE_CONFLICT = "conflicting options: port publishing and the container type network mode"


def empty_endpoint(network_id: str) -> dict[str, Any]:
    return {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
            "GwPriority": 0, "NetworkID": network_id, "EndpointID": "", "Gateway": "", "IPAddress": "",
            "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
            "DNSNames": None}


def parse_port_key(key: str) -> tuple[int, str]:
    port, _, proto = key.partition("/")
    try:
        num = int(port)
    except ValueError:
        raise errors.InvalidParameter(f"invalid port specification: {key!r}") from None
    proto = proto or "tcp"
    if proto not in ("tcp", "udp", "sctp") or not 0 < num < 65536:
        raise errors.InvalidParameter(f"invalid port specification: {key!r}")
    if proto == "sctp":
        raise errors.InvalidParameter("sctp ports are not supported yet")
    return num, proto


class EndpointOps:
    """What the network service provides (see NetworkService)."""

    cfg: Any
    events: Any
    containers: Any
    stem: str
    table: str
    netns_dir: str
    dns: Any
    _networks: dict[str, dict[str, Any]]
    _applied: str = ""  # the nft script last applied (sync skips an identical one)

    def get(self, ref: str) -> dict[str, Any]:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def host_lock(self) -> Any:  # pragma: no cover
        raise NotImplementedError

    def _make_bridge(self, n: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def _taken_subnets(self, exclude: str = "") -> list[Any]:  # pragma: no cover
        raise NotImplementedError

    def _pools(self) -> list[tuple[str, int]]:  # pragma: no cover
        raise NotImplementedError

    def _save(self, n: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    # -- create time --------------------------------------------------------------------
    def endpoint_config(self, n: dict[str, Any], raw: dict[str, Any] | None, mode: str) -> dict[str, Any]:
        """One EndpointSettings from a create/connect request, checked against network ``n``."""
        raw = raw or {}
        ep = empty_endpoint(n["Id"])
        want = ((raw.get("IPAMConfig") or {}).get("IPv4Address") or "")
        want6 = ((raw.get("IPAMConfig") or {}).get("IPv6Address") or "")
        link_local = [str(a) for a in (raw.get("IPAMConfig") or {}).get("LinkLocalIPs") or []]
        for text in link_local:
            try:
                lla = ipam.parse_any_addr(text)
            except errors.InvalidParameter:
                lla = None
            if lla is None or not lla.is_link_local:
                raise errors.InvalidParameter(f"invalid link local IP address: {text}")
        if want:
            if n["Name"] in ("bridge", "host", "none") or not n.get("_user_subnet"):
                raise errors.InvalidParameter(USER_IP_ONLY_WITH_SUBNET)
            cfg = ipam.IPAMConfig.from_docker(n["IPAM"]["Config"][0])
            addr = ipam.parse_addr(want)
            if addr not in cfg.subnet:
                raise errors.InvalidParameter(f"no configured subnet or ip-range contain the IP address {want}")
            ep["IPAMConfig"] = {"IPv4Address": want}
        if want6:
            _v4, v6 = ipam.split_configs(n["IPAM"]["Config"])
            if not n.get("EnableIPv6") or v6 is None or n["Name"] == "bridge":
                raise errors.InvalidParameter(USER_IP_ONLY_WITH_SUBNET)
            addr6 = ipam.parse_any_addr(want6, "IPv6 address")
            if addr6.version != 6 or addr6 not in ipam.IPAMConfig.from_docker(v6).subnet:
                raise errors.InvalidParameter(f"no configured subnet or ip-range contain the IP address {want6}")
            ep["IPAMConfig"] = (ep["IPAMConfig"] or {}) | {"IPv6Address": want6}
        if link_local:  # added to the interface beside its address (see _plug)
            ep["IPAMConfig"] = (ep["IPAMConfig"] or {}) | {"LinkLocalIPs": link_local}
        aliases = [a for a in raw.get("Aliases") or [] if a]
        if aliases:
            if n["Name"] == "bridge":
                raise errors.InvalidParameter("network-scoped alias is supported only for containers in user "
                                              "defined networks")
            ep["Aliases"] = aliases
        if raw.get("Links"):
            if n["Name"] == "bridge":
                raise errors.InvalidParameter("links on the default bridge network are given at create "
                                              "(HostConfig.Links, docker run --link)")
            # container-scoped aliases, resolved by the DNS at query time: the target may come later
            ep["Links"] = [str(link) for link in raw["Links"]]
        if raw.get("DriverOpts"):
            # kept and shown as dockerd does; the bridge driver defines no endpoint option, so,
            # as with dockerd's bridge, there is nothing for them to change
            ep["DriverOpts"] = {str(k): str(v) for k, v in raw["DriverOpts"].items()}
        if raw.get("MacAddress"):
            ep["MacAddress"] = raw["MacAddress"]
            ep["_static_mac"] = True
        return ep

    def configure(self, config: dict[str, Any], hc: dict[str, Any],
                  networking: dict[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
        """The container's NetworkSettings.Networks at create, and warnings (Docker's checks)."""
        mode = hc.get("NetworkMode") or "default"
        eps = dict((networking or {}).get("EndpointsConfig") or {})
        ports = bool(hc.get("PortBindings")) or bool(hc.get("PublishAllPorts"))
        warnings: list[str] = []
        for server in hc.get("Dns") or []:  # they go into aardvark's files, where a bad one stops it for all
            ipam.parse_any_addr(str(server), "DNS server address")
        if hc.get("Links") and (mode.startswith("container:") or mode == "host"):
            kind = "container type network" if mode != "host" else "host type networking"
            raise errors.InvalidParameter(f"conflicting options: {kind} can't be used with links. This would "
                                          "result in undefined behavior")
        if mode.startswith("container:"):
            if ports:
                raise errors.InvalidParameter(PORT_MODE_CONFLICT)
            return {}, warnings
        if config.get("NetworkDisabled"):  # moby: no endpoint at all, the container has only lo
            return {}, warnings
        if mode in ("host", "none"):
            if ports:
                # dockerd accepts both (cri-dockerd creates every CNI pod sandbox with
                # NetworkMode none and the pod's ports, which CNI's portmap publishes);
                # the ports are dropped and the client is told, never silently kept
                hc["PortBindings"], hc["PublishAllPorts"] = None, False
                warnings.append(f"Published ports are discarded when using {mode} network mode")
            if config.get("MacAddress"):
                raise errors.InvalidParameter("conflicting options: mac-address and the network mode")
            for name, raw in eps.items():
                if name != mode and (raw or {}).get("IPAMConfig"):
                    raise errors.InvalidParameter(USER_IP_ONLY_WITH_SUBNET)
                ipam_cfg = (raw or {}).get("IPAMConfig") or {}
                if ipam_cfg.get("IPv4Address") or ipam_cfg.get("IPv6Address"):  # --ip with host/none: never kept
                    raise errors.InvalidParameter("user specified IP address is supported on user defined "
                                                  "networks only")
            self._check_link_targets(hc.get("Links") or [])
            n = self.get(mode)
            return {mode: empty_endpoint(n["Id"])}, warnings
        try:
            primary = self.get("bridge" if mode == "default" else mode)
        except errors.NotFound:
            # as dockerd: the container is created, its start answers "network X not found"
            return {mode: empty_endpoint("")}, warnings
        if primary["Driver"] != "bridge":
            raise errors.InvalidParameter("container cannot be disconnected from host network or connected to "
                                          "host network")
        out: dict[str, Any] = {}
        raw_primary = eps.pop(primary["Name"], None) or eps.pop(mode, None) or eps.pop(primary["Id"], None)
        if raw_primary is None and config.get("MacAddress"):
            raw_primary = {"MacAddress": config["MacAddress"]}
        out[primary["Name"]] = self.endpoint_config(primary, raw_primary, mode)
        if hc.get("Links") and primary["Name"] != "bridge":
            # as dockerd: on a user network the links move to its endpoint (inspect shows them there)
            ep = out[primary["Name"]]
            ep["Links"] = list(dict.fromkeys([*(ep.get("Links") or []), *(str(x) for x in hc["Links"])]))
            hc["Links"] = None
        elif hc.get("Links"):
            self._check_link_targets(hc["Links"])
        for name, raw in eps.items():
            try:
                n = self.get(name)
            except errors.NotFound:
                out[name] = empty_endpoint("")
                continue
            if n["Driver"] != "bridge":
                raise errors.InvalidParameter("container cannot be connected to network endpoints: "
                                              f"{primary['Name']}, {n['Name']}")
            out[n["Name"]] = self.endpoint_config(n, raw, mode)
        for key in hc.get("PortBindings") or {}:
            parse_port_key(key)
        return out, warnings

    def _check_link_targets(self, links: list[str]) -> None:
        """Legacy links name existing containers (dockerd's 400 at create)."""
        for link in links:
            target = parse_link(link)[0]
            try:
                self.containers.get(target)
            except errors.NotFound as exc:
                raise errors.InvalidParameter(f"could not get container for {target}: {exc}") from None

    def _check_links_running(self, c: Any) -> None:
        """Legacy links on the default bridge need their targets running (dockerd's 500 at start)."""
        for link in c.HostConfig.get("Links") or []:
            target, alias = parse_link(link)
            other = self.containers.get(target)
            if not other.State.Running:
                raise errors.SystemError_(f"Cannot link to a non running container: /{other.Name} AS "
                                          f"/{c.Name}/{alias}")

    # -- start / stop -------------------------------------------------------------------
    def netns_path(self, c: Any) -> str:
        return os.path.join(self.netns_dir, f"{self.cfg.name_prefix}-{c.Id[:12]}")

    def _bridged(self, c: Any) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(name, network, endpoint) of the container's bridge networks, in order."""
        out = []
        for name, ep in ((c.NetworkSettings or {}).get("Networks") or {}).items():
            n = self._networks.get(ep.get("NetworkID", ""))
            if n is not None and n["Driver"] == "bridge":
                out.append((name, n, ep))
        return out

    def _used_addresses(self, n: dict[str, Any], key: str = "IPAddress") -> set[ipam.AnyAddr]:
        """Addresses of ``n`` taken: ``IPAddress`` (and aux addresses) or ``GlobalIPv6Address``."""
        used: set[ipam.AnyAddr] = set()
        if key == "IPAddress":
            used = {ipam.Addr(a) for c in n["IPAM"]["Config"] for a in (c.get("AuxiliaryAddresses") or {}).values()}
        for c in self.containers.all():
            for ep in ((c.NetworkSettings or {}).get("Networks") or {}).values():
                if ep.get("NetworkID") == n["Id"] and ep.get(key):
                    used.add(ipam.parse_any_addr(ep[key]))
        return used

    def _ensure_bridge(self, n: dict[str, Any]) -> None:
        if n["_bridge"] in netlinux.links():
            return
        with self.host_lock():
            if n["Name"] == "bridge" and not self.cfg.bip:
                subnet = ipam.Net(n["IPAM"]["Config"][0]["Subnet"])
                taken = self._taken_subnets(exclude=n["Id"])
                if any(subnet.overlaps(t) for t in taken):  # another daemon took it meanwhile
                    subnet = ipam.pick_subnet(self._pools(), taken)
                    v6 = ipam.split_configs(n["IPAM"]["Config"])[1]
                    v4 = ipam.IPAMConfig(subnet, next(subnet.hosts())).to_docker()
                    n["IPAM"]["Config"] = [c for c in (v4, v6) if c]
                    self._save(n)
            self._make_bridge(n)

    def _port_rules(self, c: Any) -> list[list[Any]]:
        """[host_ip, host_port, proto, container_port] for -p and -P, host ports chosen and checked."""
        hc = c.HostConfig
        bindings: dict[str, list[dict[str, str]]] = {k: list(v or [{}]) for k, v in (hc.get("PortBindings") or {}).items()}
        if hc.get("PublishAllPorts"):
            for key in c.Config.get("ExposedPorts") or {}:
                bindings.setdefault(key, [{}])
        taken = {(r[0], r[1], r[2]) for other in self.containers.all() if other.Id != c.Id
                 for r in (other.NetworkSettings or {}).get("_ports") or []}
        rules = []
        for key, items in bindings.items():
            cport, proto = parse_port_key(key)
            for b in items:
                host_ip = (b or {}).get("HostIp") or ""
                if ":" in host_ip:
                    raise errors.InvalidParameter(f"IPv6 host addresses are not supported yet: {host_ip}")
                raw = str((b or {}).get("HostPort") or "")
                if raw == "0":  # -p 0:80 is -p 80: a port the kernel picks, as dockerd's allocator
                    raw = ""
                if "-" in raw:
                    lo, _, hi = raw.partition("-")
                    candidates = list(range(int(lo), int(hi) + 1))
                elif raw:
                    candidates = [int(raw)]
                else:
                    candidates = []
                shown = host_ip or "0.0.0.0"
                if not candidates:
                    port = netlinux.free_port(host_ip, proto)
                else:
                    port = next((p for p in candidates if not self._port_taken(taken, host_ip, p, proto)), 0)
                    if not port:
                        eid = self._endpoint_id(c, self._bridged(c)[0][1])  # dockerd names it with its ID
                        raise errors.SystemError_(f"driver failed programming external connectivity on endpoint "
                                                  f"{c.Name} ({eid}): Bind for {shown}:{candidates[0]} failed: "
                                                  "port is already allocated")
                taken.add((host_ip, port, proto))
                rules.append([host_ip, port, proto, cport])
        return rules

    @staticmethod
    def _port_taken(taken: set[tuple[str, int, str]], host_ip: str, port: int, proto: str) -> bool:
        wildcard = ("", "0.0.0.0", "::")  # -p 0.0.0.0:P:80 takes P on every address, as -p P:80 does
        for ip, p, pr in taken:
            if p == port and pr == proto and (ip in wildcard or host_ip in wildcard or ip == host_ip):
                return True
        return netlinux.port_in_use(host_ip, port, proto)

    def attach(self, c: Any) -> str | None:
        """Make the container's network before its start; the netns path for the spec (None: not ours)."""
        for name, ep in ((c.NetworkSettings or {}).get("Networks") or {}).items():
            if ep.get("NetworkID") not in self._networks:
                raise errors.NotFound(f"network {name} not found")
        bridged = self._bridged(c)
        if not bridged:
            c.NetworkSettings.pop("_ports", None)
            self._plain_endpoints(c, "connect")
            return None
        if bridged[0][1]["Name"] == "bridge":
            self._check_links_running(c)
        ports = self._port_rules(c)
        path = self.netns_path(c)
        made: list[str] = []
        try:
            for i, (name, n, ep) in enumerate(bridged):
                self._ensure_bridge(n)
                self._plug(c, path, n, ep, f"eth{i}", default_route=(i == 0 and not n["Internal"]),
                           new_netns=(i == 0))
                made.append(ep["_veth"])
            c.NetworkSettings["SandboxKey"] = path
            c.NetworkSettings["_ports"] = ports
            self.sync()
        except BaseException:
            for veth in made:
                netlinux.delete_link(veth)
            netlinux.delete_netns(path)
            for _name, _n, ep in bridged:
                self._unplug_record(ep)
            c.NetworkSettings.pop("_ports", None)
            c.NetworkSettings.pop("SandboxKey", None)
            self.sync()
            raise
        for name, n, _ep in bridged:
            self.events.emit("network", "connect", n["Id"], {"container": c.Id, "name": n["Name"], "type": "bridge"})
        if bridged[0][1]["Name"] == "bridge":
            self._refresh_linkers(c)
        return path

    def _refresh_linkers(self, c: Any) -> None:
        """Running containers with a legacy link to ``c`` get its new address in /etc/hosts (Docker's docs)."""
        for other in self.containers.all():
            if other.Id == c.Id or not other.State.Running or not other.HostConfig.get("Links"):
                continue
            for link in other.HostConfig["Links"]:
                try:
                    if self.containers.get(parse_link(link)[0]).Id == c.Id:
                        self._refresh_etc(other)
                        break
                except errors.NotFound:
                    continue

    def _refresh_etc(self, c: Any) -> None:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def _plug(self, c: Any, path: str, n: dict[str, Any], ep: dict[str, Any], ifname: str,
              default_route: bool, new_netns: bool = False) -> None:
        cfg = ipam.IPAMConfig.from_docker(n["IPAM"]["Config"][0])
        want = (ep.get("IPAMConfig") or {}).get("IPv4Address") or ""
        addr = ipam.allocate(cfg, self._used_addresses(n), want)
        mac = ep["MacAddress"] if ep.get("_static_mac") else ipam.mac_for(addr)
        _v4, v6 = ipam.split_configs(n["IPAM"]["Config"]) if n.get("EnableIPv6") else (None, None)
        addr6, cfg6 = None, None
        if v6 is not None:
            cfg6 = ipam.IPAMConfig.from_docker(v6)
            used6 = self._used_addresses(n, "GlobalIPv6Address")
            want6 = (ep.get("IPAMConfig") or {}).get("IPv6Address") or ""
            by_mac = ipam.mac_v6(cfg6.subnet, mac) if n["Name"] == "bridge" else None
            if not want6 and by_mac is not None and by_mac not in used6 and by_mac in cfg6.subnet:
                want6 = str(by_mac)  # dockerd's default bridge: the prefix and the MAC
            addr6 = ipam.allocate(cfg6, used6, want6)
        veth = netlinux.veth_name(self.stem, c.Id, n["Id"])
        if os.path.exists(f"/sys/class/net/{veth}"):
            # the previous run's pair, still going away with its namespace (detach does not wait
            # for it): a quick restart must not trip over it ("RTNETLINK answers: File exists")
            netlinux.delete_link(veth)
        netlinux.setup_endpoint(netlinux.Endpoint(
            netns=path, veth=veth, bridge=n["_bridge"], ifname=ifname, address=f"{addr}/{cfg.subnet.prefixlen}",
            gateway=str(cfg.gateway), mac=mac, mtu=n.get("_mtu") or self.cfg.mtu, default_route=default_route,
            address6=f"{addr6}/{cfg6.subnet.prefixlen}" if addr6 and cfg6 else "",
            gateway6=str(cfg6.gateway) if cfg6 else "",
            link_local=tuple(f"{a}/{64 if ':' in a else 16}"
                             for a in (ep.get("IPAMConfig") or {}).get("LinkLocalIPs") or [])),
            new_netns=new_netns)
        ep.update({"EndpointID": self._endpoint_id(c, n),
                   "Gateway": str(cfg.gateway), "IPAddress": str(addr), "IPPrefixLen": cfg.subnet.prefixlen,
                   "MacAddress": mac, "_veth": veth, "_ifname": ifname})
        if addr6 is not None and cfg6 is not None:
            ep.update({"GlobalIPv6Address": str(addr6), "GlobalIPv6PrefixLen": cfg6.subnet.prefixlen,
                       "IPv6Gateway": str(cfg6.gateway)})
        self._plug_names(c, n, ep)

    @staticmethod
    def _plug_names(c: Any, n: dict[str, Any], ep: dict[str, Any]) -> None:
        if n["Name"] != "bridge":
            ep["DNSNames"] = list(dict.fromkeys([c.Name, c.Id[:12], *(ep.get("Aliases") or [])]))

    def renamed(self, c: Any) -> None:
        """``docker rename`` of a running container: its name on user networks follows at once, as dockerd's."""
        for _name, n, ep in self._bridged(c):
            if ep.get("IPAddress"):
                self._plug_names(c, n, ep)
        self.sync()

    def _endpoint_id(self, c: Any, n: dict[str, Any]) -> str:
        """The container's endpoint on bridge network ``n`` (stable: a restart keeps it)."""
        veth = netlinux.veth_name(self.stem, c.Id, n["Id"])
        return hashlib.sha256(f"{c.Id}/{n['Id']}/{veth}".encode()).hexdigest()

    @staticmethod
    def _unplug_record(ep: dict[str, Any]) -> None:
        ep.update({"EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                   "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0})
        if not ep.get("_static_mac"):
            ep["MacAddress"] = ""
        ep.pop("_veth", None)
        ep.pop("_ifname", None)

    def _plain_endpoints(self, c: Any, action: str) -> None:
        """The none/host endpoint of a starting (``connect``) or stopped (``disconnect``) container:
        dockerd gives it an EndpointID while the container runs and logs both events (type null/host)."""
        for _name, ep in ((c.NetworkSettings or {}).get("Networks") or {}).items():
            n = self._networks.get(ep.get("NetworkID", ""))
            if n is None or n["Driver"] == "bridge" or (action == "disconnect" and not ep.get("EndpointID")):
                continue
            ep["EndpointID"] = hashlib.sha256(f"{c.Id}/{n['Id']}".encode()).hexdigest() if action == "connect" else ""
            self.events.emit("network", action, n["Id"], {"container": c.Id, "name": n["Name"], "type": n["Driver"]})

    def detach(self, c: Any) -> None:
        """Undo ``attach``: veths, netns file, ports, DNS records (also after a failed start)."""
        self._plain_endpoints(c, "disconnect")
        settings = c.NetworkSettings or {}
        veths = []
        for _name, n, ep in self._bridged(c):
            if ep.get("_veth"):
                veths.append(ep["_veth"])
                self.events.emit("network", "disconnect", n["Id"],
                                 {"container": c.Id, "name": n["Name"], "type": "bridge"})
            self._unplug_record(ep)
        if settings.get("SandboxKey"):
            # Unmounting drops the namespace's last reference: the kernel deletes it and its
            # veth pairs by itself (an `ip link del` waits ~25 ms for RCU); a thread makes sure.
            netlinux.delete_netns(settings.pop("SandboxKey"))
            netlinux.reap_links(veths)
        else:
            for veth in veths:
                try:
                    netlinux.delete_link(veth)
                except errors.DockyardError as exc:
                    log.warning("%s", exc)
        settings.pop("_ports", None)
        self.sync()

    def _endpoints_of(self, n: dict[str, Any]) -> list[tuple[Any, dict[str, Any]]]:  # pragma: no cover
        raise NotImplementedError

    # -- the kernel's view of the records ----------------------------------------------
    def sync(self) -> None:
        """Render the nft table and the DNS files from the records (idempotent)."""
        present = netlinux.links()
        bridges, ports, dns = [], [], {}
        for n in self._networks.values():
            if n["Driver"] != "bridge" or n["_bridge"] not in present:
                continue
            subnet = n["IPAM"]["Config"][0]["Subnet"]
            bridges.append(firewall.BridgeRules(n["_bridge"], subnet, bool(n["Internal"])))
            if n["Name"] != "bridge":
                dns.update(self._dns_files(n))
        for c in self.containers.all() if self.containers is not None else []:
            rules = (c.NetworkSettings or {}).get("_ports") or []
            bridged = self._bridged(c)
            if not rules or not bridged or not bridged[0][2].get("IPAddress"):
                continue
            ip = bridged[0][2]["IPAddress"]
            ports += [firewall.PortRule(r[0], r[1], r[2], ip, r[3]) for r in rules]
        script = firewall.render(self.table, bridges, ports)
        if script != self._applied:  # unchanged (a container without ports came or went): no nft run
            firewall.apply(script)
            self._applied = script
        self.dns.update(dns)

    def _dns_files(self, n: dict[str, Any]) -> dict[str, str]:
        """aardvark's files for user network ``n``: its own, and one per container with links on it."""
        live = [(c, ep) for c, ep in self._endpoints_of(n) if ep.get("IPAddress")]
        records = [Record(c.Id, ep["IPAddress"], tuple(ep.get("DNSNames") or ()), ep.get("GlobalIPv6Address") or "",
                          NO_UPSTREAM if n["Internal"] else tuple(self.dns_servers(c))) for c, ep in live]
        if not records:
            return {}
        gateway = n["IPAM"]["Config"][0]["Gateway"]
        out = {n["Id"][:12]: render_network(gateway, records)}
        for c, ep in live:
            targets = []
            for link in ep.get("Links") or []:
                target, alias = parse_link(link)
                found = find_record(records, target)
                if found is not None and alias.lower() != target.lower():
                    targets.append((alias, found))
            if targets:  # container-scoped names: see dns.render_links
                out[f"{n['Id'][:12]}-{c.Id[:12]}"] = render_links(c.Id, targets)
        return out

    def dns_servers(self, c: Any) -> list[str]:
        """The container's --dns servers, else the daemon's ``dns`` (Docker's order)."""
        return list(c.HostConfig.get("Dns") or self.cfg.dns or [])

    # -- /etc files and views for the container ------------------------------------------
    def etc_contents(self, c: Any, hostname: str) -> tuple[str, str]:
        """(/etc/hosts, /etc/resolv.conf) for the container, from its endpoints and options."""
        hc = c.HostConfig
        try:
            with open("/etc/resolv.conf", encoding="utf-8") as f:
                host_resolv = f.read()
        except OSError:
            host_resolv = ""
        bridged = self._bridged(c)
        own, links, embedded = [], [], None
        names = [hostname]
        domain = c.Config.get("Domainname") or ""
        if domain:
            names = [f"{hostname}.{domain}", hostname]
        for name, n, ep in bridged:
            if ep.get("IPAddress"):
                own.append((ep["IPAddress"], names))
                if ep.get("GlobalIPv6Address"):  # as dockerd: both of the first network's addresses
                    own.append((ep["GlobalIPv6Address"], names))
                break
        for name, n, ep in bridged:
            if n["Name"] != "bridge" and ep.get("IPAddress") and embedded is None:
                embedded = ep["Gateway"]
        for link in hc.get("Links") or []:
            target, _, alias = link.partition(":")
            alias = alias.rsplit("/", 1)[-1] if alias else ""
            try:
                other = self.containers.get(target.lstrip("/"))
            except errors.NotFound:
                continue
            eps = [ep for _nm, nn, ep in self._bridged(other) if nn["Name"] == "bridge" and ep.get("IPAddress")]
            if eps:
                links.append((eps[0]["IPAddress"], [x for x in (alias, other.Id[:12], other.Name) if x]))
        gw = self.get("bridge")["IPAM"]["Config"][0]["Gateway"]
        extra = etcfiles.extra_host_lines(hc.get("ExtraHosts") or [], gw)
        hosts = etcfiles.hosts_file(etcfiles.DEFAULT_HOSTS, extra, links, own)
        resolv = etcfiles.resolv_conf(host_resolv, self.dns_servers(c), hc.get("DnsSearch") or self.cfg.dns_search,
                                      hc.get("DnsOptions") or self.cfg.dns_opts, embedded)
        return hosts, resolv

    def link_env(self, c: Any) -> list[str]:
        """The environment of ``c``'s legacy links to running containers on the default bridge."""
        from dockyard.network.links import link_env, parse_link

        out: list[str] = []
        for link in c.HostConfig.get("Links") or []:
            target, alias = parse_link(link)
            try:
                other = self.containers.get(target)
            except errors.NotFound:
                continue
            eps = [ep for _nm, nn, ep in self._bridged(other) if nn["Name"] == "bridge" and ep.get("IPAddress")]
            if eps:
                out += link_env(c.Name, alias, eps[0]["IPAddress"], other.Config.get("ExposedPorts") or {},
                                other.Config.get("Env") or [])
        return out

    def ports_view(self, c: Any) -> dict[str, Any]:
        """NetworkSettings.Ports: every exposed or published port, with its host bindings."""
        out: dict[str, Any] = {}
        if not c.State.Running or not self._bridged(c):  # dockerd: ports exist while the sandbox does
            return out
        for key in c.Config.get("ExposedPorts") or {}:
            out[key if "/" in key else f"{key}/tcp"] = None
        for key in c.HostConfig.get("PortBindings") or {}:
            out.setdefault(key if "/" in key else f"{key}/tcp", None)
        for host_ip, port, proto, cport in (c.NetworkSettings or {}).get("_ports") or []:
            out.setdefault(f"{cport}/{proto}", None)
            key = f"{cport}/{proto}"
            out[key] = (out[key] or []) + [{"HostIp": host_ip or "0.0.0.0", "HostPort": str(port)}]
        return out

    def ports_summary(self, c: Any) -> list[dict[str, Any]]:
        """The Ports column of GET /containers/json."""
        out = []
        for key, bindings in self.ports_view(c).items():
            port, _, proto = key.partition("/")
            if not bindings:
                out.append({"PrivatePort": int(port), "Type": proto})
            for b in bindings or []:
                out.append({"IP": b["HostIp"], "PrivatePort": int(port), "PublicPort": int(b["HostPort"]),
                            "Type": proto})
        return out
