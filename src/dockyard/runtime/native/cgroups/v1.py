"""cgroup v1: one directory per mounted controller hierarchy.

Hierarchies are found in /proc/self/mountinfo, so a combined mount
(``cpu,cpuacct``) and separate mounts (this machine) both work; two
controllers that share a hierarchy share a directory.
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidParameter, SystemError_, os_error

from .base import (CgroupManager, own_cgroups, pids_under, read_int, read_keyed, read_text, write_error,
                   rmdir_retry, system_cpu_usage, write_file)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .mapping import Write

# The controllers a container is placed in, when the host has them mounted.
CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
               "hugetlb", "net_cls", "net_prio", "perf_event", "rdma", "misc")


def mounts(mountinfo: str | None = None) -> dict[str, str]:
    """controller -> mount point of its v1 hierarchy, from /proc/self/mountinfo."""
    if mountinfo is None:
        mountinfo = read_text("/proc/self/mountinfo")
    out: dict[str, str] = {}
    for line in mountinfo.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields = post.split()
        if len(fields) < 3 or fields[0] != "cgroup":
            continue
        mountpoint = pre.split()[4].replace("\\040", " ")
        for opt in fields[2].split(","):
            if opt in CONTROLLERS and opt not in out:
                out[opt] = mountpoint
    return out


class V1Manager(CgroupManager):
    version = 1

    def __init__(self, path: str, mountinfo: str | None = None) -> None:
        super().__init__(path)
        self._mounts = mounts(mountinfo)
        if not self._mounts:
            raise SystemError_("no cgroup v1 controller is mounted (see /proc/self/mountinfo)")

    def paths(self) -> dict[str, str]:
        return {c: mp + self.path for c, mp in self._mounts.items()}

    def _dir(self, controller: str) -> str | None:
        mp = self._mounts.get(controller)
        return None if mp is None else mp + self.path

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self.paths().values())

    # --- create / apply / destroy -----------------------------------------
    def create(self) -> None:
        created: list[str] = []
        try:
            for controller, mp in self._mounts.items():
                self._make(controller, mp, created)
            devices = self._dir("devices")
            if devices and devices in created:
                # Allow every device; the runtime gives the container its own
                # /dev, and linux.resources.devices (in set()) narrows this.
                write_file(devices + "/devices.allow", "a *:* rwm")
        except OSError as exc:
            self._undo(created)
            raise os_error("create cgroup", self.path, exc) from None
        except BaseException:
            self._undo(created)
            raise

    def _make(self, controller: str, mountpoint: str, created: list[str]) -> None:
        """mkdir each missing level; a new cpuset level copies its parent's cpus/mems."""
        current = mountpoint
        for part in self.path.strip("/").split("/"):
            parent, current = current, current + "/" + part
            try:
                os.mkdir(current, 0o755)
            except FileExistsError:
                continue
            created.append(current)
            if controller == "cpuset":
                for name in ("cpuset.cpus", "cpuset.mems"):
                    if not read_text(f"{current}/{name}").strip():
                        write_file(f"{current}/{name}", read_text(f"{parent}/{name}").strip() or "\n")

    @staticmethod
    def _undo(created: list[str]) -> None:
        for d in reversed(created):
            try:
                os.rmdir(d)
            except OSError:
                pass  # a sibling container may share a parent we made

    def _own_procs_file(self) -> str | None:
        mine = own_cgroups()
        for controller in ("pids", "freezer", "cpu", "memory", *self._mounts):
            if controller in self._mounts and controller in mine:
                return f"{self._mounts[controller]}{mine[controller].rstrip('/')}/cgroup.procs"
        return None

    can_attach_self = True

    def attach_self(self) -> None:
        """Move the calling thread (the whole process, if single-threaded) into the cgroup.

        ``apply`` writes a pid to cgroup.procs: the kernel then takes
        cgroup_threadgroup_rwsem for writing, whose first writer waits for an RCU
        grace period (7-19 ms here).  "0" written to ``tasks`` moves the writing
        thread itself, which needs no threadgroup lock (the kernel skips it for the
        current thread), so the container's init, still single-threaded runtime
        code, enters its cgroup in ~0.05 ms.  The caller must not be multi-threaded.
        """
        for d in dict.fromkeys(self.paths().values()):
            try:
                write_file(d + "/tasks", "0")
            except OSError as exc:
                raise os_error(f"move pid {os.getpid()} into cgroup", d, exc) from None

    def apply(self, pid: int) -> None:
        for d in dict.fromkeys(self.paths().values()):
            try:
                write_file(d + "/cgroup.procs", str(pid))
            except OSError as exc:
                raise os_error(f"move pid {pid} into cgroup", d, exc) from None

    def destroy(self) -> None:
        for d in dict.fromkeys(self.paths().values()):
            rmdir_retry(d)

    # --- limits ------------------------------------------------------------
    def set(self, resources: dict | None) -> None:
        from . import mapping  # lazily: start/state/delete never need the limit tables

        writes = mapping.v1_writes(resources)
        writes = self._order_memory(writes, (resources or {}).get("memory") or {})
        for w in writes:
            self._write(w)

    def _order_memory(self, writes: list[Write], mem: dict) -> list[Write]:
        """memory.limit_in_bytes must never exceed memory.memsw.limit_in_bytes.

        When both change, write swap first if the new limit would otherwise
        exceed the current memory+swap; an unlimited memory with no swap given
        also lifts swap (runc does the same).
        """
        d = self._dir("memory")
        if d is None:
            return writes
        has_memsw = os.path.exists(d + "/memory.memsw.limit_in_bytes")
        limit_w = next((w for w in writes if w.file == "memory.limit_in_bytes"), None)
        swap_w = next((w for w in writes if w.file == "memory.memsw.limit_in_bytes"), None)
        if swap_w is not None and not has_memsw:
            raise InvalidParameter(
                "cannot set linux.resources.memory.swap: this kernel has no swap accounting "
                "(memory.memsw.limit_in_bytes is missing; boot with swapaccount=1)")
        if limit_w is not None and swap_w is None and has_memsw and mem.get("limit") == -1:
            from .mapping import Write

            swap_w = Write("memory", "memory.memsw.limit_in_bytes", "-1", "linux.resources.memory.swap")
            writes = writes + [swap_w]
        if limit_w is None or swap_w is None:
            return writes
        rest = [w for w in writes if w is not limit_w and w is not swap_w]
        new_limit = int(limit_w.value)
        cur_swap = read_int(d + "/memory.memsw.limit_in_bytes", -1)
        swap_first = int(swap_w.value) == -1 or new_limit == -1 or new_limit > cur_swap
        pair = [swap_w, limit_w] if swap_first else [limit_w, swap_w]
        return pair + rest

    def _write(self, w: Write) -> None:
        d = self._dir(w.controller)
        if d is None:
            raise InvalidParameter(
                f"cannot set {w.field}: the {w.controller} cgroup controller is not mounted on this host")
        path = f"{d}/{w.file}"
        if w.file.startswith("blkio.") and not os.path.exists(path):
            # With the BFQ scheduler the weight files carry a "bfq." prefix.
            alt = f"{d}/blkio.bfq.{w.file[len('blkio.'):]}"
            if os.path.exists(alt):
                path = alt
        if w.controller == "devices" and w.file == "devices.allow" and w.value == "a":
            w = type(w)(w.controller, w.file, "a *:* rwm", w.field)
        try:
            write_file(path, w.value)
        except FileNotFoundError:
            raise InvalidParameter(
                f"cannot set {w.field}: this kernel does not support it ({w.file} is missing)") from None
        except OSError as exc:
            raise write_error(w, path, exc) from None

    # --- freezer -----------------------------------------------------------
    def _freezer_file(self) -> str:
        d = self._dir("freezer")
        if d is None:
            raise SystemError_("the freezer cgroup controller is not mounted: cannot pause")
        return d + "/freezer.state"

    def freeze(self) -> None:
        f = self._freezer_file()
        try:
            write_file(f, "FROZEN")
            self._wait_state(lambda: read_text(f).strip(), "FROZEN",
                             lambda: write_file(f, "FROZEN"), "freeze")
        except OSError as exc:
            raise os_error("freeze", f, exc) from None
        except SystemError_:
            write_file(f, "THAWED")  # undo a half-done freeze
            raise

    def thaw(self) -> None:
        f = self._freezer_file()
        try:
            write_file(f, "THAWED")
            self._wait_state(lambda: read_text(f).strip(), "THAWED",
                             lambda: write_file(f, "THAWED"), "thaw")
        except OSError as exc:
            raise os_error("thaw", f, exc) from None

    def state(self) -> str:
        d = self._dir("freezer")
        if d is None:
            return "running"
        try:
            return "paused" if read_text(d + "/freezer.state").strip() == "FROZEN" else "running"
        except FileNotFoundError:
            return "running"

    # --- reading -----------------------------------------------------------
    def pids(self) -> list[int]:
        for c in ("pids", "freezer", "memory", "cpu"):
            d = self._dir(c)
            if d is not None and os.path.isdir(d):
                return pids_under(d)
        d = next(iter(self.paths().values()))
        return pids_under(d) if os.path.isdir(d) else []

    def oom_killed(self) -> bool:
        d = self._dir("memory")
        return d is not None and read_keyed(d + "/memory.oom_control").get("oom_kill", 0) > 0

    def stats(self) -> dict:
        out: dict = {}
        mem = self._dir("memory")
        if mem:
            out["memory"] = {
                "usage": read_int(mem + "/memory.usage_in_bytes"),
                "max_usage": read_int(mem + "/memory.max_usage_in_bytes"),
                "limit": _unlimited_as_zero(read_int(mem + "/memory.limit_in_bytes")),
                "failcnt": read_int(mem + "/memory.failcnt"),
                "swap_usage": read_int(mem + "/memory.memsw.usage_in_bytes"),
                "swap_limit": _unlimited_as_zero(read_int(mem + "/memory.memsw.limit_in_bytes")),
                "stats": read_keyed(mem + "/memory.stat"),
            }
        out["cpu"] = self._cpu_stats()
        pids = self._dir("pids")
        if pids:
            out["pids"] = {"current": read_int(pids + "/pids.current"),
                           "limit": read_int(pids + "/pids.max")}
        out["blkio"] = self._blkio_stats()
        return out

    def _cpu_stats(self) -> dict:
        acct = self._dir("cpuacct")
        usage = {"total": 0, "percpu": [], "kernel": 0, "user": 0}
        if acct:
            usage["total"] = read_int(acct + "/cpuacct.usage")
            try:
                usage["percpu"] = [int(x) for x in read_text(acct + "/cpuacct.usage_percpu").split()]
            except FileNotFoundError:
                pass
            ticks = read_keyed(acct + "/cpuacct.stat")
            hz = os.sysconf("SC_CLK_TCK")
            usage["kernel"] = ticks.get("system", 0) * 1_000_000_000 // hz
            usage["user"] = ticks.get("user", 0) * 1_000_000_000 // hz
        throttling = {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        cpu = self._dir("cpu")
        if cpu:
            st = read_keyed(cpu + "/cpu.stat")
            throttling = {"periods": st.get("nr_periods", 0),
                          "throttled_periods": st.get("nr_throttled", 0),
                          "throttled_time": st.get("throttled_time", 0)}
        return {"usage": usage, "throttling": throttling, "system_usage": system_cpu_usage(),
                "online_cpus": os.sysconf("SC_NPROCESSORS_ONLN")}

    def _blkio_stats(self) -> dict:
        d = self._dir("blkio")
        out: dict[str, list[dict]] = {"io_service_bytes_recursive": [], "io_serviced_recursive": []}
        if d is None:
            return out
        for key in out:
            for name in (f"blkio.{key}", f"blkio.throttle.{key}", f"blkio.bfq.{key}"):
                try:
                    text = read_text(f"{d}/{name}")
                except FileNotFoundError:
                    continue
                out[key] = _parse_blkio(text)
                if out[key]:
                    break
        return out


def _unlimited_as_zero(value: int) -> int:
    """v1 shows "no limit" as a huge page-aligned number; report 0 like v2's "max"."""
    return 0 if value >= 1 << 62 else value


def _parse_blkio(text: str) -> list[dict]:
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, minor = parts[0].split(":")
        rows.append({"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])})
    return rows
