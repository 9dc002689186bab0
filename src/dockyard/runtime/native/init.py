"""The container-start sequence, as an ordered list of named steps.

The order is runc's ``standard_init_linux.go``: network (loopback), rootfs, console, hostname,
sysctls, readonly/masked paths, no_new_privs, seccomp, capabilities and user,
close inherited fds, wait for ``start``, exec.  Security depends on it (e.g.
seccomp after no_new_privs, capabilities dropped before exec, fds closed after
the last host file is used), so ``tests/unit/runtime/test_init_order.py`` runs
these steps against a recording fake of the ``Syscalls`` facade.

Every step runs in the container's init process (PID 1 of the new pid
namespace).  Modules needed after ``pivot_root`` are imported before it: the
host's ``sys.path`` is gone once the container's root is ``/``.
"""

from __future__ import annotations

import json
import os

from dockyard.errors import InvalidParameter, SystemError_
from dockyard.runtime.native import hooks as hooks_mod
from dockyard.runtime.native.execdiag import explain  # here, not in step_exec: after pivot_root the runtime's files are gone
from dockyard.runtime.native import mounts
from dockyard.runtime.native import spec_defaults
from dockyard.runtime.native import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

    from dockyard.runtime.native.channel import Channel
    from dockyard.runtime.native.syscalls import Syscalls


class InitContext:
    """Everything the steps need; built by the runtime before it forks."""

    def __init__(self, sys: Syscalls, config: dict[str, Any], process: dict[str, Any], *,
                 rootfs: str = "/", bundle: str = "", no_pivot: bool = False, userns: bool = False,
                 cgroup_ns: bool = False, cgroup_paths: dict[str, str] | None = None,
                 console_sock: int | None = None, fifo_fd: int | None = None,
                 channel: Channel | None = None, capsets: Any = None, seccomp: Any = None,
                 preserve_fds: int = 0, state: dict[str, Any] | None = None,
                 enter_cgroup: Callable[[], None] | None = None, mount_console: bool = True) -> None:
        self.sys = sys
        self.config = config
        self.process = process
        self.rootfs = rootfs
        self.bundle = bundle
        self.no_pivot = no_pivot
        self.userns = userns
        self.cgroup_ns = cgroup_ns
        self.cgroup_paths = cgroup_paths or {}
        self.console_sock = console_sock
        self.fifo_fd = fifo_fd
        self.channel = channel
        self.capsets = capsets
        self.seccomp = seccomp
        self.preserve_fds = preserve_fds
        self.state = state or {}
        self.enter_cgroup = enter_cgroup
        # only the container's init binds its terminal on /dev/console; an exec's pty is its own
        # (runc's setns init does not mount it either)
        self.mount_console = mount_console
        self.executable = ""

    @property
    def linux(self) -> dict[str, Any]:
        return self.config.get("linux") or {}

    @property
    def no_new_privs(self) -> bool:
        return bool(self.process.get("noNewPrivileges"))

    @property
    def hooks(self) -> dict[str, Any]:
        return self.config.get("hooks") or {}


Step = tuple[str, "Callable[[InitContext], None]"]


# -- the steps ---------------------------------------------------------------------------
def step_network(ctx: InitContext) -> None:
    """A network namespace made for this container gets its loopback up (runc's and crun's
    "loopback" setup, Docker's sandbox): ``--network none`` included.  A namespace joined by
    path belongs to whoever made it and is left as it is."""
    for ns in ctx.linux.get("namespaces") or []:
        if ns.get("type") == "network" and not ns.get("path"):
            ctx.sys.link_up("lo")
            return


def step_rootfs(ctx: InitContext) -> None:
    """Mounts and /dev inside a private mount namespace, hooks, then pivot_root."""
    builder = mounts.RootfsBuilder(ctx.sys, ctx.config, ctx.rootfs, ctx.bundle, ctx.userns,
                                   ctx.cgroup_ns, ctx.cgroup_paths, ctx.enter_cgroup)
    builder.prepare()
    cwd = mounts.secure_join(ctx.rootfs, ctx.process.get("cwd") or "/")
    if not os.path.lexists(cwd):  # like runc: a missing working directory is created
        ctx.sys.mkdir_all(cwd)
    if ctx.channel is not None and (ctx.hooks.get("prestart") or ctx.hooks.get("createRuntime")):
        ctx.channel.send(hooks="createRuntime")  # the runtime runs them in the host's namespaces
        ctx.channel.expect("ok", "createRuntime hooks")
    hooks_mod.run_hooks(ctx.hooks, "createContainer", ctx.state)
    builder.pivot(ctx.no_pivot)
    builder.finalize()


def step_console(ctx: InitContext) -> None:
    if not ctx.process.get("terminal"):
        # a session (and process group) of its own, as runc's: else ``kill 0`` in the container
        # signals the monitor outside it, and ps shows no session leader (the terminal case below)
        try:
            os.setsid()
        except PermissionError:  # already a group leader
            pass
        return
    if ctx.console_sock is None:
        raise InvalidParameter("process.terminal is true but no --console-socket was given")
    from dockyard.runtime.native import terminal

    user = ctx.process.get("user") or {}
    terminal.setup_console(ctx.sys, ctx.console_sock, user.get("uid", 0), user.get("gid", 0),
                           mount_console=ctx.mount_console, size=terminal.window_size(ctx.process))
    os.close(ctx.console_sock)
    ctx.console_sock = None


def step_hostname(ctx: InitContext) -> None:
    if ctx.config.get("hostname"):
        ctx.sys.sethostname(ctx.config["hostname"])
    if ctx.config.get("domainname"):
        ctx.sys.setdomainname(ctx.config["domainname"])


def step_sysctls(ctx: InitContext) -> None:
    for key, value in (ctx.linux.get("sysctl") or {}).items():
        path = "/proc/sys/" + key.replace(".", "/")
        try:
            ctx.sys.write_file(path, str(value))
        except OSError as exc:
            raise SystemError_(f"sysctl {key}={value}: {exc.strerror}") from None


def step_paths(ctx: InitContext) -> None:
    mounts.readonly_paths(ctx.sys, ctx.linux.get("readonlyPaths") or [])
    mounts.mask_paths(ctx.sys, ctx.linux.get("maskedPaths") or [])


def step_no_new_privs(ctx: InitContext) -> None:
    if ctx.no_new_privs:
        ctx.sys.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def step_seccomp(ctx: InitContext) -> None:
    """Without no_new_privs the filter needs CAP_SYS_ADMIN: load it while we still have it."""
    if ctx.seccomp is not None and not ctx.no_new_privs:
        ctx.sys.load_seccomp(ctx.seccomp)


def step_user(ctx: InitContext) -> None:
    """rlimits, bounding set, groups, gid, uid, then the remaining capability sets; umask; cwd."""
    for r in ctx.process.get("rlimits") or []:
        try:
            ctx.sys.setrlimit(spec_defaults.RLIMITS[r["type"]], r["soft"], r["hard"])
        except (OSError, ValueError) as exc:
            raise InvalidParameter(f"cannot set {r['type']} to soft={r['soft']} hard={r['hard']}: "
                                   f"{getattr(exc, 'strerror', None) or exc}") from None
    user = ctx.process.get("user") or {}
    uid, gid = int(user.get("uid", 0)), int(user.get("gid", 0))
    if ctx.capsets is not None:
        ctx.sys.drop_bounding(ctx.capsets)
        ctx.sys.keep_caps(True)
    groups = [int(g) for g in user.get("additionalGids") or []]
    if not (ctx.userns and _setgroups_denied()):
        ctx.sys.setgroups(groups)
    try:
        ctx.sys.setresgid(gid)
        ctx.sys.setresuid(uid)
    except OSError as exc:
        raise InvalidParameter(f"cannot switch to user {uid}:{gid}: {exc.strerror} "
                               "(is it mapped in the user namespace?)") from None
    if ctx.capsets is not None:
        ctx.sys.keep_caps(False)
        ctx.sys.apply_caps(ctx.capsets)
    if user.get("umask") is not None:
        ctx.sys.umask(int(user["umask"]))
    cwd = ctx.process.get("cwd") or "/"
    try:
        ctx.sys.chdir(cwd)
    except OSError as exc:
        why = exc.strerror or str(exc)  # runc's words, Go's lower-case errno text
        raise InvalidParameter(f"chdir to cwd ({go_quote(cwd)}) set in config.json failed: "
                               f"{why[:1].lower() + why[1:]}") from None


def step_close_fds(ctx: InitContext) -> None:
    """Nothing of the runtime's may reach the user program: mark every fd >= 3+N close-on-exec,
    and leave no signal ignored that the runtime's interpreter ignores."""
    ctx.sys.close_range_cloexec(3 + ctx.preserve_fds)
    ctx.sys.reset_signals()
    for fd in range(3, 3 + ctx.preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass


def step_wait_for_start(ctx: InitContext) -> None:
    """Find the program, tell the runtime we are ready, block until ``start``."""
    env = _env(ctx.process)
    ctx.executable = lookup_executable(ctx.process["args"][0], env.get("PATH", ""))
    if ctx.channel is not None:
        ctx.channel.send(ready=True)
        ctx.channel.close()
    if ctx.fifo_fd is not None:
        if os.read(ctx.fifo_fd, 1) == b"":
            raise SystemError_("exec fifo closed before start")
        os.close(ctx.fifo_fd)
        ctx.fifo_fd = None
        hooks_mod.run_hooks(ctx.hooks, "startContainer", dict(ctx.state, status="created"))


class ExecFailed(SystemError_):
    """The final execve failed: the text is runc's (``exec /app.sh: no such file or
    directory``), which clients match on, plus the real cause when there is one."""


def step_exec(ctx: InitContext) -> None:
    """With no_new_privs the filter goes in last, so it never filters the runtime's own calls."""
    if ctx.seccomp is not None and ctx.no_new_privs:
        ctx.sys.load_seccomp(ctx.seccomp)
    args = ctx.process["args"]
    try:
        ctx.sys.execve(ctx.executable, args, _env(ctx.process))
    except OSError as exc:
        reason = os.strerror(exc.errno).lower() if exc.errno else str(exc)
        text = f"exec {ctx.executable}: {reason}"
        cause = explain(ctx.executable, exc.errno or 0)
        raise ExecFailed(f"{text}: {cause}" if cause else text) from None


STANDARD_STEPS: list[Step] = [
    ("network", step_network),
    ("rootfs", step_rootfs),
    ("console", step_console),
    ("hostname", step_hostname),
    ("sysctls", step_sysctls),
    ("readonly_and_masked_paths", step_paths),
    ("no_new_privs", step_no_new_privs),
    ("seccomp", step_seccomp),
    ("capabilities_and_user", step_user),
    ("close_inherited_fds", step_close_fds),
    ("wait_for_start", step_wait_for_start),
    ("exec", step_exec),
]

# ``exec`` into a running container: its rootfs, hostname, sysctls and paths exist already
EXEC_STEPS: list[Step] = [
    ("console", step_console),
    ("no_new_privs", step_no_new_privs),
    ("seccomp", step_seccomp),
    ("capabilities_and_user", step_user),
    ("close_inherited_fds", step_close_fds),
    ("wait_for_start", step_wait_for_start),
    ("exec", step_exec),
]


def run_steps(ctx: InitContext, steps: list[Step]) -> None:
    """Run the steps in order; an error names the step that failed."""
    for name, step in steps:
        try:
            step(ctx)
        except (InvalidParameter, SystemError_):
            raise
        except OSError as exc:
            raise SystemError_(f"{name}: {describe_os_error(exc)}") from exc


def describe_os_error(exc: OSError) -> str:
    """``op path: reason`` without Python's ``[Errno n]`` prefix."""
    text = exc.strerror or str(exc)
    if exc.filename is not None:
        text = f"{text}: {exc.filename}"
    return text


def preload(process: dict[str, Any]) -> None:
    """Import what the steps need after pivot_root, while the host's sys.path is still visible.

    Only what this process needs: each import is paid on every container start.
    """
    if process.get("rlimits"):
        import resource  # noqa: F401
    if process.get("terminal"):
        import _socket  # noqa: F401
        import fcntl  # noqa: F401

        from dockyard.runtime.native import terminal  # noqa: F401


# -- helpers --------------------------------------------------------------------------------
def _env(process: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for entry in process.get("env") or []:
        key, _, value = entry.partition("=")
        env[key] = value
    return env


def lookup_executable(name: str, path: str) -> str:
    """Resolve ``name`` like execvp does, in the container's root; a clear error if absent."""
    if "/" in name:
        if not os.path.exists(name):
            raise InvalidParameter(f"exec: {go_quote(name)}: no such file or directory")
        if os.path.isdir(name) or not os.access(name, os.X_OK):
            raise InvalidParameter(f"exec: {go_quote(name)}: permission denied")
        return name
    for directory in (path or "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise InvalidParameter(f"exec: {go_quote(name)}: executable file not found in $PATH")


def go_quote(text: str) -> str:
    """Go's %q, as runc quotes the program in ``exec: "x": ...`` (scripts match on these words)."""
    return json.dumps(text, ensure_ascii=False)


def _setgroups_denied() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() == "deny"
    except OSError:
        return False
