"""``docker stats``: a container's usage read from its cgroup (v1 or v2) and its network namespace.

The engine reads the kernel's files itself, without the runtime package: the
container's cgroups come from ``/proc/<pid>/cgroup`` (so they are right
whichever runtime made them), falling back to the cgroup path the engine gave
the runtime.  Each reader takes the text of the files (sans-I/O parsers over a
``read(path) -> str | None``), so a fake tree of files tests both versions.

A file the kernel does not have (``memory.max_usage_in_bytes`` on v2,
``blkio.throttle.*`` without the block controller, ``cpu.stat`` fields of an
older kernel) is absent from the result, never an error: Go's ``omitempty``
fields are left out, and the counters dockerd always shows read as zero.
The shape is moby's ``container.StatsResponse``.
"""

from __future__ import annotations

import os
from typing import Any, Callable

Reader = Callable[[str], "str | None"]

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "blkio", "cpuset")
UNLIMITED = 1 << 62  # v1 prints "no limit" as 9223372036854771712 (PAGE_COUNTER_MAX pages)
BLKIO_KEYS = ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
              "io_time_recursive", "sectors_recursive")
NET_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped", "tx_bytes", "tx_packets", "tx_errors",
              "tx_dropped")


def read_file(path: str) -> str | None:
    """A kernel file's text; None when it does not exist (or cannot be read) on this host."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _int(text: str | None) -> int | None:
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def flat_keyed(text: str | None) -> dict[str, int]:
    """``key value`` lines (memory.stat, cpu.stat, cpuacct.stat) as a dict; bad lines skipped."""
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` → {controller: path}; the v2 entry under the key ``""``."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for ctrl in parts[1].split(",") if parts[1] else [""]:
            out[ctrl] = parts[2]
    return out


def cgroup_dirs(root: str, proc_cgroup: dict[str, str], fallback: str, v2: bool) -> dict[str, str]:
    """The directory of each controller (v1) or the one directory under key ``""`` (v2)."""
    if v2:
        return {"": os.path.join(root, (proc_cgroup.get("") or fallback).lstrip("/"))}
    return {ctrl: os.path.join(root, ctrl, (proc_cgroup.get(ctrl) or fallback).lstrip("/"))
            for ctrl in V1_CONTROLLERS}


# -- cpu ------------------------------------------------------------------------------------------
def cpu_v1(read: Reader, cpuacct: str, cpu: str, clk_tck: int) -> dict[str, Any]:
    usage: dict[str, Any] = {"total_usage": _int(read(f"{cpuacct}/cpuacct.usage")) or 0}
    percpu = read(f"{cpuacct}/cpuacct.usage_percpu")
    if percpu is not None:
        usage["percpu_usage"] = [int(v) for v in percpu.split()] or None
        if usage["percpu_usage"] is None:
            del usage["percpu_usage"]
    ticks = flat_keyed(read(f"{cpuacct}/cpuacct.stat"))
    usage["usage_in_kernelmode"] = ticks.get("system", 0) * 1_000_000_000 // clk_tck
    usage["usage_in_usermode"] = ticks.get("user", 0) * 1_000_000_000 // clk_tck
    stat = flat_keyed(read(f"{cpu}/cpu.stat"))
    return {"cpu_usage": usage, "throttling_data": {"periods": stat.get("nr_periods", 0),
                                                     "throttled_periods": stat.get("nr_throttled", 0),
                                                     "throttled_time": stat.get("throttled_time", 0)}}


def cpu_v2(read: Reader, d: str) -> dict[str, Any]:
    stat = flat_keyed(read(f"{d}/cpu.stat"))
    usage = {"total_usage": stat.get("usage_usec", 0) * 1000,
             "usage_in_kernelmode": stat.get("system_usec", 0) * 1000,
             "usage_in_usermode": stat.get("user_usec", 0) * 1000}
    return {"cpu_usage": usage, "throttling_data": {"periods": stat.get("nr_periods", 0),
                                                     "throttled_periods": stat.get("nr_throttled", 0),
                                                     "throttled_time": stat.get("throttled_usec", 0) * 1000}}


def system_cpu_usage(proc_stat: str | None, clk_tck: int) -> int:
    """The host's CPU time in ns: the first seven fields of /proc/stat's ``cpu`` line (as moby)."""
    for line in (proc_stat or "").splitlines():
        parts = line.split()
        if parts and parts[0] == "cpu":
            return sum(int(v) for v in parts[1:8]) * 1_000_000_000 // clk_tck
    return 0


# -- memory -----------------------------------------------------------------------------------------
def memory_v1(read: Reader, d: str, host_memory: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, name in (("usage", "memory.usage_in_bytes"), ("max_usage", "memory.max_usage_in_bytes"),
                      ("failcnt", "memory.failcnt")):
        value = _int(read(f"{d}/{name}"))
        if value is not None:
            out[key] = value
    stats = read(f"{d}/memory.stat")
    if stats is not None:
        out["stats"] = flat_keyed(stats)
    limit = _int(read(f"{d}/memory.limit_in_bytes"))
    out["limit"] = _limit(limit, host_memory)
    return out


def memory_v2(read: Reader, d: str, host_memory: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    usage = _int(read(f"{d}/memory.current"))
    if usage is not None:
        out["usage"] = usage
    stats = read(f"{d}/memory.stat")
    if stats is not None:
        out["stats"] = flat_keyed(stats)
    out["limit"] = _limit(_int(read(f"{d}/memory.max")), host_memory)
    return out


def _limit(limit: int | None, host_memory: int) -> int:
    """No limit (or one above the machine's memory) shows as the machine's memory, as dockerd does."""
    if limit is None or limit >= UNLIMITED or (host_memory and limit > host_memory):
        return host_memory
    return limit


# -- pids, blkio ---------------------------------------------------------------------------------------
def pids_stats(read: Reader, d: str) -> dict[str, int]:
    out: dict[str, int] = {}
    current = _int(read(f"{d}/pids.current"))
    if current is not None:
        out["current"] = current
    limit = _int(read(f"{d}/pids.max"))
    if limit:
        out["limit"] = limit
    return out


def blkio_v1(read: Reader, d: str) -> dict[str, Any]:
    """blkio.throttle.* in moby's shape: on v1 every list is there, [] when empty (v2: null)."""
    out: dict[str, Any] = {k: [] for k in BLKIO_KEYS}
    for key, name in (("io_service_bytes_recursive", "io_service_bytes"), ("io_serviced_recursive", "io_serviced")):
        text = read(f"{d}/blkio.throttle.{name}_recursive")
        if text is None:
            text = read(f"{d}/blkio.throttle.{name}")
        entries = []
        for line in (text or "").splitlines():
            parts = line.split()
            if len(parts) == 3 and ":" in parts[0]:
                major, minor = parts[0].split(":", 1)
                entries.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
        out[key] = entries
    return out


def blkio_v2(read: Reader, d: str) -> dict[str, Any]:
    """io.stat (``8:0 rbytes=.. wbytes=.. rios=.. wios=..``) in v1's shape, ops lower-case as moby's."""
    out: dict[str, Any] = {k: None for k in BLKIO_KEYS}
    nbytes, nios = [], []
    for line in (read(f"{d}/io.stat") or "").splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = (int(v) for v in parts[0].split(":", 1))
        fields = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for op, b, n in (("read", "rbytes", "rios"), ("write", "wbytes", "wios")):
            nbytes.append({"major": major, "minor": minor, "op": op, "value": int(fields.get(b, 0))})
            nios.append({"major": major, "minor": minor, "op": op, "value": int(fields.get(n, 0))})
    out["io_service_bytes_recursive"] = nbytes or None
    out["io_serviced_recursive"] = nios or None
    return out


# -- network -----------------------------------------------------------------------------------------------
def parse_net_dev(text: str | None) -> dict[str, dict[str, int]]:
    """/proc/<pid>/net/dev of the container's namespace, per interface (``lo`` left out, as dockerd)."""
    out: dict[str, dict[str, int]] = {}
    for line in (text or "").splitlines()[2:]:
        name, _, rest = line.partition(":")
        name = name.strip()
        values = rest.split()
        if not name or name == "lo" or len(values) < 12:
            continue
        rx, tx = values[0:4], values[8:12]
        out[name] = dict(zip(NET_FIELDS, [int(v) for v in rx + tx]))
    return out


# -- one sample ----------------------------------------------------------------------------------------------
def sample(pid: int, fallback_path: str, *, v2: bool, host_memory: int, online_cpus: int,
           read: Reader = read_file, root: str = CGROUP_ROOT, proc: str = "/proc") -> dict[str, Any]:
    """One reading of a running container's counters (without read/preread/name/id)."""
    clk_tck = os.sysconf("SC_CLK_TCK")
    proc_cgroup = parse_proc_cgroup(read(f"{proc}/{pid}/cgroup") or "") if pid else {}
    dirs = cgroup_dirs(root, proc_cgroup, fallback_path, v2)
    if v2:
        d = dirs[""]
        cpu, memory, pids, blkio = cpu_v2(read, d), memory_v2(read, d, host_memory), pids_stats(read, d), \
            blkio_v2(read, d)
    else:
        cpu = cpu_v1(read, dirs["cpuacct"], dirs["cpu"], clk_tck)
        memory, pids, blkio = memory_v1(read, dirs["memory"], host_memory), pids_stats(read, dirs["pids"]), \
            blkio_v1(read, dirs["blkio"])
    cpu["system_cpu_usage"] = system_cpu_usage(read(f"{proc}/stat"), clk_tck)
    cpu["online_cpus"] = online_cpus
    out: dict[str, Any] = {"pids_stats": pids, "blkio_stats": blkio, "num_procs": 0, "storage_stats": {},
                           "cpu_stats": cpu, "memory_stats": memory}
    networks = parse_net_dev(read(f"{proc}/{pid}/net/dev")) if pid else {}
    if networks:
        out["networks"] = networks
    return out


def empty_sample() -> dict[str, Any]:
    """What dockerd shows for a container that is not running: every counter zero."""
    cpu = {"cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
           "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    return {"pids_stats": {}, "blkio_stats": {k: None for k in BLKIO_KEYS}, "num_procs": 0, "storage_stats": {},
            "cpu_stats": cpu, "memory_stats": {}}


def empty_cpu() -> dict[str, Any]:
    """``precpu_stats`` of a first (or one-shot) reading."""
    return empty_sample()["cpu_stats"]
