"""``exec``: start another process inside a running container.

    runtime ──fork──> stageA (non-dumpable; setns user first, then the others) ──fork──> process
       │ puts stageA in the container's cgroup                    │ reports the pid, exits
       └── waits for "ready"; writes --pid-file; unless --detach, reaps the process (subreaper)

The process goes through the tail of the init sequence (console, no_new_privs,
seccomp, capabilities and user, close fds, exec), so the same guarantees hold.
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

# (type, /proc/<pid>/ns name) in the order they are joined: the user namespace first
_JOIN_ORDER = [("user", "user"), ("ipc", "ipc"), ("uts", "uts"), ("network", "net"), ("pid", "pid"),
               ("cgroup", "cgroup"), ("time", "time"), ("mount", "mnt")]


def exec_process(root: str, container_id: str, process: dict[str, Any], *, detach: bool = False,
                 pid_file: str | None = None, console_socket: str | None = None,
                 preserve_fds: int = 0, console_fd: int | None = None,
                 on_started: Callable[[int], None] | None = None) -> int:
    """Run ``process`` in the container; its exit code (0 at once with ``detach``).

    The terminal's master goes to ``console_socket`` (a path, runc's flag) or to
    ``console_fd``, an already connected socket (the exec server's caller holds
    the other end).  ``on_started`` gets the process's host pid once it is about
    to exec the user program.
    """
    from dockyard.runtime.native import ops

    st = ContainerState(root, container_id).load()
    status = ops.status_of(st)
    if status not in ("running", "created"):
        raise Conflict(f"cannot exec in container {container_id}: it is {status}")
    spec_defaults.validate_process(process)
    if process.get("terminal") and not console_socket and console_fd is None:
        raise InvalidParameter("exec --tty needs --console-socket")
    config = st.load_config()
    from dockyard.runtime.native import caps

    from dockyard.runtime.native.create import ambient_subset

    capsets = ambient_subset(caps.parse_capabilities(process.get("capabilities")))
    seccomp_program = None
    seccomp_config = (config.get("linux") or {}).get("seccomp")
    if seccomp_config:
        from dockyard.runtime.native import seccomp

        seccomp_program = seccomp.compile_filter(seccomp_config, cache_dir=seccomp.cache_dir(root))
    cgroup = ops.cgroup_of(st)
    import sys as _sys

    from dockyard.runtime.native import selfprotect

    selfprotect.ensure_protected(_sys.executable)
    return _spawn(st, config, process, capsets, seccomp_program, cgroup, detach, pid_file,
                  console_socket, preserve_fds, console_fd, on_started)


def _namespaces(pid: int) -> list[tuple[str, int]]:
    """Open the container's namespaces that differ from ours."""
    fds: list[tuple[str, int]] = []
    try:
        for kind, name in _JOIN_ORDER:
            theirs = f"/proc/{pid}/ns/{name}"
            try:
                if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                    continue
            except FileNotFoundError:
                continue
            fds.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
    except OSError as exc:
        for _, fd in fds:
            os.close(fd)
        raise SystemError_(f"open namespaces of process {pid}: {exc.strerror}") from None
    return fds


def _spawn(st: ContainerState, config: dict[str, Any], process: dict[str, Any], capsets: Any,
           seccomp_program: Any, cgroup: Any, detach: bool, pid_file: str | None,
           console_socket: str | None, preserve_fds: int, console_fd: int | None = None,
           on_started: Callable[[int], None] | None = None) -> int:
    from dockyard.runtime.native import init as init_mod
    from dockyard.runtime.native.syscalls import Syscalls

    init_mod.preload(process)
    sys = Syscalls()
    ns_fds = _namespaces(st.pid)
    console_sock = None
    if process.get("terminal"):
        if console_fd is not None:
            console_sock = os.dup(console_fd)
        else:
            from dockyard.runtime.native import terminal

            console_sock = terminal.connect_console_socket(console_socket or "")
    parent, child = Channel.pair()
    if not detach:
        sys.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)  # the process becomes our child when stageA exits
    stage_a = os.fork()
    if stage_a == 0:  # pragma: no cover - child
        parent.close()
        _stage_a(sys, child, config, process, ns_fds, capsets, seccomp_program, console_sock, preserve_fds)
    child.close()
    for _, fd in ns_fds:
        os.close(fd)
    if console_sock is not None:
        os.close(console_sock)
    pid = 0
    started: list[int] = []  # the exec process's pid as soon as it is known (to kill it on failure)
    try:
        cgroup.apply(stage_a)
        parent.send(go=True)
        pid = await_started(parent, on_pid=started.append)
        os.waitpid(stage_a, 0)
        stage_a = 0
        if pid_file:
            atomic_write(pid_file, str(pid), 0o644)
        if on_started is not None:
            on_started(pid)
    except BaseException:
        for p in (*started, stage_a):
            if p:
                try:
                    os.kill(p, 9)
                except ProcessLookupError:
                    pass
        if stage_a:
            os.waitpid(stage_a, 0)
        raise
    finally:
        parent.close()
    if detach:
        return 0
    from dockyard.runtime.native import ops

    return ops.wait_exit(pid)


def await_started(channel: Channel, on_pid: Any = None) -> int:
    """Wait for both "pid" (from stage A) and "ready" (from the exec process); return the pid.

    Two writers share the channel: stage A reports the pid after its fork while
    the exec process, its child, reports "ready" on its own, so either may come
    first (50 concurrent execs hit the other order).
    """
    pending = {"pid", "ready"}
    pid = 0
    while pending:
        msg = channel.recv()
        if msg is None:
            raise SystemError_("container init exited before the exec process was ready")
        if "pid" in msg:
            pid = int(msg["pid"])
            if on_pid is not None:
                on_pid(pid)
        if "error" in msg:
            raise SystemError_(msg["error"])
        if not set(msg) & pending:
            raise SystemError_(f"unexpected message while starting the exec process: {msg}")
        pending -= set(msg)
    return pid


def _stage_a(sys: Any, ch: Channel, config: dict[str, Any], process: dict[str, Any],
             ns_fds: list[tuple[str, int]], capsets: Any, seccomp_program: Any,
             console_sock: int | None, preserve_fds: int) -> None:  # pragma: no cover - child
    from dockyard.runtime.native import create as create_mod
    from dockyard.runtime.native import init as init_mod

    code = 1
    try:
        sys.prctl(sc.PR_SET_DUMPABLE, 0)  # before entering: /proc/<pid>/exe must stay unreachable
        ch.expect("go", "cgroup setup")
        userns = False
        for kind, fd in ns_fds:
            sys.setns(fd, spec_defaults.NAMESPACE_FLAGS[kind], kind)
            os.close(fd)
            userns = userns or kind == "user"
        pid = os.fork()
        if pid == 0:
            try:
                ctx = init_mod.InitContext(sys, config, process, userns=userns, console_sock=console_sock,
                                           channel=ch, capsets=capsets, seccomp=seccomp_program,
                                           preserve_fds=preserve_fds, mount_console=False)
                init_mod.run_steps(ctx, init_mod.EXEC_STEPS)
                raise SystemError_("exec returned")
            except BaseException as exc:  # noqa: BLE001
                if ch.wfd >= 0:
                    create_mod._report(ch, exc)
            os._exit(127)
        ch.send(pid=pid)
        code = 0
    except BaseException as exc:  # noqa: BLE001
        create_mod._report(ch, exc)
    os._exit(code)


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
