"""``create``: from a bundle to an init process blocked before the user program.

Process layout.  Without a user namespace (the common case):

    runtime ── unshare(CLONE_NEWPID) or setns(pid path), fork, setns back to its own pid ns ──> init
       │          init: moves itself into its cgroup (v1 ``tasks``), setns by path, unshares the rest
       └── waits for "ready" from init, writes state + pid file, exits; init blocks on exec.fifo

With a user namespace (like runc's nsexec, in Python):

    runtime ──fork──> stage1 ──(v1: moves itself into the cgroup; setns/unshare user, then
       │                 the rest)──fork──> init (PID 1, born in the cgroup)
       │  writes uid/gid maps (v2: puts the init in the cgroup)  │ reports init's pid, exits
       └── waits for "ready" from init, writes state + pid file, exits; init blocks on exec.fifo

Everything created here has its undo on the failure path: the init is
killed, the cgroup destroyed, the state folder removed.  Mounts live in the
init's own mount namespace and vanish with it.
"""

from __future__ import annotations

import os

from dockyard.errors import DockyardError, InvalidParameter, SystemError_
from dockyard.runtime.native import spec_defaults
from dockyard.runtime.native import syscalls as sc
from dockyard.runtime.native.channel import Channel
from dockyard.runtime.native.state import OCI_VERSION, ContainerState, atomic_write, now_rfc3339, proc_start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class CreateOptions:
    def __init__(self, bundle: str, pid_file: str | None = None, console_socket: str | None = None,
                 no_pivot: bool = False, preserve_fds: int = 0, subreaper: bool = False,
                 systemd_cgroup: bool = False) -> None:
        self.bundle = os.path.abspath(bundle)
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.subreaper = subreaper  # `run`: the init becomes our child once stage1 exits
        self.systemd_cgroup = systemd_cgroup


def systemd_to_cgroupfs(path: str | None, container_id: str) -> str | None:
    """--systemd-cgroup's "slice:prefix:name" → the cgroupfs path systemd would use.

    We drive cgroupfs directly (no D-Bus); the path matches systemd's layout so
    tools that look for ``<slice>/<prefix>-<name>.scope`` find the container.
    """
    if not path or ":" not in path:
        return path
    parts = path.split(":")
    if len(parts) != 3:
        raise InvalidParameter(f"cgroupsPath {path!r}: with --systemd-cgroup it must be slice:prefix:name")
    slice_name, prefix, name = parts
    slice_name = slice_name or "system.slice"
    nested = ""
    if slice_name.endswith(".slice") and slice_name != "-.slice":
        pieces = slice_name[: -len(".slice")].split("-")
        nested = "".join("/" + "-".join(pieces[: i + 1]) + ".slice" for i in range(len(pieces)))
    unit = f"{prefix}-{name or container_id}.scope" if prefix else f"{name or container_id}.scope"
    return f"{nested}/{unit}"


def create(root: str, container_id: str, opts: CreateOptions) -> ContainerState:
    """Create the container; returns its saved state (status ``created``)."""
    config = spec_defaults.load_bundle_config(opts.bundle)
    linux = config.get("linux") or {}
    process = config["process"]
    if opts.systemd_cgroup and linux.get("cgroupsPath"):
        linux = config["linux"] = dict(linux, cgroupsPath=systemd_to_cgroupfs(linux["cgroupsPath"], container_id))
    flags, join = spec_defaults.namespace_flags(config)
    _check_namespaces(config, flags, join)

    if process.get("terminal") and not opts.console_socket:
        raise InvalidParameter("process.terminal is true: --console-socket is required")

    import sys as _sys

    from dockyard.runtime.native import selfprotect

    selfprotect.ensure_protected(_sys.executable)
    st = ContainerState(root, container_id)
    st.create_dir()
    cgroup = None
    init_pid = 0
    try:
        os.mkfifo(st.fifo, 0o600)
        from dockyard.runtime.native import cgroups

        cgroup = cgroups.new_manager(linux.get("cgroupsPath"), container_id)
        cgroup.create()
        cgroup.set(spec_defaults.resources_with_devices(config))
        if not cgroup.can_attach_self:
            cgroup.warm_attach()  # the ~10 ms the first attach waits for overlaps all that follows
        # parsed here, not before the cgroup, so a probe's wait overlaps these imports (ctypes:
        # ~4 ms) and a seccomp compile; an error still undoes everything (the except below)
        from dockyard.runtime.native import caps

        capsets = ambient_subset(caps.parse_capabilities(process.get("capabilities")))
        seccomp_program = None
        if linux.get("seccomp"):
            from dockyard.runtime.native import seccomp

            seccomp_program = seccomp.compile_filter(linux["seccomp"], cache_dir=seccomp.cache_dir(root))
        st.data = {
            "ociVersion": OCI_VERSION, "id": container_id, "bundle": opts.bundle,
            "rootfs": spec_defaults.rootfs_path(config, opts.bundle), "created": now_rfc3339(),
            "annotations": config.get("annotations") or {}, "cgroupsPath": linux.get("cgroupsPath"),
            "hooks": {k: v for k, v in (config.get("hooks") or {}).items() if k in ("poststart", "poststop")},
        }
        init_pid = _spawn(st, config, opts, flags, join, capsets, seccomp_program, cgroup)
        st.data["pid"] = init_pid
        st.save()
        if opts.pid_file:
            atomic_write(opts.pid_file, str(init_pid), 0o644)
    except BaseException:
        if init_pid:
            _kill(init_pid)
        if cgroup is not None:
            _quiet(cgroup.kill_all, 9)
            _quiet(cgroup.destroy)
        st.remove_dir()
        raise
    return st


def _forks_init_directly(flags: int, join: list[tuple[str, str]]) -> bool:
    """No user namespace (new or joined): the runtime forks the init itself."""
    return not flags & sc.CLONE_NEWUSER and all(kind != "user" for kind, _ in join)


def ambient_subset(capsets: Any) -> Any:
    """Keep only ambient capabilities that are permitted and inheritable.

    The kernel refuses any other; runc ignores those silently (its default
    spec lists ambient caps without inheritable ones), so we do the same.
    """
    capsets.ambient = set(capsets.ambient) & set(capsets.inheritable) & set(capsets.permitted)
    return capsets


def _check_namespaces(config: dict[str, Any], flags: int, join: list[tuple[str, str]]) -> None:
    joined = {kind for kind, _ in join}
    if config.get("hostname") and not (flags & sc.CLONE_NEWUTS or "uts" in joined):
        raise InvalidParameter("config.json: hostname needs a private UTS namespace")
    if not (flags & sc.CLONE_NEWNS or "mount" in joined):
        raise InvalidParameter("config.json: a mount namespace is required")


def _spawn(st: ContainerState, config: dict[str, Any], opts: CreateOptions, flags: int,
           join: list[tuple[str, str]], capsets: Any, seccomp_program: Any, cgroup: Any) -> int:
    """Fork stage1 and the init; run the createRuntime hooks; return the init's host pid."""
    from dockyard.runtime.native import init as init_mod
    from dockyard.runtime.native.syscalls import Syscalls

    init_mod.preload(config["process"])
    sys = Syscalls()
    linux = config.get("linux") or {}
    userns = bool(flags & sc.CLONE_NEWUSER) or any(k == "user" for k, _ in join)
    console_sock = None
    if config["process"].get("terminal"):
        from dockyard.runtime.native import terminal

        console_sock = terminal.connect_console_socket(opts.console_socket or "")
    join_fds = []
    try:
        for kind, path in sorted(join, key=lambda j: j[0] != "user"):  # the user ns first
            join_fds.append((kind, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC)))
    except OSError as exc:
        for _, _, fd in join_fds:
            os.close(fd)
        raise InvalidParameter(f"cannot open namespace path {exc.filename}: {exc.strerror}") from None
    fifo_fd = os.open(st.fifo, os.O_RDWR | os.O_CLOEXEC)  # held by init; `start` writes one byte
    parent, child = Channel.pair()
    if opts.subreaper:
        sys.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    # no user namespace: the runtime forks the init itself (one fork of a Python process
    # instead of two, ~2-3 ms of create) and the init joins or makes the namespaces; with a
    # user namespace stage1 enters it first and forks the init, as runc's nsexec does
    direct = _forks_init_directly(flags, join)
    # the first child moves itself into the cgroup (no global lock, no RCU wait; v1), while it
    # is still root in the host's namespaces: the init directly, or stage1 before it enters a
    # user namespace (whose root could not write the host's cgroup files); the init it forks
    # is born in the cgroup
    self_attach = bool(cgroup.can_attach_self)
    stage1 = init_pid = 0
    if direct:
        pid_fd = next((fd for kind, _, fd in join_fds if kind == "pid"), None)
        init_pid = _fork_into_pid_ns(sys, flags, pid_fd)
        if init_pid == 0:  # pragma: no cover - the container's PID 1
            parent.close()
            _direct_init(sys, child, config, opts, flags, st, capsets, seccomp_program, cgroup,
                         console_sock, fifo_fd, self_attach,
                         [(kind, path, fd) for kind, path, fd in join_fds if kind != "pid"])
    else:
        stage1 = os.fork()
        if stage1 == 0:  # pragma: no cover - runs in the child
            parent.close()
            _stage1(sys, child, config, opts, flags, join_fds, st, capsets, seccomp_program, cgroup,
                    userns, console_sock, fifo_fd, self_attach)
    child.close()
    for _, _, fd in join_fds:
        os.close(fd)
    os.close(fifo_fd)
    if console_sock is not None:
        os.close(console_sock)
    try:
        if flags & sc.CLONE_NEWUSER:
            parent.expect("userns", "user namespace setup")
            _write_id_maps(stage1, linux)
            parent.send(mapped=True)
        if stage1:
            init_pid = int(parent.expect("pid", "the init process started"))
        state = st.oci_state("creating")
        state["pid"] = init_pid
        parent.send(state=state)  # the init starts on its rootfs now, stage1's exit is ours to reap
        if stage1:
            os.waitpid(stage1, 0)
            stage1 = 0
        if not self_attach:
            cgroup.apply(init_pid)  # meanwhile the init mounts its rootfs
        parent.send(go=True)
        # done while the init works (it is the critical path now); only `exec` reads config.json,
        # and only once state.json exists
        st.data["pidStartTime"] = proc_start_time(init_pid)
        st.save_config(config)
        while True:
            msg = parent.recv()
            if msg is None:
                raise SystemError_("container init exited during setup")
            if "error" in msg:
                raise SystemError_(msg["error"]) if msg.get("kind") != "invalid" else InvalidParameter(msg["error"])
            if msg.get("hooks") == "createRuntime":
                from dockyard.runtime.native import hooks

                hooks.run_hooks(config.get("hooks"), "prestart", state)
                hooks.run_hooks(config.get("hooks"), "createRuntime", state)
                parent.send(ok=True)
            elif msg.get("ready"):
                return init_pid
    except BaseException:
        if init_pid:
            _kill(init_pid)
            if direct:  # our own child: leave no zombie
                _quiet(os.waitpid, init_pid, 0)
        if stage1:
            _kill(stage1)
            _quiet(os.waitpid, stage1, 0)
        raise
    finally:
        parent.close()


def _fork_into_pid_ns(sys: Any, flags: int, join_fd: int | None = None) -> int:
    """fork(); the child is PID 1 of a new pid namespace (CLONE_NEWPID in ``flags``) or
    a process of the pid namespace ``join_fd`` refers to.

    unshare(CLONE_NEWPID) and setns(CLONE_NEWPID) change only where the caller's *future*
    children go; right after the fork the runtime setns()es back to its own pid namespace,
    so whatever it forks later (the prestart/createRuntime hooks) runs in the host's.
    """
    if not flags & sc.CLONE_NEWPID and join_fd is None:
        return os.fork()
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    pid = -1
    try:
        if join_fd is not None:
            sys.setns(join_fd, sc.CLONE_NEWPID, "pid namespace")
        else:
            sys.unshare(sc.CLONE_NEWPID)
        pid = os.fork()
    finally:
        if pid != 0:
            sys.setns(own, sc.CLONE_NEWPID, "/proc/self/ns/pid")
        os.close(own)
    return pid


def _process_settings(sys: Any, config: dict[str, Any]) -> None:
    """What the container's processes get before they enter anything."""
    sys.prctl(sc.PR_SET_DUMPABLE, 0)  # /proc/<pid>/exe of the runtime stays out of reach
    adj = config["process"].get("oomScoreAdj")
    if adj is not None:
        sys.write_file("/proc/self/oom_score_adj", str(int(adj)))


def _direct_init(sys: Any, ch: Channel, config: dict[str, Any], opts: CreateOptions, flags: int,
                 st: ContainerState, capsets: Any, seccomp_program: Any, cgroup: Any,
                 console_sock: int | None, fifo_fd: int, self_attach: bool,
                 join_fds: list[tuple[str, str, int]]) -> None:  # pragma: no cover
    """The init forked by the runtime itself: enter its cgroup, join and make the namespaces, run."""
    try:
        _process_settings(sys, config)
        if self_attach:  # first: everything the init does from here on is the container's
            cgroup.attach_self()
        for kind, path, fd in join_fds:  # namespaces given by path (pid: joined by the fork)
            sys.setns(fd, spec_defaults.NAMESPACE_FLAGS[kind], path)
            os.close(fd)
        rest = flags & ~(sc.CLONE_NEWUSER | sc.CLONE_NEWCGROUP | sc.CLONE_NEWPID)
        if rest:
            sys.unshare(rest)
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the runtime
        _report(ch, exc)
        os._exit(1)
    _init(sys, ch, config, opts, flags, st, capsets, seccomp_program, cgroup, False, console_sock, fifo_fd)


def _stage1(sys: Any, ch: Channel, config: dict[str, Any], opts: CreateOptions, flags: int,
            join_fds: list[tuple[str, str, int]], st: ContainerState, capsets: Any, seccomp_program: Any,
            cgroup: Any, userns: bool, console_sock: int | None, fifo_fd: int,
            self_attach: bool) -> None:  # pragma: no cover
    """Child of the runtime: enter/create the namespaces, fork the init, report its pid, exit."""
    code = 1
    try:
        _process_settings(sys, config)
        if self_attach:  # still root in the host's namespaces; the init is born in the cgroup
            cgroup.attach_self()
        for kind, path, fd in join_fds:
            sys.setns(fd, spec_defaults.NAMESPACE_FLAGS[kind], path)
            os.close(fd)
        if flags & sc.CLONE_NEWUSER:
            sys.unshare(sc.CLONE_NEWUSER)
            ch.send(userns=True)
            ch.expect("mapped", "uid/gid maps")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        # the cgroup namespace is made by the init once the runtime has moved it into its
        # cgroup (the first cgroup v1 attach waits for an RCU grace period: ~10 ms, which the
        # init spends building its rootfs), so the init sees its own cgroup as /
        rest = flags & ~(sc.CLONE_NEWUSER | sc.CLONE_NEWCGROUP)
        if rest:
            sys.unshare(rest)
        pid = os.fork()
        if pid == 0:
            _init(sys, ch, config, opts, flags, st, capsets, seccomp_program, cgroup, userns,
                  console_sock, fifo_fd)
        ch.send(pid=pid)
        code = 0
    except BaseException as exc:  # noqa: BLE001 - everything goes back to the runtime
        _report(ch, exc)
    os._exit(code)


def _init(sys: Any, ch: Channel, config: dict[str, Any], opts: CreateOptions, flags: int,
          st: ContainerState, capsets: Any, seccomp_program: Any, cgroup: Any, userns: bool,
          console_sock: int | None, fifo_fd: int) -> None:  # pragma: no cover - the container's PID 1
    from dockyard.runtime.native import init as init_mod

    try:
        state = ch.expect("state", "container state")

        def enter_cgroup() -> None:
            ch.expect("go", "cgroup setup")
            if flags & sc.CLONE_NEWCGROUP:
                sys.unshare(sc.CLONE_NEWCGROUP)

        ctx = init_mod.InitContext(
            sys, config, config["process"], rootfs=spec_defaults.rootfs_path(config, opts.bundle),
            bundle=opts.bundle, no_pivot=opts.no_pivot, userns=userns,
            cgroup_ns=bool(flags & sc.CLONE_NEWCGROUP), cgroup_paths=cgroup.paths(),
            console_sock=console_sock, fifo_fd=fifo_fd, channel=ch, capsets=capsets,
            seccomp=seccomp_program, preserve_fds=opts.preserve_fds, state=state,
            enter_cgroup=enter_cgroup)
        init_mod.run_steps(ctx, init_mod.STANDARD_STEPS)
        raise SystemError_("exec returned")
    except BaseException as exc:  # noqa: BLE001 - never return into the runtime's code
        try:
            if ch.wfd >= 0:
                _report(ch, exc)
            else:  # after "ready" the runtime is gone: the container's stderr is all we have
                os.write(2, f"{exc}\n".encode() if isinstance(exc, init_mod.ExecFailed)
                         else f"dockyard-runtime init: {exc}\n".encode())
        except BaseException:  # noqa: BLE001
            pass
    finally:
        os._exit(127)


def error_text(exc: BaseException) -> str:
    """What an error says to the runtime's caller: our message, ``reason: path``, or the type."""
    if isinstance(exc, DockyardError):
        return exc.message
    if isinstance(exc, OSError):
        from dockyard.runtime.native.init import describe_os_error

        return describe_os_error(exc)
    return f"{type(exc).__name__}: {exc}"


def _report(ch: Channel, exc: BaseException) -> None:
    kind = "invalid" if isinstance(exc, InvalidParameter) else "system"
    text = error_text(exc)
    if os.environ.get("DOCKYARD_RUNTIME_DEBUG"):
        try:
            import traceback

            text += "\n" + "".join(traceback.format_exception(exc))
        except ImportError:  # after pivot_root the host's stdlib is out of reach
            pass
    try:
        ch.send(error=text, kind=kind)
    except OSError:
        pass


def _write_id_maps(pid: int, linux: dict[str, Any]) -> None:
    for key, name in (("uidMappings", "uid_map"), ("gidMappings", "gid_map")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or [])
        if not lines:
            continue
        try:
            with open(f"/proc/{pid}/{name}", "w") as f:
                f.write(lines)
        except OSError as exc:
            raise InvalidParameter(f"cannot write {name} ({lines.strip()!r}): {exc.strerror}") from None


def _kill(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass


def _quiet(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except (DockyardError, OSError):
        pass
