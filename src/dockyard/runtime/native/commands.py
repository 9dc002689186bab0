"""One function per CLI command: turn parsed flags into calls and print results."""

from __future__ import annotations

import os
import sys

from dockyard.errors import InvalidParameter
from dockyard.runtime.native import fastjson

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def dispatch(command: str, root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    handler = globals()["cmd_" + command.replace("-", "_")]
    return handler(root, gopts, opts, pos) or 0


def _print_json(value: Any) -> None:
    sys.stdout.write(fastjson.dumps(value, indent=2) + "\n")
    sys.stdout.flush()


def _int_flag(opts: dict[str, Any], key: str, default: int = 0) -> int:
    value = opts.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise InvalidParameter(f"invalid value {value!r} for --{key.replace('_', '-')}") from None


def _create_options(gopts: dict[str, Any], opts: dict[str, Any], subreaper: bool) -> Any:
    from dockyard.runtime.native.create import CreateOptions

    return CreateOptions(opts.get("bundle") or os.getcwd(), pid_file=opts.get("pid_file"),
                         console_socket=opts.get("console_socket"), no_pivot=bool(opts.get("no_pivot")),
                         preserve_fds=_int_flag(opts, "preserve_fds"), subreaper=subreaper,
                         systemd_cgroup=bool(gopts.get("systemd_cgroup")))


def cmd_create(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import create

    create.create(root, pos[0], _create_options(gopts, opts, subreaper=False))
    return 0


def cmd_run(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import create, ops

    detach = bool(opts.get("detach"))
    st = create.create(root, pos[0], _create_options(gopts, opts, subreaper=not detach))
    if not detach:
        _forward_signals(st.pid)  # before start: the program may run (and be signalled) at once
    try:
        ops.start(root, pos[0])
    except BaseException:
        ops.delete(root, pos[0], force=True)
        raise
    if detach:
        return 0
    code = ops.wait_exit(st.pid)
    if not opts.get("keep"):
        ops.delete(root, pos[0], force=True)
    return code


def _forward_signals(pid: int) -> None:
    """Foreground `run`: signals sent to the runtime go to the container's init, as with runc."""
    import _signal  # the `signal` module imports enum (~10 ms)

    def forward(signum: int, _frame: Any) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in (1, 2, 3, 10, 12, 15, 28):  # HUP INT QUIT USR1 USR2 TERM WINCH
        _signal.signal(signum, forward)


def cmd_start(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    ops.start(root, pos[0])
    return 0


def cmd_state(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    _print_json(ops.state(root, pos[0]))
    return 0


def cmd_kill(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    sig = ops.parse_signal(pos[1]) if len(pos) > 1 else 15
    ops.kill(root, pos[0], sig, bool(opts.get("all")))
    return 0


def cmd_delete(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    ops.delete(root, pos[0], bool(opts.get("force")))
    return 0


def cmd_pause(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    ops.pause(root, pos[0])
    return 0


def cmd_resume(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    ops.resume(root, pos[0])
    return 0


def cmd_exec(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import exec as exec_mod
    from dockyard.runtime.native.state import ContainerState

    container_id = pos[0]
    if opts.get("process"):
        process = exec_mod.load_process_file(opts["process"])
        if opts.get("tty"):
            process["terminal"] = True
    else:
        if len(pos) < 2:
            raise InvalidParameter("exec: give a command after the container id, or --process FILE")
        config = ContainerState(root, container_id).load().load_config()
        process = exec_mod.process_from_args(
            config, pos[1:], env=opts.get("env") or [], cwd=opts.get("cwd"), user=opts.get("user"),
            additional_gids=opts.get("additional_gids") or [], caps=opts.get("cap") or [],
            tty=bool(opts.get("tty")), no_new_privs=bool(opts.get("no_new_privs")))
    return exec_mod.exec_process(root, container_id, process, detach=bool(opts.get("detach")),
                                 pid_file=opts.get("pid_file"), console_socket=opts.get("console_socket"),
                                 preserve_fds=_int_flag(opts, "preserve_fds"))


def cmd_list(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    states = ops.list_states(root)
    if opts.get("quiet"):
        for s in states:
            print(s["id"])
    elif (opts.get("format") or "table") == "json":
        sys.stdout.write(fastjson.dumps(states) + "\n")
    else:
        rows = [("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")]
        rows += [(s["id"], str(s["pid"]), s["status"], s["bundle"], s["created"], s.get("owner") or "root")
                 for s in states]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("   ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return 0


def cmd_ps(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    pids = ops.ps(root, pos[0])
    if (opts.get("format") or "table") == "json":
        sys.stdout.write(fastjson.dumps(pids) + "\n")
        return 0
    ps_args = pos[1:] or ["-ef"]
    import subprocess

    out = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=True).stdout.splitlines()
    if not out:
        return 0
    header = out[0].split()
    if "PID" not in header:
        raise InvalidParameter("ps: the ps options must print a PID column")
    col = header.index("PID")
    print(out[0])
    wanted = set(pids)
    for line in out[1:]:
        fields = line.split()
        if len(fields) > col and fields[col].isdigit() and int(fields[col]) in wanted:
            print(line)
    return 0


def cmd_update(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import ops

    extra: dict[str, dict[str, Any]] = {}
    simple = {
        "memory": ("memory", "limit"), "memory_swap": ("memory", "swap"),
        "memory_reservation": ("memory", "reservation"), "cpu_shares": ("cpu", "shares"),
        "cpu_quota": ("cpu", "quota"), "cpu_period": ("cpu", "period"), "pids_limit": ("pids", "limit"),
        "blkio_weight": ("blockIO", "weight"),
    }
    for key, (section, field) in simple.items():
        if opts.get(key) is not None:
            extra.setdefault(section, {})[field] = _int_flag(opts, key)
    for key, field in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        if opts.get(key) is not None:
            extra.setdefault("cpu", {})[field] = opts[key]
    if not opts.get("resources") and not extra:
        raise InvalidParameter("update: give --resources FILE (OCI linux.resources JSON, '-' for stdin)")
    ops.update(root, pos[0], opts.get("resources"), extra)
    return 0


def cmd_spec(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import spec_defaults

    path = os.path.join(opts.get("bundle") or ".", "config.json")
    if os.path.exists(path):
        raise InvalidParameter(f"File {path} exists. Remove it first.")
    with open(path, "w") as f:
        f.write(fastjson.dumps(spec_defaults.default_spec(bool(opts.get("rootless"))), indent=2) + "\n")
    return 0


def cmd_features(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    from dockyard.runtime.native import features

    _print_json(features.features())
    return 0


def cmd_exec_server(root: str, gopts: dict[str, Any], opts: dict[str, Any], pos: list[str]) -> int:
    """Serve exec requests on the inherited socket ``--fd N`` (an engine's zygote; see execserver.py)."""
    from dockyard.runtime.native import execserver

    fd = _int_flag(opts, "fd", -1)
    if fd < 0:
        raise InvalidParameter("exec-server: --fd N (an inherited unix SOCK_SEQPACKET socket) is required")
    try:
        os.fstat(fd)
    except OSError:
        raise InvalidParameter(f"exec-server: --fd {fd} is not an open file descriptor") from None
    return execserver.serve(root, fd)
