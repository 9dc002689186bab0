"""cgroup v2: one directory in the unified hierarchy.

Controllers must be enabled in every ancestor's ``cgroup.subtree_control``
before the leaf gets their files; :meth:`V2Manager.create` does that.
Device rules (``linux.resources.devices``) need an eBPF program on v2; this
manager validates them but does not enforce them (the runtime still builds
the container's own /dev from ``linux.devices``).
"""

from __future__ import annotations

import os

from dockyard.errors import InvalidParameter, SystemError_, os_error

from .base import (SIGKILL, CgroupManager, own_cgroups, pids_under, read_int, read_keyed, read_text, write_error,
                   rmdir_retry, system_cpu_usage, write_file)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .mapping import Write

ROOT = "/sys/fs/cgroup"
WANTED = ("cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc")


class V2Manager(CgroupManager):
    version = 2

    def __init__(self, path: str, root: str = ROOT) -> None:
        super().__init__(path)
        self.root = root
        self.dir = root + path

    def paths(self) -> dict[str, str]:
        return {"": self.dir}

    def exists(self) -> bool:
        return os.path.isdir(self.dir)

    def _own_procs_file(self) -> str | None:
        path = own_cgroups().get("")
        return None if path is None else f"{self.root}{path.rstrip('/')}/cgroup.procs"

    def create(self) -> None:
        created: list[str] = []
        try:
            current = self.root
            for part in self.path.strip("/").split("/"):
                self._enable_controllers(current)
                current = current + "/" + part
                try:
                    os.mkdir(current, 0o755)
                    created.append(current)
                except FileExistsError:
                    pass
        except OSError as exc:
            self._undo(created)
            raise os_error("create cgroup", self.dir, exc) from None

    @staticmethod
    def _undo(created: list[str]) -> None:
        for d in reversed(created):
            try:
                os.rmdir(d)
            except OSError:
                pass

    @staticmethod
    def _enable_controllers(d: str) -> None:
        """Enable the wanted controllers this level offers for its children."""
        available = read_text(d + "/cgroup.controllers").split()
        enabled = read_text(d + "/cgroup.subtree_control").split()
        missing = [c for c in WANTED if c in available and c not in enabled]
        if not missing:
            return
        try:
            write_file(d + "/cgroup.subtree_control", " ".join("+" + c for c in missing))
        except OSError:
            for c in missing:  # one at a time: skip a controller this level refuses
                try:
                    write_file(d + "/cgroup.subtree_control", "+" + c)
                except OSError:
                    pass

    def apply(self, pid: int) -> None:
        try:
            write_file(self.dir + "/cgroup.procs", str(pid))
        except OSError as exc:
            raise os_error(f"move pid {pid} into cgroup", self.dir, exc) from None

    def destroy(self) -> None:
        rmdir_retry(self.dir)

    def set(self, resources: dict | None) -> None:
        from . import mapping  # lazily: start/state/delete never need the limit tables

        writes = mapping.v2_writes(resources)
        mem = (resources or {}).get("memory") or {}
        if mem.get("checkBeforeUpdate") and isinstance(mem.get("limit"), int) and mem["limit"] > 0:
            # v2 reclaims or OOM-kills instead of refusing a limit below usage;
            # the spec's checkBeforeUpdate asks for v1's refusal instead.
            usage = read_int(self.dir + "/memory.current")
            if mem["limit"] < usage:
                raise InvalidParameter(
                    f"cannot set linux.resources.memory.limit to {mem['limit']}: "
                    f"the container already uses {usage} bytes")
        for w in writes:
            self._write(w)

    def _write(self, w: Write) -> None:
        path = f"{self.dir}/{w.file}"
        if w.file == "io.weight" and not os.path.exists(path) and os.path.exists(self.dir + "/io.bfq.weight"):
            path = self.dir + "/io.bfq.weight"
        try:
            write_file(path, w.value)
        except FileNotFoundError:
            if w.file == "memory.swap.max":
                raise InvalidParameter(
                    "cannot set linux.resources.memory.swap: this kernel has no swap accounting "
                    "(memory.swap.max is missing)") from None
            raise InvalidParameter(
                f"cannot set {w.field}: {w.file} is missing (controller not enabled or not supported)") from None
        except OSError as exc:
            raise write_error(w, path, exc) from None

    def _frozen(self) -> str:
        return "1" if read_keyed(self.dir + "/cgroup.events").get("frozen") == 1 else "0"

    def freeze(self) -> None:
        f = self.dir + "/cgroup.freeze"
        try:
            write_file(f, "1")
            self._wait_state(self._frozen, "1", lambda: write_file(f, "1"), "freeze")
        except OSError as exc:
            raise os_error("freeze", f, exc) from None
        except SystemError_:
            write_file(f, "0")
            raise

    def thaw(self) -> None:
        f = self.dir + "/cgroup.freeze"
        try:
            write_file(f, "0")
            self._wait_state(self._frozen, "0", lambda: write_file(f, "0"), "thaw")
        except OSError as exc:
            raise os_error("thaw", f, exc) from None

    def state(self) -> str:
        try:
            return "paused" if self._frozen() == "1" else "running"
        except OSError:
            return "running"

    def pids(self) -> list[int]:
        return pids_under(self.dir) if os.path.isdir(self.dir) else []

    def kill_all(self, sig: int = SIGKILL) -> None:
        if sig == SIGKILL and os.path.exists(self.dir + "/cgroup.kill"):
            try:
                write_file(self.dir + "/cgroup.kill", "1")
                return
            except OSError:
                pass
        super().kill_all(sig)

    def oom_killed(self) -> bool:
        return read_keyed(self.dir + "/memory.events").get("oom_kill", 0) > 0

    def stats(self) -> dict:
        d = self.dir
        st = read_keyed(d + "/cpu.stat")
        out: dict = {
            "memory": {
                "usage": read_int(d + "/memory.current"),
                "max_usage": read_int(d + "/memory.peak"),
                "limit": read_int(d + "/memory.max"),
                "failcnt": read_keyed(d + "/memory.events").get("max", 0),
                "swap_usage": read_int(d + "/memory.swap.current"),
                "swap_limit": read_int(d + "/memory.swap.max"),
                "stats": read_keyed(d + "/memory.stat"),
            },
            "cpu": {
                "usage": {"total": st.get("usage_usec", 0) * 1000, "percpu": [],
                          "kernel": st.get("system_usec", 0) * 1000,
                          "user": st.get("user_usec", 0) * 1000},
                "throttling": {"periods": st.get("nr_periods", 0),
                               "throttled_periods": st.get("nr_throttled", 0),
                               "throttled_time": st.get("throttled_usec", 0) * 1000},
                "system_usage": system_cpu_usage(),
                "online_cpus": os.sysconf("SC_NPROCESSORS_ONLN"),
            },
            "pids": {"current": read_int(d + "/pids.current"), "limit": read_int(d + "/pids.max")},
            "blkio": parse_io_stat(_read_or_empty(d + "/io.stat")),
        }
        return out


def _read_or_empty(path: str) -> str:
    try:
        return read_text(path)
    except FileNotFoundError:
        return ""


def parse_io_stat(text: str) -> dict[str, list[dict]]:
    """io.stat (``8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...``) in the v1 blkio shape."""
    out: dict[str, list[dict]] = {"io_service_bytes_recursive": [], "io_serviced_recursive": []}
    for line in text.splitlines():
        parts = line.split()
        if not parts or ":" not in parts[0]:
            continue
        major, minor = (int(x) for x in parts[0].split(":"))
        kv = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
        for key, op, target in (("rbytes", "read", "io_service_bytes_recursive"),
                                ("wbytes", "write", "io_service_bytes_recursive"),
                                ("rios", "read", "io_serviced_recursive"),
                                ("wios", "write", "io_serviced_recursive")):
            if key in kv:
                out[target].append({"major": major, "minor": minor, "op": op, "value": int(kv[key])})
    return out
