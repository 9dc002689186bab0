"""The lifecycle commands after ``create``: start, state, kill, delete, pause, resume, update, ps, list, run."""

from __future__ import annotations

import errno
import os
import time

from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound, SystemError_
from dockyard.runtime.native import fastjson
from dockyard.runtime.native.state import ContainerState, list_ids

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dockyard.runtime.native.cgroups import CgroupManager

SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "IOT": 6, "BUS": 7, "FPE": 8, "KILL": 9,
    "USR1": 10, "SEGV": 11, "USR2": 12, "PIPE": 13, "ALRM": 14, "TERM": 15, "STKFLT": 16, "CHLD": 17,
    "CONT": 18, "STOP": 19, "TSTP": 20, "TTIN": 21, "TTOU": 22, "URG": 23, "XCPU": 24, "XFSZ": 25,
    "VTALRM": 26, "PROF": 27, "WINCH": 28, "IO": 29, "POLL": 29, "PWR": 30, "SYS": 31,
}


def parse_signal(text: str) -> int:
    """``9``, ``KILL``, ``SIGKILL``, ``sigkill``, ``RTMIN+3``, ``RTMAX-1`` -> a signal number."""
    if text.isdigit():
        number = int(text)
        if 0 < number < 65:
            return number
        raise InvalidParameter(f"invalid signal {text!r}")
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name in SIGNALS:
        return SIGNALS[name]
    for base, value in (("RTMIN", 34), ("RTMAX", 64)):
        if name.startswith(base):
            offset = name[len(base):]
            try:
                number = value + (int(offset) if offset else 0)
            except ValueError:
                break
            if 34 <= number <= 64:
                return number
    raise InvalidParameter(f"invalid signal {text!r}")


def cgroup_of(st: ContainerState) -> CgroupManager:
    from dockyard.runtime.native import cgroups

    return cgroups.load(st.data.get("cgroupsPath"), st.id)


def status_of(st: ContainerState) -> str:
    """created/running/paused/stopped; the cgroup is read only when the process is alive."""
    status = st.status()
    if status == "running":
        try:
            if cgroup_of(st).state() == "paused":
                return "paused"
        except (DockyardError, OSError):
            pass
    return status


def load(root: str, container_id: str) -> ContainerState:
    return ContainerState(root, container_id).load()


def start(root: str, container_id: str) -> None:
    st = load(root, container_id)
    status = st.status()
    if status != "created":
        raise Conflict(f"cannot start a container that is {status}: {container_id}")
    try:
        fd = os.open(st.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ENXIO, errno.ENOENT):
            raise Conflict(f"cannot start container {container_id}: its init process is gone") from None
        raise
    try:
        os.write(fd, b"0")
    finally:
        os.close(fd)
    os.unlink(st.fifo)
    hooks = (st.data.get("hooks") or {}).get("poststart")
    if hooks:
        from dockyard.runtime.native import hooks as hooks_mod

        try:
            hooks_mod.run_hooks({"poststart": hooks}, "poststart", st.oci_state("running"))
        except DockyardError as exc:  # the spec: a poststart failure is only a warning
            os.write(2, f"dockyard-runtime: warning: {exc}\n".encode())


def state(root: str, container_id: str) -> dict[str, Any]:
    st = load(root, container_id)
    return st.oci_state(status_of(st))


def kill(root: str, container_id: str, sig: int, all_processes: bool = False) -> None:
    st = load(root, container_id)
    status = st.status()
    if status == "stopped":
        if all_processes:
            _quiet_kill_all(st, sig)
            return
        raise Conflict(f"container {container_id} is not running")
    if all_processes:
        cgroup_of(st).kill_all(sig)
    else:
        os.kill(st.pid, sig)


def _quiet_kill_all(st: ContainerState, sig: int) -> None:
    try:
        cgroup_of(st).kill_all(sig)
    except (DockyardError, OSError):
        pass


def delete(root: str, container_id: str, force: bool = False) -> None:
    st = ContainerState(root, container_id)
    try:
        st.load()
    except NotFound:
        if force:
            return
        raise
    status = status_of(st)
    if status in ("running", "paused") and not force:
        raise Conflict(f"cannot delete container {container_id} that is not stopped: {status}")
    cgroup = cgroup_of(st)
    if status != "stopped":
        _quiet_kill_all(st, 9)
        try:
            os.kill(st.pid, 9)
        except ProcessLookupError:
            pass
        _wait_gone(st)
    else:
        try:
            leftovers = cgroup.pids()  # a container without its own pid namespace
        except (DockyardError, OSError):
            leftovers = []
        if leftovers:
            _quiet_kill_all(st, 9)
    cgroup.destroy()
    hooks = (st.data.get("hooks") or {}).get("poststop")
    if hooks:
        from dockyard.runtime.native import hooks as hooks_mod

        try:
            hooks_mod.run_hooks({"poststop": hooks}, "poststop", st.oci_state("stopped"))
        except DockyardError as exc:
            os.write(2, f"dockyard-runtime: warning: {exc}\n".encode())
    st.remove_dir()


def _wait_gone(st: ContainerState, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while st.alive():
        if time.monotonic() > deadline:
            raise SystemError_(f"container {st.id}: process {st.pid} did not exit after SIGKILL")
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def pause(root: str, container_id: str) -> None:
    st = load(root, container_id)
    status = status_of(st)
    if status != "running":
        raise Conflict(f"cannot pause container {container_id}: it is {status}")
    cgroup_of(st).freeze()


def resume(root: str, container_id: str) -> None:
    st = load(root, container_id)
    status = status_of(st)
    if status != "paused":
        raise Conflict(f"cannot resume container {container_id}: it is {status}, not paused")
    cgroup_of(st).thaw()


def update(root: str, container_id: str, resources_file: str | None, extra: dict[str, Any]) -> None:
    st = load(root, container_id)
    if st.status() == "stopped":
        raise Conflict(f"cannot update container {container_id}: it is stopped")
    resources: dict[str, Any] = {}
    if resources_file:
        try:
            if resources_file == "-":
                import sys

                raw = sys.stdin.buffer.read()
            else:
                with open(resources_file, "rb") as f:
                    raw = f.read()
            resources = fastjson.loads(raw)
        except OSError as exc:
            raise InvalidParameter(f"cannot read resources file {resources_file}: {exc.strerror}") from None
        except ValueError as exc:
            raise InvalidParameter(f"malformed resources JSON in {resources_file}: {exc}") from None
        if not isinstance(resources, dict):
            raise InvalidParameter("the resources file must hold an object (OCI linux.resources)")
    for section, values in extra.items():
        resources.setdefault(section, {}).update(values)
    cgroup_of(st).set(resources)


def ps(root: str, container_id: str) -> list[int]:
    st = load(root, container_id)
    return cgroup_of(st).pids()


def list_states(root: str) -> list[dict[str, Any]]:
    out = []
    for cid in list_ids(root):
        try:
            st = load(root, cid)
        except (DockyardError, OSError, ValueError):
            continue
        out.append(st.oci_state(status_of(st)))
    return out


def wait_exit(pid: int) -> int:
    """Reap our child ``pid`` (``run`` makes the init our child); 128+n for a signal."""
    while True:
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            return 255
        except InterruptedError:
            continue
        if os.WIFSIGNALED(status):
            return 128 + os.WTERMSIG(status)
        if os.WIFEXITED(status):
            return os.WEXITSTATUS(status)
