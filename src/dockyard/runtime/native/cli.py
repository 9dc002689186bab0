"""``dockyard-runtime``: runc's command line over the native runtime.

Engines (dockyard's daemon, conmon, podman) call this exactly like runc or
crun.  Flags follow runc: ``--flag value``, ``--flag=value`` and Go's
single-dash ``-flag`` all work.  Start-up is kept small (no argparse, json,
socket or typing imports): every millisecond here is paid three times per
container (create, start, delete).
"""

from __future__ import annotations

import os
import sys

from dockyard.errors import DockyardError, InvalidParameter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

VERSION = "0.1.0"
SPEC_VERSION = "1.2.0"

# name -> (canonical, kind) ; kind: "bool", "value", "multi"
_GLOBAL = {
    "root": ("root", "value"), "log": ("log", "value"), "log-format": ("log_format", "value"),
    "systemd-cgroup": ("systemd_cgroup", "bool"), "debug": ("debug", "bool"), "criu": ("criu", "value"),
    "rootless": ("rootless", "value"), "help": ("help", "bool"), "h": ("help", "bool"),
    "version": ("version", "bool"), "v": ("version", "bool"),
}
_CREATE = {
    "bundle": ("bundle", "value"), "b": ("bundle", "value"), "pid-file": ("pid_file", "value"),
    "console-socket": ("console_socket", "value"), "no-pivot": ("no_pivot", "bool"),
    "no-new-keyring": ("no_new_keyring", "bool"), "preserve-fds": ("preserve_fds", "value"),
    "no-subreaper": ("no_subreaper", "bool"),
}
_COMMANDS: dict[str, dict[str, tuple[str, str]]] = {
    "create": _CREATE,
    "run": dict(_CREATE, detach=("detach", "bool"), d=("detach", "bool"), keep=("keep", "bool")),
    "start": {},
    "state": {},
    "kill": {"all": ("all", "bool"), "a": ("all", "bool")},
    "delete": {"force": ("force", "bool"), "f": ("force", "bool")},
    "exec": {
        "process": ("process", "value"), "p": ("process", "value"), "tty": ("tty", "bool"), "t": ("tty", "bool"),
        "detach": ("detach", "bool"), "d": ("detach", "bool"), "pid-file": ("pid_file", "value"),
        "console-socket": ("console_socket", "value"), "cwd": ("cwd", "value"), "env": ("env", "multi"),
        "e": ("env", "multi"), "user": ("user", "value"), "u": ("user", "value"),
        "additional-gids": ("additional_gids", "multi"), "g": ("additional_gids", "multi"),
        "cap": ("cap", "multi"), "c": ("cap", "multi"), "no-new-privs": ("no_new_privs", "bool"),
        "preserve-fds": ("preserve_fds", "value"), "process-label": ("process_label", "value"),
        "apparmor": ("apparmor", "value"), "ignore-paused": ("ignore_paused", "bool"),
        "cgroup": ("cgroup", "multi"),
    },
    "list": {"format": ("format", "value"), "f": ("format", "value"), "quiet": ("quiet", "bool"),
             "q": ("quiet", "bool")},
    "ps": {"format": ("format", "value"), "f": ("format", "value")},
    "pause": {},
    "resume": {},
    "update": {"resources": ("resources", "value"), "r": ("resources", "value"),
               "memory": ("memory", "value"), "memory-swap": ("memory_swap", "value"),
               "memory-reservation": ("memory_reservation", "value"), "cpu-shares": ("cpu_shares", "value"),
               "cpu-quota": ("cpu_quota", "value"), "cpu-period": ("cpu_period", "value"),
               "cpuset-cpus": ("cpuset_cpus", "value"), "cpuset-mems": ("cpuset_mems", "value"),
               "pids-limit": ("pids_limit", "value"), "blkio-weight": ("blkio_weight", "value")},
    "spec": {"bundle": ("bundle", "value"), "b": ("bundle", "value"), "rootless": ("rootless", "bool")},
    "features": {},
    # not runc's: for engines, see execserver.py
    "exec-server": {"fd": ("fd", "value")},
}
_POSITIONAL = {"create": 1, "run": 1, "start": 1, "state": 1, "kill": (1, 2), "delete": 1, "exec": -1,
               "list": 0, "ps": (1, 99), "pause": 1, "resume": 1, "update": 1, "spec": 0, "features": 0,
               "exec-server": 0}

USAGE = """usage: dockyard-runtime [global options] COMMAND [options] [arguments]

A runc-compatible OCI runtime (dockyard's native runtime).

global options: --root DIR  --log FILE  --log-format text|json  --systemd-cgroup  --debug

commands:
  create --bundle DIR [--pid-file F] [--console-socket S] [--no-pivot] ID
  start ID              state ID                 kill [--all] ID [SIGNAL]
  delete [--force] ID   run --bundle DIR ID      exec [--process F | ARGS] [--tty] [--detach] ID
  list                  ps ID                    pause ID / resume ID
  update --resources FILE ID                     spec [--bundle DIR]      features
"""


def parse_flags(argv: list[str], table: dict[str, tuple[str, str]], stop_after: int) -> tuple[dict[str, Any], list[str]]:
    """Parse Go-style flags; after ``stop_after`` positionals the rest is positional (-1: never stop)."""
    opts: dict[str, Any] = {}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if 0 < stop_after <= len(pos):
            pos.append(arg)
            continue
        if arg == "--":
            pos.extend(argv[i:])
            break
        if not arg.startswith("-") or arg == "-":
            pos.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name not in table:
            raise InvalidParameter(f"flag provided but not defined: -{name}")
        key, kind = table[name]
        if kind == "bool":
            opts[key] = (value.lower() in ("1", "t", "true")) if eq else True
            continue
        if not eq:
            if i >= len(argv):
                raise InvalidParameter(f"flag needs an argument: -{name}")
            value = argv[i]
            i += 1
        if kind == "multi":
            opts.setdefault(key, []).append(value)
        else:
            opts[key] = value
    return opts, pos


class Logger:
    """runc's --log/--log-format: errors as one line on stderr and in the log file."""

    def __init__(self, path: str | None, fmt: str | None) -> None:
        self.path = path
        self.json = fmt == "json"

    def error(self, message: str) -> None:
        sys.stderr.write(f"dockyard-runtime: {message}\n")
        sys.stderr.flush()
        if not self.path:
            return
        from dockyard.runtime.native.state import now_rfc3339

        if self.json:
            from dockyard.runtime.native import fastjson

            line = fastjson.dumps({"level": "error", "msg": message, "time": now_rfc3339()})
        else:
            line = f"time=\"{now_rfc3339()}\" level=error msg={message!r}"
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            pass


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    log = Logger(None, None)
    try:
        gopts, rest = parse_flags(argv, _GLOBAL, 1)
        log = Logger(gopts.get("log"), gopts.get("log_format"))
        if gopts.get("version"):
            print(f"dockyard-runtime version {VERSION}\nspec: {SPEC_VERSION}")
            return 0
        if gopts.get("help") or not rest or rest[0] in ("help", "--help", "-h"):
            sys.stdout.write(USAGE)
            return 0 if gopts.get("help") or rest else 1
        command = rest[0]
        if command not in _COMMANDS:
            raise InvalidParameter(f"unknown command {command!r} (see dockyard-runtime --help)")
        from dockyard.runtime.native.state import DEFAULT_ROOT

        root = gopts.get("root") or DEFAULT_ROOT
        opts, pos = parse_flags(rest[1:], _COMMANDS[command], 1 if command == "exec" else -1)
        _check_positional(command, pos)
        from dockyard.runtime.native import commands

        return commands.dispatch(command, root, gopts, opts, pos)
    except DockyardError as exc:
        log.error(exc.message)
        return 1
    except OSError as exc:
        log.error(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""))
        return 1
    except KeyboardInterrupt:
        return 130


def _check_positional(command: str, pos: list[str]) -> None:
    want = _POSITIONAL[command]
    if want == -1:
        if not pos:
            raise InvalidParameter(f"{command}: a container id is required")
        return
    low, high = (want, want) if isinstance(want, int) else want
    if len(pos) < low:
        raise InvalidParameter(f"{command}: a container id is required")
    if len(pos) > high:
        raise InvalidParameter(f"{command}: unexpected arguments {' '.join(pos[high:])!r}")


if __name__ == "__main__":
    raise SystemExit(main())
