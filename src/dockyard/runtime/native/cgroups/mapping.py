"""OCI ``linux.resources`` -> cgroup file writes, for cgroup v1 and v2.

Pure functions over dicts: no I/O, so the v2 mapping is tested here even
though this machine runs v1.  Each write is a :class:`Write`
``(controller, file, value, field)``; ``field`` is the OCI field the value
came from, so an error can name what the user asked for
(``linux.resources.memory.limit``).  Only the keys present in ``resources``
produce writes, which makes the same functions serve ``update``.

Ordering that the kernel cares about (memory vs memory+swap on v1) needs the
current limit and is left to the v1 manager; the lists here are in a safe
default order.
"""

from __future__ import annotations

from dockyard.errors import InvalidParameter


class Write:
    """One control-file write.  (A plain class: ``typing`` costs start-up time.)"""

    __slots__ = ("controller", "file", "value", "field")

    def __init__(self, controller: str, file: str, value: str, field: str) -> None:
        self.controller = controller  # v1 controller ("memory", "cpu", ...); "" on v2
        self.file = file
        self.value = value
        self.field = field  # the OCI field, for error messages

    def _key(self) -> tuple[str, str, str, str]:
        return (self.controller, self.file, self.value, self.field)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Write) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Write({self.controller!r}, {self.file!r}, {self.value!r}, {self.field!r})"


DEFAULT_CPU_PERIOD = 100000


def _int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameter(f"{field} must be an integer, not {value!r}")
    return value


def _dev(entry: dict, field: str) -> str:
    try:
        return f"{_int(entry['major'], field + '.major')}:{_int(entry['minor'], field + '.minor')}"
    except KeyError as exc:
        raise InvalidParameter(f"{field} needs {exc.args[0]!r}") from None


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) -> cgroup v2 cpu.weight (1..10000), as runc/crun convert."""
    if shares == 0:
        return 0
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_weight_to_io_weight(weight: int) -> int:
    """blkio.weight (10..1000) -> io.weight (1..10000), linear like runc's converter."""
    if weight == 0:
        return 0
    return 1 + ((weight - 10) * 9999) // 990


def swap_to_v2(swap: int, limit: int | None) -> int:
    """OCI memory.swap is memory+swap; v2 memory.swap.max is swap alone.

    Returns -1 for unlimited.  Raises if the combination cannot be expressed.
    """
    if swap == -1:
        return -1
    if limit is None or limit in (0, -1):
        raise InvalidParameter(
            "linux.resources.memory.swap needs a memory limit too (memory+swap is a total)")
    if swap < limit:
        raise InvalidParameter(
            f"memory+swap limit {swap} must not be smaller than the memory limit {limit}")
    return swap - limit


def _device_rule(rule: dict, i: int) -> tuple[bool, str]:
    field = f"linux.resources.devices[{i}]"
    if not isinstance(rule, dict):
        raise InvalidParameter(f"{field} must be an object")
    allow = rule.get("allow")
    if not isinstance(allow, bool):
        raise InvalidParameter(f"{field}.allow must be true or false")
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise InvalidParameter(f'{field}.type must be "a", "b" or "c", not {kind!r}')
    major = rule.get("major")
    minor = rule.get("minor")
    access = rule.get("access") or "rwm"
    if not access or any(ch not in "rwm" for ch in access):
        raise InvalidParameter(f"{field}.access must be letters of \"rwm\", not {access!r}")
    maj = "*" if major is None or major == -1 else str(_int(major, field + ".major"))
    mnr = "*" if minor is None or minor == -1 else str(_int(minor, field + ".minor"))
    if kind == "a":
        return allow, "a"
    return allow, f"{kind} {maj}:{mnr} {access}"


def v1_writes(resources: dict | None) -> list[Write]:
    """The v1 writes for ``resources`` (OCI ``linux.resources``)."""
    r = resources or {}
    if not isinstance(r, dict):
        raise InvalidParameter("linux.resources must be an object")
    out: list[Write] = []
    mem = r.get("memory") or {}
    if mem:
        f = "linux.resources.memory."
        if "reservation" in mem:
            out.append(Write("memory", "memory.soft_limit_in_bytes", str(_int(mem["reservation"], f + "reservation")), f + "reservation"))
        if "limit" in mem:
            out.append(Write("memory", "memory.limit_in_bytes", str(_int(mem["limit"], f + "limit")), f + "limit"))
        if "swap" in mem:
            swap = _int(mem["swap"], f + "swap")
            limit = mem.get("limit")
            if swap not in (0, -1) and isinstance(limit, int) and limit > 0 and swap < limit:
                raise InvalidParameter(
                    f"memory+swap limit {swap} must not be smaller than the memory limit {limit}")
            if swap != 0:
                out.append(Write("memory", "memory.memsw.limit_in_bytes", str(swap), f + "swap"))
        if mem.get("swappiness") is not None:
            sw = _int(mem["swappiness"], f + "swappiness")
            if not 0 <= sw <= 100:
                raise InvalidParameter(f"invalid memory swappiness {sw}: it must be between 0 and 100")
            out.append(Write("memory", "memory.swappiness", str(sw), f + "swappiness"))
        if mem.get("disableOOMKiller"):
            out.append(Write("memory", "memory.oom_control", "1", f + "disableOOMKiller"))
        # kernel / kernelTCP: kernel memory limits are gone from current kernels; ignored as runc does.
    cpu = r.get("cpu") or {}
    if cpu:
        f = "linux.resources.cpu."
        if cpu.get("shares"):
            out.append(Write("cpu", "cpu.shares", str(_int(cpu["shares"], f + "shares")), f + "shares"))
        if cpu.get("period"):
            out.append(Write("cpu", "cpu.cfs_period_us", str(_int(cpu["period"], f + "period")), f + "period"))
        if cpu.get("quota"):
            out.append(Write("cpu", "cpu.cfs_quota_us", str(_int(cpu["quota"], f + "quota")), f + "quota"))
        if cpu.get("realtimePeriod"):
            out.append(Write("cpu", "cpu.rt_period_us", str(_int(cpu["realtimePeriod"], f + "realtimePeriod")), f + "realtimePeriod"))
        if cpu.get("realtimeRuntime"):
            out.append(Write("cpu", "cpu.rt_runtime_us", str(_int(cpu["realtimeRuntime"], f + "realtimeRuntime")), f + "realtimeRuntime"))
        if cpu.get("idle") is not None:
            out.append(Write("cpu", "cpu.idle", str(_int(cpu["idle"], f + "idle")), f + "idle"))
        if cpu.get("cpus"):
            out.append(Write("cpuset", "cpuset.cpus", str(cpu["cpus"]), f + "cpus"))
        if cpu.get("mems"):
            out.append(Write("cpuset", "cpuset.mems", str(cpu["mems"]), f + "mems"))
    pids = r.get("pids") or {}
    if "limit" in pids:
        limit = _int(pids["limit"], "linux.resources.pids.limit")
        if limit != 0:  # 0 means "not set" (runc); negative means unlimited
            out.append(Write("pids", "pids.max", str(limit) if limit > 0 else "max", "linux.resources.pids.limit"))
    out.extend(_v1_blkio(r.get("blockIO") or {}))
    for i, h in enumerate(r.get("hugepageLimits") or []):
        f = f"linux.resources.hugepageLimits[{i}]"
        size = h.get("pageSize")
        if not isinstance(size, str) or not size:
            raise InvalidParameter(f"{f}.pageSize must be a size like \"2MB\"")
        out.append(Write("hugetlb", f"hugetlb.{size}.limit_in_bytes", str(_int(h.get("limit"), f + ".limit")), f + ".limit"))
    net = r.get("network") or {}
    if net.get("classID") is not None:
        out.append(Write("net_cls", "net_cls.classid", str(_int(net["classID"], "linux.resources.network.classID")), "linux.resources.network.classID"))
    for i, p in enumerate(net.get("priorities") or []):
        out.append(Write("net_prio", "net_prio.ifpriomap", f"{p['name']} {_int(p['priority'], 'priority')}", f"linux.resources.network.priorities[{i}]"))
    if r.get("devices") is not None:
        for i, rule in enumerate(r["devices"]):
            allow, text = _device_rule(rule, i)
            out.append(Write("devices", "devices.allow" if allow else "devices.deny", text, f"linux.resources.devices[{i}]"))
    if r.get("unified"):
        raise InvalidParameter("linux.resources.unified needs cgroup v2; this host runs cgroup v1")
    return out


def _v1_blkio(b: dict) -> list[Write]:
    out: list[Write] = []
    f = "linux.resources.blockIO."
    if b.get("weight"):
        out.append(Write("blkio", "blkio.weight", str(_int(b["weight"], f + "weight")), f + "weight"))
    if b.get("leafWeight"):
        out.append(Write("blkio", "blkio.leaf_weight", str(_int(b["leafWeight"], f + "leafWeight")), f + "leafWeight"))
    for i, d in enumerate(b.get("weightDevice") or []):
        field = f"{f}weightDevice[{i}]"
        if d.get("weight"):
            out.append(Write("blkio", "blkio.weight_device", f"{_dev(d, field)} {_int(d['weight'], field)}", field))
        if d.get("leafWeight"):
            out.append(Write("blkio", "blkio.leaf_weight_device", f"{_dev(d, field)} {_int(d['leafWeight'], field)}", field))
    for key, file in (("throttleReadBpsDevice", "read_bps_device"), ("throttleWriteBpsDevice", "write_bps_device"),
                      ("throttleReadIOPSDevice", "read_iops_device"), ("throttleWriteIOPSDevice", "write_iops_device")):
        for i, d in enumerate(b.get(key) or []):
            field = f"{f}{key}[{i}]"
            out.append(Write("blkio", f"blkio.throttle.{file}", f"{_dev(d, field)} {_int(d.get('rate'), field + '.rate')}", field))
    return out


def v2_writes(resources: dict | None) -> list[Write]:
    """The v2 writes for ``resources``; all go to the one unified directory."""
    r = resources or {}
    if not isinstance(r, dict):
        raise InvalidParameter("linux.resources must be an object")
    out: list[Write] = []
    mem = r.get("memory") or {}
    if mem:
        f = "linux.resources.memory."
        limit = mem.get("limit")
        if "reservation" in mem:
            res = _int(mem["reservation"], f + "reservation")
            out.append(Write("", "memory.low", "max" if res == -1 else str(res), f + "reservation"))
        if "swap" in mem and _int(mem["swap"], f + "swap") != 0:
            swap = swap_to_v2(mem["swap"], limit)
            out.append(Write("", "memory.swap.max", "max" if swap == -1 else str(swap), f + "swap"))
        if limit is not None and _int(limit, f + "limit") != 0:
            out.append(Write("", "memory.max", "max" if limit == -1 else str(limit), f + "limit"))
        # swappiness, disableOOMKiller, kernel*: no v2 files; ignored as runc does.
    cpu = r.get("cpu") or {}
    if cpu:
        f = "linux.resources.cpu."
        if cpu.get("shares"):
            out.append(Write("", "cpu.weight", str(shares_to_weight(_int(cpu["shares"], f + "shares"))), f + "shares"))
        quota = cpu.get("quota") or 0
        period = cpu.get("period") or 0
        if quota or period:
            q = "max" if _int(quota, f + "quota") <= 0 else str(quota)
            p = _int(period, f + "period") or DEFAULT_CPU_PERIOD
            out.append(Write("", "cpu.max", f"{q} {p}", f + "quota"))
        if cpu.get("idle") is not None:
            out.append(Write("", "cpu.idle", str(_int(cpu["idle"], f + "idle")), f + "idle"))
        if cpu.get("realtimePeriod") or cpu.get("realtimeRuntime"):
            raise InvalidParameter("realtime CPU limits (cpu.realtimePeriod/realtimeRuntime) are not supported on cgroup v2")
        if cpu.get("cpus"):
            out.append(Write("", "cpuset.cpus", str(cpu["cpus"]), f + "cpus"))
        if cpu.get("mems"):
            out.append(Write("", "cpuset.mems", str(cpu["mems"]), f + "mems"))
    pids = r.get("pids") or {}
    if "limit" in pids:
        limit = _int(pids["limit"], "linux.resources.pids.limit")
        if limit != 0:
            out.append(Write("", "pids.max", str(limit) if limit > 0 else "max", "linux.resources.pids.limit"))
    out.extend(_v2_io(r.get("blockIO") or {}))
    for i, h in enumerate(r.get("hugepageLimits") or []):
        f = f"linux.resources.hugepageLimits[{i}]"
        size = h.get("pageSize")
        if not isinstance(size, str) or not size:
            raise InvalidParameter(f"{f}.pageSize must be a size like \"2MB\"")
        out.append(Write("", f"hugetlb.{size}.max", str(_int(h.get("limit"), f + ".limit")), f + ".limit"))
    # linux.resources.devices: v2 enforces devices with an eBPF program, not files;
    # validated here, enforced by the runtime's own /dev (see v2.py).
    for i, rule in enumerate(r.get("devices") or []):
        _device_rule(rule, i)
    for key, value in (r.get("unified") or {}).items():
        if not isinstance(key, str) or "/" in key or key.startswith(".") or "." not in key:
            raise InvalidParameter(f"invalid cgroup v2 file name {key!r} in linux.resources.unified")
        out.append(Write("", key, str(value), f"linux.resources.unified[{key!r}]"))
    return out


def _v2_io(b: dict) -> list[Write]:
    out: list[Write] = []
    f = "linux.resources.blockIO."
    if b.get("weight"):
        w = _int(b["weight"], f + "weight")
        out.append(Write("", "io.weight", f"default {blkio_weight_to_io_weight(w)}", f + "weight"))
    for i, d in enumerate(b.get("weightDevice") or []):
        field = f"{f}weightDevice[{i}]"
        if d.get("weight"):
            out.append(Write("", "io.weight", f"{_dev(d, field)} {blkio_weight_to_io_weight(_int(d['weight'], field))}", field))
    for key, name in (("throttleReadBpsDevice", "rbps"), ("throttleWriteBpsDevice", "wbps"),
                      ("throttleReadIOPSDevice", "riops"), ("throttleWriteIOPSDevice", "wiops")):
        for i, d in enumerate(b.get(key) or []):
            field = f"{f}{key}[{i}]"
            out.append(Write("", "io.max", f"{_dev(d, field)} {name}={_int(d.get('rate'), field + '.rate')}", field))
    return out
