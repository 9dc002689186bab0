"""``exec``: start another process inside a running container.

    runtime ──setns(pid: for its children only)──fork──> process (non-dumpable)
       │ stays in the host's namespaces                  │ joins the container's cgroup itself,
       │                                                 │ reads the config, joins the other
       │                                                 │ namespaces (user first), runs the tail
       └── reads "ready"; writes --pid-file; unless      │ of the init sequence, says "ready"
           --detach, reaps the process (its parent)      └── execs the program

The process goes through the tail of the init sequence (console, no_new_privs,
seccomp, capabilities and user, close fds, exec), so the same guarantees hold,
and it is in the container's cgroup before it does anything else.  Why the
process moves itself: on cgroup v1, a thread writing ``0`` to a hierarchy's
``tasks`` file moves only itself and skips the global threadgroup lock whose
first writer waits for an RCU grace period (~8 ms here; the kernel's
``cgroup_procs_write_start``), where the runtime writing the pid into
``cgroup.procs`` pays it (``CgroupManager.attach_self``).  The runtime itself stays in the host's namespaces:
joining a pid namespace only changes where its children are born.
"""

from __future__ import annotations

import os

from dockyard.errors import Conflict, InvalidParameter, SystemError_
from dockyard.runtime.native import spec_defaults
from dockyard.runtime.native import syscalls as sc
from dockyard.runtime.native.channel import Channel
from dockyard.runtime.native.state import ContainerState, atomic_write

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# (type, /proc/<pid>/ns name) in the order the process joins them: the user namespace first;
# the pid namespace is joined by the runtime before the fork
_JOIN_ORDER = [("user", "user"), ("ipc", "ipc"), ("uts", "uts"), ("network", "net"),
               ("cgroup", "cgroup"), ("time", "time"), ("mount", "mnt")]


def exec_process(root: str, container_id: str, process: dict[str, Any], *, detach: bool = False,
                 pid_file: str | None = None, console_socket: str | None = None,
                 preserve_fds: int = 0, console_fd: int | None = None,
                 on_started: Callable[[int], None] | None = None, info: ContainerInfo | None = None) -> int:
    """Run ``process`` in the container; its exit code (0 at once with ``detach``).

    The terminal's master goes to ``console_socket`` (a path, runc's flag) or to
    ``console_fd``, an already connected socket (the exec server's caller holds
    the other end).  ``on_started`` gets the process's host pid once it is about
    to exec the user program.  ``info``: the container's :class:`ContainerInfo`
    when the caller keeps one (the exec server), else it is read now.
    """
    if info is None:
        info = ContainerInfo(root, container_id)
    check_startable(info, process)
    if process.get("terminal") and not console_socket and console_fd is None:
        raise InvalidParameter("exec --tty needs --console-socket")
    return _spawn(info, process, detach, pid_file, console_socket, preserve_fds, console_fd, on_started)


def check_startable(info: ContainerInfo, process: dict[str, Any]) -> None:
    """Before any fork: the container runs (or is created), the process is valid, and the
    runtime's interpreter is protected."""
    import sys as _sys

    from dockyard.runtime.native import selfprotect

    status = info.st.status()
    if status not in ("running", "created"):
        raise Conflict(f"cannot exec in container {info.st.id}: it is {status}")
    spec_defaults.validate_process(process)
    selfprotect.ensure_protected(_sys.executable)


class ContainerInfo:
    """What every exec reads from a container's saved state and config: the state, the
    config, the compiled seccomp program and the cgroup manager.  The exec server keeps
    one per container and reuses it while :meth:`fresh` (the files are unchanged)."""

    def __init__(self, root: str, container_id: str) -> None:
        from dockyard.runtime.native import ops

        self.st = ContainerState(root, container_id).load()
        self.stamp = self._stamp()
        self.config = self.st.load_config()
        self.seccomp = None
        seccomp_config = (self.config.get("linux") or {}).get("seccomp")
        if seccomp_config:
            from dockyard.runtime.native import seccomp

            self.seccomp = seccomp.compile_filter(seccomp_config, cache_dir=seccomp.cache_dir(root))
        self.cgroup = ops.cgroup_of(self.st)

    def _stamp(self) -> tuple[int, ...]:
        out: list[int] = []
        for path in (self.st.state_file, os.path.join(self.st.dir, "config.json")):
            try:
                info = os.stat(path)
                out += [info.st_ino, info.st_mtime_ns, info.st_size]
            except FileNotFoundError:
                out.append(-1)
        return tuple(out)

    def fresh(self) -> bool:
        return self._stamp() == self.stamp


def _spawn(info: ContainerInfo, process: dict[str, Any], detach: bool, pid_file: str | None,
           console_socket: str | None, preserve_fds: int, console_fd: int | None,
           on_started: Callable[[int], None] | None) -> int:
    from dockyard.runtime.native import ops

    console_sock = None
    if process.get("terminal"):
        if console_fd is not None:
            console_sock = os.dup(console_fd)
        else:
            from dockyard.runtime.native import terminal

            console_sock = terminal.connect_console_socket(console_socket or "")
    try:
        pid, parent = fork_process(info, process, console_sock, preserve_fds)
    finally:
        if console_sock is not None:
            os.close(console_sock)
    try:
        parent.expect("ready", "the exec process started")
        if pid_file:
            atomic_write(pid_file, str(pid), 0o644)
        if on_started is not None:
            on_started(pid)
    except BaseException:
        try:
            os.kill(pid, 9)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)
        raise
    finally:
        parent.close()
    if detach:
        return 0
    return ops.wait_exit(pid)


def fork_process(info: ContainerInfo, process: dict[str, Any], console_sock: int | None = None,
                 preserve_fds: int = 0, stdio: tuple[int, int, int] | None = None,
                 own_pidns: int | None = None) -> tuple[int, Channel]:
    """Fork the exec process (born in the container's pid namespace); returns its pid and our
    end of its channel, on which it says "ready" (or "error") before it execs.

    ``stdio``: fds that become its 0, 1, 2.  ``own_pidns``: an fd of our own pid namespace,
    to return to after the fork (a long-lived caller forks for other containers too).
    """
    from dockyard.runtime.native.syscalls import Syscalls

    sys = Syscalls()
    pidns = _open_namespace(info.st.pid, "pid")
    if pidns is not None:
        try:
            sys.setns(pidns, sc.CLONE_NEWPID, "pid")  # where our children are born; we stay
        finally:
            os.close(pidns)
    parent, child = Channel.pair()
    try:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child: never returns
            parent.close()
            _process(sys, child, info, process, console_sock, preserve_fds, stdio)
    finally:
        if pidns is not None and own_pidns is not None:
            sys.setns(own_pidns, sc.CLONE_NEWPID, "pid")
    child.close()
    return pid, parent


def _open_namespace(pid: int, name: str) -> int | None:
    """An fd of the process's namespace ``name``; None when it is ours already (or unsupported)."""
    theirs = f"/proc/{pid}/ns/{name}"
    try:
        if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
            return None
        return os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if os.path.exists(f"/proc/{pid}"):
            return None  # the kernel has no such namespace type
        raise SystemError_(f"open namespaces of process {pid}: the container's init is gone") from None
    except OSError as exc:
        raise SystemError_(f"open namespace {theirs}: {exc.strerror}") from None


class _Prepared:
    """What the process works out before it joins the namespaces."""

    def __init__(self, info: ContainerInfo, process: dict[str, Any]) -> None:
        from dockyard.runtime.native import caps
        from dockyard.runtime.native import init as init_mod
        from dockyard.runtime.native.create import ambient_subset

        self.capsets = ambient_subset(caps.parse_capabilities(process.get("capabilities")))
        init_mod.preload(process)
        self.namespaces: list[tuple[str, int]] = []
        try:
            for kind, name in _JOIN_ORDER:
                fd = _open_namespace(info.st.pid, name)
                if fd is not None:
                    self.namespaces.append((kind, fd))
        except BaseException:
            for _, fd in self.namespaces:
                os.close(fd)
            raise


def _join_cgroup(info: ContainerInfo) -> None:
    """Move this (single-threaded) process into the container's cgroup, refusing a paused one."""
    cgroup = info.cgroup
    if cgroup.state() == "paused":
        raise Conflict(f"cannot exec in container {info.st.id}: it is paused")
    if cgroup.can_attach_self:  # v1: no wait for the threadgroup lock
        cgroup.attach_self()
    else:
        cgroup.apply(os.getpid())


def _join_namespaces(sys: Any, namespaces: list[tuple[str, int]]) -> bool:
    """setns into each; True when a user namespace was among them.

    The user namespace comes first, for the capabilities it gives over the
    namespaces it owns; but a namespace the engine made outside it (the
    network namespace of a userns-remap container is the host root's) can only
    be joined before: so, as util-linux's nsenter does, whatever the user
    namespace's entry makes us lose the right to join is joined first.
    """
    user = [(k, fd) for k, fd in namespaces if k == "user"]
    rest = [(k, fd) for k, fd in namespaces if k != "user"]
    if user:
        later = []
        for kind, fd in rest:  # as host root, before entering: joins what the engine owns
            try:
                sys.setns(fd, spec_defaults.NAMESPACE_FLAGS[kind], kind)
                os.close(fd)
            except OSError:
                later.append((kind, fd))
        rest = later
    for kind, fd in user + rest:
        sys.setns(fd, spec_defaults.NAMESPACE_FLAGS[kind], kind)
        os.close(fd)
    return bool(user)


def _process(sys: Any, ch: Channel, info: ContainerInfo, process: dict[str, Any], console_sock: int | None,
             preserve_fds: int, stdio: tuple[int, int, int] | None = None) -> None:  # pragma: no cover
    """The exec process: join the cgroup, prepare, join the namespaces, run the steps, exec."""
    from dockyard.runtime.native import create as create_mod
    from dockyard.runtime.native import init as init_mod

    try:
        if stdio is not None:
            for target, fd in enumerate(stdio):
                os.dup2(fd, target)  # inheritable: the program gets them
        sys.prctl(sc.PR_SET_DUMPABLE, 0)  # before entering: /proc/<pid>/exe must stay unreachable
        _join_cgroup(info)
        prepared = _Prepared(info, process)
        userns = _join_namespaces(sys, prepared.namespaces)
        ctx = init_mod.InitContext(sys, info.config, process, userns=userns, console_sock=console_sock,
                                   channel=ch, capsets=prepared.capsets, seccomp=info.seccomp,
                                   preserve_fds=preserve_fds, mount_console=False)
        init_mod.run_steps(ctx, init_mod.EXEC_STEPS)
        raise SystemError_("exec returned")
    except BaseException as exc:  # noqa: BLE001 - never return into the runtime's code
        try:
            if ch.wfd >= 0:
                create_mod._report(ch, exc)
            else:  # after "ready": stderr is all we have
                os.write(2, f"{exc}\n".encode() if isinstance(exc, init_mod.ExecFailed)
                         else f"dockyard-runtime exec: {exc}\n".encode())
        except BaseException:  # noqa: BLE001
            pass
    os._exit(127)


def process_from_args(config: dict[str, Any], args: list[str], *, env: list[str], cwd: str | None,
                      user: str | None, additional_gids: list[str], caps: list[str], tty: bool,
                      no_new_privs: bool) -> dict[str, Any]:
    """runc's rule: start from the container's process, override what the flags say."""
    base = dict(config.get("process") or {})
    process: dict[str, Any] = {k: base[k] for k in ("env", "cwd", "user", "capabilities", "rlimits",
                                                   "noNewPrivileges", "apparmorProfile") if k in base}
    process["args"] = args
    process["terminal"] = tty
    if env:
        merged = {e.split("=", 1)[0]: e for e in process.get("env") or []}
        merged.update({e.split("=", 1)[0]: e if "=" in e else e + "=" for e in env})
        process["env"] = list(merged.values())
    if cwd:
        process["cwd"] = cwd
    if user:
        uid, _, gid = user.partition(":")
        try:
            process["user"] = {"uid": int(uid), "gid": int(gid or 0)}
        except ValueError:
            raise InvalidParameter(f"invalid --user {user!r}: want UID[:GID] as numbers") from None
    if additional_gids:
        process.setdefault("user", {"uid": 0, "gid": 0})
        process["user"] = dict(process["user"], additionalGids=[int(g) for g in additional_gids])
    if caps:
        sets = {k: list(v) for k, v in (process.get("capabilities") or {}).items()}
        for key in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            if key in ("bounding", "effective", "permitted") or key in sets:
                sets.setdefault(key, [])
                sets[key] += [c for c in caps if c not in sets[key]]
        process["capabilities"] = sets
    if no_new_privs:
        process["noNewPrivileges"] = True
    return process


def load_process_file(path: str) -> dict[str, Any]:
    from dockyard.runtime.native import fastjson

    try:
        with open(path, "rb") as f:
            process = fastjson.loads(f.read())
    except OSError as exc:
        raise InvalidParameter(f"cannot read process file {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise InvalidParameter(f"malformed process JSON in {path}: {exc}") from None
    if not isinstance(process, dict):
        raise InvalidParameter(f"process file {path} must hold a JSON object")
    return process
