"""The one cgroup-manager interface; v1.py and v2.py implement it.

A manager is cheap to build and holds no kernel state of its own: it only
knows the directories that belong to one container, so a separate CLI
invocation (``state``, ``ps``, ``update``, ``pause``, ``delete``) re-opens the
same cgroup with the same ``new_manager(cgroups_path, id)`` call.

Error policy: a value the kernel refuses in :meth:`CgroupManager.set` raises
``InvalidParameter`` naming the OCI field and the value; any other OS failure
raises ``SystemError_`` naming the operation and the path.  The caller that
ran :meth:`create` runs :meth:`destroy` on every failure path after it.
"""

from __future__ import annotations

import errno
import os
import posixpath
import time
TYPE_CHECKING = False
if TYPE_CHECKING:  # collections.abc costs ~3 ms on every runtime call; only annotations use it
    from collections.abc import Callable
    from typing import Any

    from .mapping import Write  # the limit tables load only where limits are written (~0.5 ms)

from dockyard.errors import InvalidParameter, SystemError_, os_error

DEFAULT_PARENT = "/dockyard"
SIGKILL = 9  # not signal.SIGKILL: importing signal pulls in enum (~10 ms of start-up)


def resolve_path(cgroups_path: str | None, container_id: str) -> str:
    """The container's cgroup path, absolute from the cgroup root(s).

    OCI ``cgroupsPath``: absolute is taken as is (relative to each hierarchy's
    root); relative goes under ``/dockyard``; none means ``/dockyard/<id>``.
    """
    if not cgroups_path:
        if not container_id or "/" in container_id or container_id in (".", ".."):
            raise InvalidParameter(f"invalid container id {container_id!r} for a cgroup name")
        return f"{DEFAULT_PARENT}/{container_id}"
    if not isinstance(cgroups_path, str):
        raise InvalidParameter("linux.cgroupsPath must be a string")
    if ":" in cgroups_path and not cgroups_path.startswith("/"):
        raise InvalidParameter(
            f'cgroupsPath "{cgroups_path}" is a systemd slice path (slice:prefix:name); '
            "dockyard-runtime manages cgroupfs paths only (do not pass --systemd-cgroup)")
    if ".." in cgroups_path.split("/"):
        raise InvalidParameter(f'cgroupsPath "{cgroups_path}" must not contain ".."')
    path = cgroups_path if cgroups_path.startswith("/") else f"{DEFAULT_PARENT}/{cgroups_path}"
    path = posixpath.normpath(path)
    if path == "/":
        raise InvalidParameter("cgroupsPath must not be the cgroup root")
    return path


def read_text(path: str) -> str:
    with open(path) as f:
        return f.read()


def read_int(path: str, default: int = 0) -> int:
    """An integer control file; ``max`` reads as 0 (unlimited); missing -> default."""
    try:
        text = read_text(path).strip()
    except FileNotFoundError:
        return default
    if text == "max":
        return 0
    try:
        return int(text)
    except ValueError:
        return default


def read_keyed(path: str) -> dict[str, int]:
    """A flat keyed file (``key value`` per line), e.g. memory.stat, cpu.stat."""
    out: dict[str, int] = {}
    try:
        text = read_text(path)
    except FileNotFoundError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        try:
            out[key] = int(value)
        except ValueError:
            continue
    return out


def write_file(path: str, value: str) -> None:
    """Write one control file with one write(2), as the kernel expects."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


_HINTS = {
    "memory.limit_in_bytes": "is it below what the container already uses, or above memory+swap?",
    "memory.max": "is it below what the container already uses?",
    "memory.memsw.limit_in_bytes": "memory+swap must not be smaller than the memory limit",
    "cpuset.cpus": "is every CPU online here and allowed by the parent cgroup?",
    "cpuset.mems": "is every memory node online here and allowed by the parent cgroup?",
    "cpu.cfs_quota_us": "the quota must be at least 1000 (1 ms) or -1",
    "cpu.cfs_period_us": "the period must be between 1000 and 1000000",
    "cpu.shares": "shares must be between 2 and 262144",
}


def refused(w: Write, exc: OSError) -> InvalidParameter:
    """The InvalidParameter for a write the kernel refused, in the user's terms."""
    hint = _HINTS.get(w.file)
    reason = exc.strerror or str(exc)
    msg = f"cannot set {w.field} to {w.value!r}: the kernel refused it ({reason})"
    if hint:
        msg += f"; {hint}"
    return InvalidParameter(msg)


# errnos with which the kernel refuses a cgroup value (as opposed to an I/O failure)
_REFUSALS = (errno.EINVAL, errno.EBUSY, errno.ENOSPC, errno.EPERM, errno.ERANGE, errno.EACCES, errno.EOPNOTSUPP)


def write_error(w: Write, path: str, exc: OSError) -> Exception:
    """The error for a failed write of ``w`` to ``path``: a refused value, or an OS error."""
    if exc.errno in _REFUSALS:
        return refused(w, exc)
    return os_error("write", path, exc)


def rmdir_retry(path: str, timeout: float = 3.0) -> None:
    """Remove a cgroup directory and its sub-cgroups, bottom-up.

    Tolerates an already-gone directory.  Retries on EBUSY for a short while:
    right after a kill the tasks may still be exiting.
    """
    try:
        os.rmdir(path)  # the common case: no sub-cgroup, no task left (one syscall, no walk)
        return
    except (FileNotFoundError, NotADirectoryError):
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise os_error("remove cgroup", path, exc) from None
    subdirs = [os.path.join(root, d) for root, dirs, _ in os.walk(path) for d in dirs]
    deadline = time.monotonic() + timeout
    for d in sorted(subdirs, key=len, reverse=True) + [path]:
        delay = 0.005
        while True:
            try:
                os.rmdir(d)
                break
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                    raise os_error("remove cgroup", d, exc) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)


def own_cgroups(text: str | None = None) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; the v2 entry is keyed ``""``."""
    if text is None:
        try:
            text = read_text("/proc/self/cgroup")
        except OSError:
            return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        _, sep, rest = line.partition(":")
        controllers, sep2, path = rest.partition(":")
        if not (sep and sep2) or "/.." in path:  # outside our cgroup namespace: not reachable
            continue
        for c in controllers.split(",") if controllers else [""]:
            out.setdefault(c, path)
    return out


def _probe_attach(procs_file: str, pid: bytes, started: Any) -> None:
    """Move ``pid`` into the cgroup it is in (see CgroupManager.warm_attach)."""
    try:
        fd = os.open(procs_file, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        started.release()
        return
    try:
        started.release()  # the caller runs on once this thread drops the GIL in write()
        os.write(fd, pid)
    except OSError:
        pass
    finally:
        os.close(fd)


def pids_under(path: str) -> list[int]:
    """Every pid in the cgroup at ``path`` and its sub-cgroups."""
    out: list[int] = []
    for root, _dirs, _files in os.walk(path):
        try:
            text = read_text(os.path.join(root, "cgroup.procs"))
        except FileNotFoundError:
            continue
        out.extend(int(p) for p in text.split())
    return out


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def system_cpu_usage() -> int:
    """Host CPU time in ns from /proc/stat (Docker's ``system_cpu_usage``)."""
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu "):
                ticks = sum(int(x) for x in line.split()[1:8])
                return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


class CgroupManager:
    """One container's cgroup(s).  See v1.V1Manager and v2.V2Manager."""

    version = 0

    def __init__(self, path: str) -> None:
        self.path = path  # absolute from the cgroup root(s), e.g. /dockyard/<id>

    # --- the interface -----------------------------------------------------
    def create(self) -> None:
        """Make the directories (and initialise what a new cgroup needs)."""
        raise NotImplementedError

    def apply(self, pid: int) -> None:
        """Move ``pid`` into the cgroup(s)."""
        raise NotImplementedError

    def set(self, resources: dict | None) -> None:
        """Apply OCI ``linux.resources``; only the keys present are written."""
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def state(self) -> str:
        """``"paused"`` when frozen, else ``"running"``."""
        raise NotImplementedError

    def pids(self) -> list[int]:
        raise NotImplementedError

    def stats(self) -> dict:
        """Usage and limits, the same shape on v1 and v2 (a limit of 0 = unlimited)::

            {"memory": {"usage", "max_usage", "limit", "failcnt", "swap_usage",
                        "swap_limit", "stats": {memory.stat key: int}},
             "cpu": {"usage": {"total", "percpu": [...], "kernel", "user"} (ns),
                     "throttling": {"periods", "throttled_periods", "throttled_time"},
                     "system_usage" (host ns, /proc/stat), "online_cpus"},
             "pids": {"current", "limit"},
             "blkio": {"io_service_bytes_recursive": [{"major", "minor", "op", "value"}],
                       "io_serviced_recursive": [...]}}

        These map one-to-one onto Docker's /containers/{id}/stats JSON.
        """
        raise NotImplementedError

    def destroy(self) -> None:
        raise NotImplementedError

    def paths(self) -> dict[str, str]:
        raise NotImplementedError

    def oom_killed(self) -> bool:
        raise NotImplementedError

    def exists(self) -> bool:
        raise NotImplementedError

    # whether attach_self() works (v1: a thread moves itself without the global lock)
    can_attach_self = False

    def attach_self(self) -> None:
        """Move the calling (single-threaded) process into the cgroup; see V1Manager."""
        raise NotImplementedError

    # --- shared behaviour --------------------------------------------------
    def warm_attach(self) -> None:
        """Let the kernel start the wait of the first attach now, in a background thread.

        Moving a process into a cgroup takes a global lock (cgroup_threadgroup_rwsem)
        whose first writer waits for an RCU grace period: ~10 ms here, on the
        critical path of ``create``.  A write of a pid that cannot exist takes the
        same lock: writing the runtime's own pid into the cgroup it is already in
        (a migration that changes nothing; a pid that does not exist is refused
        before the lock is taken).  A real :meth:`apply` made while, or up to a
        grace period after, the probe runs pays only the rest of the wait, so the
        wait overlaps the forks of the container's processes.  Best effort: any
        error is ignored.  Call it after :meth:`create` and :meth:`set` (the probe
        holds cgroup_mutex while it waits, which mkdir and limit writes need too).
        """
        target = self._own_procs_file()
        if not target:
            return
        import _thread  # the C module: `threading` costs imports we do not need

        # wait until the probe is about to enter the kernel: a new thread would otherwise
        # wait up to the GIL's switch interval (5 ms) before it runs at all
        started = _thread.allocate_lock()
        started.acquire()
        try:
            _thread.start_new_thread(_probe_attach, (target, str(os.getpid()).encode(), started))
        except RuntimeError:  # no thread could be started: the attach just pays the full wait
            return
        started.acquire(True, 1.0)

    def _own_procs_file(self) -> str | None:
        """cgroup.procs of the cgroup this process is in, in one hierarchy this manager uses."""
        return None

    def kill_all(self, sig: int = SIGKILL) -> None:
        """Signal every process in the cgroup, frozen first so none can fork away."""
        frozen = False
        try:
            self.freeze()
            frozen = True
        except (SystemError_, OSError):
            pass  # no freezer: still signal what is there
        try:
            signal_pids(self.pids(), sig)
        finally:
            if frozen:
                self.thaw()

    def _wait_state(self, read: Callable[[], str], want: str, rewrite: Callable[[], None], what: str,
                    timeout: float = 10.0) -> None:
        """Poll ``read()`` until it equals ``want``; re-issue ``rewrite()`` meanwhile."""
        deadline = time.monotonic() + timeout
        delay = 0.001
        n = 0
        while True:
            if read() == want:
                return
            if time.monotonic() > deadline:
                raise SystemError_(f"{what}: cgroup {self.path} did not reach {want} in {timeout:.0f}s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            n += 1
            if n % 10 == 0:
                rewrite()
