"""Read-only views of containers in Docker's JSON shapes: list (ps) and inspect."""

from __future__ import annotations

import re
import time
from typing import Any

import hashlib

from dockyard import errors
from dockyard.daemon.containers.config import (CONFIG_DEFAULTS, HOST_CONFIG_DEFAULTS, OMITEMPTY_CONFIG,
                                              OMITEMPTY_HOST_CONFIG, with_defaults)
from dockyard.daemon.containers.logdetails import log_file
from dockyard.daemon.filters import labels_match
from dockyard.daemon.containers.model import ZERO_TIME, Container, parse_rfc3339

LIST_FILTERS = {"id", "name", "label", "status", "ancestor", "exited", "before", "since", "volume",
                "network", "health", "publish", "expose", "is-task"}
STATUSES = ("created", "running", "paused", "restarting", "removing", "exited", "dead")


HEALTH_VALUES = ("starting", "healthy", "unhealthy", "none")


def match_is_task(c: Container, filters: dict[str, list[str]]) -> bool:
    """moby's ``is-task`` filter: a task is a container swarm made (never one here, but the label says)."""
    for value in filters.get("is-task", []):
        is_task = "com.docker.swarm.task.id" in (c.Config.get("Labels") or {})
        if is_task != (value == "true"):
            return False
    return True


def parse_port_filter(value: str) -> set[str]:
    """``8080``, ``8080/udp`` or ``8000-8010/tcp`` → the ``port/proto`` keys it names."""
    ports, _, proto = value.partition("/")
    lo, _, hi = ports.partition("-")
    if not lo.isdigit() or (hi and not hi.isdigit()) or (proto and proto not in ("tcp", "udp", "sctp")):
        raise errors.InvalidParameter(f"invalid port filter: {value!r}")
    first, last = int(lo), int(hi or lo)
    if last < first or last > 65535:
        raise errors.InvalidParameter(f"invalid port filter: {value!r}")
    return {f"{p}/{proto or 'tcp'}" for p in range(first, last + 1)}


def match_ports(ports: list[dict[str, Any]], filters: dict[str, list[str]]) -> bool:
    """moby's ``publish``/``expose`` filters, over the Ports column of ``ps``."""
    publish = set().union(*(parse_port_filter(v) for v in filters.get("publish", [])))
    expose = set().union(*(parse_port_filter(v) for v in filters.get("expose", [])))
    for port in ports:
        if port.get("PublicPort") and f"{port['PublicPort']}/{port['Type']}" in publish:
            return True
        if f"{port['PrivatePort']}/{port['Type']}" in expose:
            return True
    return False


def match_labels(c: Container, filters: dict[str, list[str]]) -> bool:
    return labels_match(c.Config.get("Labels") or {}, filters)


def parse_until(values: list[str] | None) -> str | None:
    """``until`` of prune as an RFC3339 string bound (moby's GetTimestamp: a duration, a date, unix seconds)."""
    if not values:
        return None
    from dockyard.daemon.timestamps import get_timestamp

    ts = get_timestamp(values[0], time.time(), time.localtime().tm_gmtoff)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts))


def command_line(c: Container) -> str:
    """The list's Command as dockerd builds it: the path, then the arguments with an argument
    holding a space wrapped in single quotes (``sh -c 'echo a'``; no further escaping)."""
    if not c.Path:
        return ""
    return " ".join([c.Path, *(f"'{a}'" if " " in a else a for a in c.Args)])


def go_time(text: str) -> str:
    """An RFC3339 timestamp as Go's RFC3339Nano prints it: no trailing zeros in the fraction."""
    main, dot, rest = text.partition(".")
    if not dot or not rest.endswith("Z"):
        return text
    frac = rest[:-1].rstrip("0")
    return f"{main}.{frac}Z" if frac else f"{main}Z"


def network_id(name: str) -> str:
    """A stable 64-hex ID for a built-in network (none, host) until network objects exist."""
    return hashlib.sha256(f"dockyard-network:{name}".encode()).hexdigest()


def networks_of(c: Container) -> dict[str, Any]:
    """NetworkSettings.Networks: one endpoint per attached network, in moby's EndpointSettings shape.

    Only the built-in ``none`` and ``host`` modes can be attached today; dockerd
    fills NetworkID once the container has started.
    """
    nets = (c.NetworkSettings or {}).get("Networks")
    if nets:  # as dockerd, the NetworkID shows once the container has been connected (started)
        unset = {"NetworkID": ""} if c.State.StartedAt == ZERO_TIME else {}
        return {name: {k: v for k, v in ep.items() if not k.startswith("_")} | unset for name, ep in nets.items()}
    mode = c.HostConfig.get("NetworkMode") or "default"
    if mode not in ("none", "host"):
        return {}
    started = c.State.StartedAt != ZERO_TIME
    return {mode: {"IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
                   "GwPriority": 0, "NetworkID": network_id(mode) if started else "", "EndpointID": "",
                   "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "",
                   "GlobalIPv6PrefixLen": 0, "DNSNames": None}}


def mounts_of(c: Container) -> list[dict[str, Any]]:
    """``Mounts`` of inspect and ps: the container's mount points (a record older than
    mount points: its Binds and Mounts)."""
    from dockyard.volume.mountpoints import host_mount_points, public

    points = c.MountPoints
    if not points:
        try:
            points = host_mount_points(c.HostConfig, lambda path: True)
        except errors.InvalidParameter:
            points = []
    return [public(mp) for mp in points]


class ContainerViews:
    """Mixed into ContainerService: the query side."""

    def all(self) -> list[Container]:  # pragma: no cover - provided by the service
        raise NotImplementedError

    def get(self, ref: str) -> Container:  # pragma: no cover - provided by the service
        raise NotImplementedError

    images: Any
    networks: Any = None  # the network service: published ports
    exec_lookup: Any = None  # set by build_backends: container id → running exec ids

    def list_containers(self, all_: bool = False, limit: int | None = None, size: bool = False,
                        filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
        filters = filters or {}
        for key in filters:
            if key not in LIST_FILTERS:
                raise errors.InvalidParameter(f"invalid filter '{key}'")
        for status in filters.get("status", []):
            if status not in STATUSES:
                raise errors.InvalidParameter(
                    f"invalid filter 'status={status}': invalid value for state ({status}): must be one of "
                    "created, running, paused, restarting, removing, exited, dead")
        if any(v not in ("true", "false") for v in filters.get("is-task", [])):
            # checked before any container is looked at; the values as Go's %s of a []string
            raise errors.InvalidParameter(f"Invalid filter 'is-task=[{' '.join(filters['is-task'])}]'")
        items = sorted(self.all(), key=lambda c: c.Created, reverse=True)
        if limit is not None and limit > 0:
            all_ = True
        if "status" in filters:  # moby: status implies --all; exited does not (it filters running ones)
            all_ = True
        before = self._bound(filters.get("before"))
        since = self._bound(filters.get("since"))
        out = []
        for c in items:
            if not all_ and not (c.State.Running or c.State.Restarting):
                continue
            if before is not None and c.Created >= before:
                continue
            if since is not None and c.Created <= since:
                continue
            if not self._matches(c, filters):
                continue
            out.append(self.summary(c, size))
            if limit is not None and 0 < limit <= len(out):
                break
        return out

    def _bound(self, refs: list[str] | None) -> str | None:
        if not refs:
            return None
        try:
            return self.get(refs[0]).Created
        except errors.NotFound:  # moby's container view words it so for a list filter
            raise errors.NotFound(f"no such container {refs[0]}") from None

    def _matches(self, c: Container, filters: dict[str, list[str]]) -> bool:
        if "id" in filters and not any(c.Id.startswith(v) for v in filters["id"]):
            return False
        if "name" in filters and not any(re.search(v.lstrip("/"), c.Name) for v in filters["name"]):
            return False
        if "status" in filters and c.State.Status not in filters["status"]:
            return False
        if "exited" in filters:
            if c.State.Status != "exited":
                return False
            try:
                codes = {int(v) for v in filters["exited"]}
            except ValueError:
                raise errors.InvalidParameter(f"invalid filter 'exited={filters['exited'][0]}'") from None
            if c.State.ExitCode not in codes:
                return False
        if "ancestor" in filters:
            ok = False
            for ref in filters["ancestor"]:
                try:
                    if self.images.resolve(ref).id == c.Image:
                        ok = True
                except errors.NotFound:
                    continue
            if not ok:
                return False
        if not match_labels(c, filters):
            return False
        if "health" in filters:
            from dockyard.daemon.containers.health import health_filter_matches

            for value in filters["health"]:
                if value not in HEALTH_VALUES:
                    raise errors.InvalidParameter(f"Unrecognised filter value for health: {value}")
            if not health_filter_matches(c, filters["health"]):
                return False
        if "volume" in filters:
            dests = {m[k] for m in mounts_of(c) for k in ("Destination", "Source", "Name") if m.get(k)}
            if not any(v in dests for v in filters["volume"]):
                return False
        if not match_is_task(c, filters):
            return False
        if ("publish" in filters or "expose" in filters) and not match_ports(self.ports_of(c), filters):
            return False
        if "network" in filters:
            mode = c.HostConfig.get("NetworkMode") or "default"
            names = {mode, "bridge" if mode == "default" else mode}
            for name, ep in networks_of(c).items():
                names |= {name, ep.get("NetworkID") or name}
            if not any(v in names for v in filters["network"]):
                return False
        return True

    def summary(self, c: Container, size: bool = False) -> dict[str, Any]:
        """One row of GET /containers/json."""
        net_mode = c.HostConfig.get("NetworkMode") or "default"
        item: dict[str, Any] = {
            "Id": c.Id, "Names": [f"/{c.Name}"], "Image": c.ImageRef, "ImageID": c.Image,
            "Command": command_line(c), "Created": int(parse_rfc3339(c.Created)), "Ports": self.ports_of(c),
            "Labels": c.Config.get("Labels") or {}, "State": c.State.Status, "Status": c.State.summary(),
            "HostConfig": {"NetworkMode": net_mode}, "NetworkSettings": {"Networks": networks_of(c)},
            "Mounts": mounts_of(c),
        }
        if size:
            item["SizeRw"] = self._size_rw(c)
            item["SizeRootFs"] = item["SizeRw"] + self._image_size(c)
        return item

    def _image_size(self, c: Container) -> int:
        """The image's size: SizeRootFs is the RW layer plus the image ("0B (virtual 1.99MB)")."""
        try:
            return int(self.images.resolve(c.Image).size)
        except (errors.NotFound, AttributeError, TypeError, ValueError):
            return 0

    def _size_rw(self, c: Container) -> int:
        try:
            return int(self.images.layers.get_rw(c.Id).size_rw())
        except (errors.NotFound, OSError):
            return 0

    def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        """GET /containers/{id}/json."""
        c = self.get(ref)
        try:
            graph = self.images.layers.get_rw(c.Id).graphdriver_data()
        except errors.NotFound:
            graph = {}
        state = dict(vars(c.State))
        if c.State.Restarting:  # dockerd counts a restarting container as running
            state["Running"] = True
        if state.get("Health") is None:  # omitempty: only a container with a check has it
            state.pop("Health", None)
        state["StartedAt"], state["FinishedAt"] = go_time(c.State.StartedAt), go_time(c.State.FinishedAt)
        data: dict[str, Any] = {
            "Id": c.Id, "Created": go_time(c.Created), "Path": c.Path, "Args": c.Args, "State": state,
            "Image": c.Image, "ResolvConfPath": c.ResolvConfPath, "HostnamePath": c.HostnamePath,
            "HostsPath": c.HostsPath, "LogPath": c.LogPath if c.State.StartedAt != ZERO_TIME and log_file(c) == c.LogPath else "",
            "Name": f"/{c.Name}",
            "RestartCount": c.RestartCount, "Driver": "overlay2", "Platform": "linux", "MountLabel": "",
            "ProcessLabel": "", "AppArmorProfile": "",
            "ExecIDs": self.exec_lookup(c.Id) if self.exec_lookup else None,
            "HostConfig": with_defaults(c.HostConfig, HOST_CONFIG_DEFAULTS, OMITEMPTY_HOST_CONFIG),
            "GraphDriver": {"Name": "overlay2", "Data": graph}, "Mounts": mounts_of(c),
            "Config": with_defaults({**c.Config, "Image": c.ImageRef,
                                     "Hostname": c.Config.get("Hostname") or c.Id[:12]},
                                    CONFIG_DEFAULTS, OMITEMPTY_CONFIG),
            "NetworkSettings": self._network_settings(c),
        }
        if c.DockyardStart:  # dockyard only: where the last start's time went (containers/timing.py)
            data["DockyardStart"] = c.DockyardStart
        if size:
            data["SizeRw"] = self._size_rw(c)
            data["SizeRootFs"] = data["SizeRw"] + self._image_size(c)
        return data

    def ports_of(self, c: Container) -> list[dict[str, Any]]:
        """The Ports column: published and exposed ports (none in the none and host modes, as dockerd)."""
        return self.networks.ports_summary(c) if self.networks else []

    def _network_settings(self, c: Container) -> dict[str, Any]:
        """Docker's NetworkSettings; the top-level address fields describe the default bridge's endpoint."""
        nets = networks_of(c)
        sandbox = (c.NetworkSettings or {}).get("SandboxKey") or ""
        default = nets.get("bridge") or {}
        return {"Bridge": "", "SandboxID": hashlib.sha256(sandbox.encode()).hexdigest() if sandbox else "",
                "SandboxKey": sandbox, "Ports": self.networks.ports_view(c) if self.networks else {},
                "HairpinMode": False, "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
                "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
                "EndpointID": default.get("EndpointID", ""), "Gateway": default.get("Gateway", ""),
                "GlobalIPv6Address": default.get("GlobalIPv6Address", ""),
                "GlobalIPv6PrefixLen": default.get("GlobalIPv6PrefixLen", 0), "IPAddress": default.get("IPAddress", ""),
                "IPPrefixLen": default.get("IPPrefixLen", 0), "IPv6Gateway": default.get("IPv6Gateway", ""),
                "MacAddress": default.get("MacAddress", ""), "Networks": nets}
