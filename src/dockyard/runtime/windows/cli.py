"""dockyard's Windows runtime: runc's command line over job-object containers.

Usage (same flags as the Linux runtime and runc)::

    python -m dockyard.runtime.windows.cli [--root DIR] [--log FILE] [--log-format text|json]
        create --bundle DIR [--pid-file F] [--log-path F] ID | start ID | state ID
        kill [--all] ID [SIGNAL] | delete [--force] ID | ps [--format table|json] ID
        run [--bundle DIR] [--pid-file F] [--detach] ID | list | events --stats ID

The create→start split (Windows has no fork): ``create`` validates the
bundle, makes ``<root>/<id>``, creates the ``ready`` event and starts the
detached supervisor (see ``supervisor.py``), then waits for ``ready`` — the
job exists and the process sits suspended in it — or for the supervisor's
failure, whose message it prints after removing the directory.  ``start``
signals the ``start`` event and waits for ``started``.  ``state``, ``kill``,
``ps`` and ``events`` open the job by name; ``delete`` ends the job, waits for
the supervisor to record the exit and removes the directory.

Signals do not exist on Windows: ``kill`` ends the whole job with exit code
128+signal (137 for KILL, 143 for TERM), the code a Linux engine sees for a
container killed by that signal; signal 0 only checks the container is alive.
"""

from __future__ import annotations

import argparse
import ctypes
import getpass
import json
import os
import shutil
import subprocess
import sys
import time
from typing import Any

from dockyard import win32 as w
from dockyard.errors import Conflict, DockyardError, InvalidParameter, NotFound
from dockyard.jobobject import object_name
from dockyard.runtime.windows import state as st
from dockyard.runtime.windows import sync
from dockyard.runtime.windows.job import Job
from dockyard.runtime.windows.spec import load_config, parse_config

SIGNALS = {"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "USR1": 10, "USR2": 12,
           "PIPE": 13, "ALRM": 14, "TERM": 15}
CREATE_TIMEOUT_MS = 60_000
SUPERVISOR_FLAGS = w.DETACHED_PROCESS | w.CREATE_NEW_PROCESS_GROUP


def parse_signal(text: str) -> int:
    """``KILL``, ``SIGKILL`` or ``9`` → 9."""
    name = text.upper().removeprefix("SIG")
    if name in SIGNALS:
        return SIGNALS[name]
    if text.isdigit() and 0 <= int(text) < 65:
        return int(text)
    raise InvalidParameter(f"unknown signal {text!r}")


class Runtime:
    """The commands, over one state root."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.k = w.Kernel32()

    # --- helpers ----------------------------------------------------------------
    def _name(self, cid: str, kind: str) -> str:
        return object_name(self.root, cid, kind)

    def _open_process(self, pid: int, access: int) -> int:
        return int(self.k.OpenProcess(access, False, pid) or 0)

    def status(self, cid: str) -> tuple[str, dict[str, Any], int | None]:
        """(OCI status, state.json, exit code if known)."""
        cdir, state = st.load(self.root, cid)
        exit_info = st.read_json(os.path.join(cdir, "exit.json"))
        if exit_info is not None:
            return "stopped", state or {}, int(exit_info["exitCode"])
        if state is None:
            return "creating", {}, None
        handle = self._open_process(state["pid"], w.SYNCHRONIZE | w.PROCESS_QUERY_INFORMATION)
        if not handle:
            return "stopped", state, None
        try:
            code = w.DWORD()
            alive = self.k.GetExitCodeProcess(handle, ctypes.byref(code)) and code.value == w.STILL_ACTIVE
            if not alive:
                return "stopped", state, None
            try:
                with Job.open(self.k, state["job"]) as job:
                    if not job.contains(handle):  # the pid was reused by another process
                        return "stopped", state, None
            except NotFound:
                return "stopped", state, None
        finally:
            self.k.CloseHandle(handle)
        return state["status"], state, None

    def _wait_supervisor(self, state: dict[str, Any], timeout_ms: int) -> None:
        handle = self._open_process(int(state.get("supervisorPid", 0)), w.SYNCHRONIZE)
        if handle:
            try:
                self.k.WaitForSingleObject(handle, timeout_ms)
            finally:
                self.k.CloseHandle(handle)

    def _wait_job_gone(self, name: str, timeout_s: float = 10) -> None:
        """Return once the named job no longer exists.  The supervisor's exit
        closes the last handle, but Wine drops the object a moment later;
        ``delete`` and a failed ``create`` promise that no job is left."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                Job.open(self.k, name).close()
            except NotFound:
                return
            time.sleep(0.05)
        raise Conflict(f"job object {name} is still there after {timeout_s:.0f} s")

    # --- commands ---------------------------------------------------------------
    def create(self, cid: str, bundle: str, pid_file: str | None,
               log_path: str | None = None) -> subprocess.Popen[bytes]:
        st.check_id(cid)
        bundle = os.path.abspath(bundle)
        # Fail fast, before any object exists; the supervisor validates again.
        parse_config(load_config(bundle), bundle, dict(os.environ), os.cpu_count() or 1, getpass.getuser())
        cdir = st.container_dir(self.root, cid)
        os.makedirs(self.root, exist_ok=True)
        try:
            os.mkdir(cdir)
        except FileExistsError:
            raise Conflict(f"container {cid} already exists") from None
        ready = 0
        try:
            ready = sync.create_event(self.k, self._name(cid, "ready"))
            supervisor = self._spawn_supervisor(cid, bundle, log_path)
            got = sync.wait_any(self.k, [ready, int(supervisor._handle)], CREATE_TIMEOUT_MS)  # type: ignore[attr-defined]
            if got != 0:
                if got is None:
                    supervisor.kill()
                supervisor.wait()
                self._wait_job_gone(self._name(cid, "job"))
                raise self._creation_error(cdir, cid, got is None)
            _, state = st.load(self.root, cid)
            if pid_file and state:
                with open(pid_file, "w", encoding="utf-8") as f:
                    f.write(str(state["pid"]))
            return supervisor
        except BaseException:
            shutil.rmtree(cdir, ignore_errors=True)  # undo of os.mkdir
            raise
        finally:
            if ready:
                self.k.CloseHandle(ready)

    def _spawn_supervisor(self, cid: str, bundle: str, log_path: str | None) -> subprocess.Popen[bytes]:
        # with a log the supervisor holds none of our handles: a caller reading our output sees its end
        stdio = [fd if _fd_ok(fd) and not log_path else subprocess.DEVNULL for fd in (0, 1, 2)]
        args = [sys.executable, "-m", "dockyard.runtime.windows.supervisor", self.root, cid, bundle]
        if log_path:
            args.append(os.path.abspath(log_path))
        try:  # out of the caller's job, if it allows that: the container must not die with it
            return subprocess.Popen(args, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                                    creationflags=SUPERVISOR_FLAGS | w.CREATE_BREAKAWAY_FROM_JOB)
        except PermissionError:
            return subprocess.Popen(args, stdin=stdio[0], stdout=stdio[1], stderr=stdio[2],
                                    creationflags=SUPERVISOR_FLAGS)

    def _creation_error(self, cdir: str, cid: str, timed_out: bool) -> DockyardError:
        try:
            with open(os.path.join(cdir, "error"), encoding="utf-8") as f:
                message = f.read().strip()
        except FileNotFoundError:
            message = "the supervisor timed out" if timed_out else "the supervisor exited without a word"
        return InvalidParameter(f"cannot create container {cid}: {message}")

    def start(self, cid: str) -> None:
        status, _, _ = self.status(cid)
        if status != "created":
            raise Conflict(f"cannot start container {cid}: it is {status}, not created")
        start = sync.open_event(self.k, self._name(cid, "start"))
        started = sync.open_event(self.k, self._name(cid, "started"))
        try:
            sync.set_event(self.k, start, "start")
            if sync.wait_any(self.k, [started], 30_000) is None:
                raise Conflict(f"container {cid} did not start within 30 s")
        finally:
            self.k.CloseHandle(start)
            self.k.CloseHandle(started)

    def state(self, cid: str) -> dict[str, Any]:
        status, state, exit_code = self.status(cid)
        out = {"ociVersion": st.OCI_VERSION, "id": cid, "status": status,
               "pid": state.get("pid", 0) if status != "stopped" else 0,
               "bundle": state.get("bundle", ""), "annotations": state.get("annotations", {})}
        if "created" in state:
            out["created"] = state["created"]
        if exit_code is not None:
            out["exitCode"] = exit_code  # not in the OCI state; what the monitor would record
        return out

    def kill(self, cid: str, signal: int) -> None:
        status, state, _ = self.status(cid)
        if status not in ("created", "running"):
            raise Conflict(f"container {cid} is not running (it is {status})")
        if signal == 0:
            return
        with Job.open(self.k, state["job"]) as job:
            job.terminate(128 + signal)

    def delete(self, cid: str, force: bool) -> None:
        status, state, _ = self.status(cid)
        if status == "running" and not force:
            raise Conflict(f"cannot delete container {cid}: it is running; stop it or use --force")
        if status in ("created", "running"):
            try:
                with Job.open(self.k, state["job"]) as job:
                    job.terminate(128 + SIGNALS["KILL"])
            except NotFound:
                pass
        if state:
            self._wait_supervisor(state, 30_000)
        self._wait_job_gone(self._name(cid, "job"))
        shutil.rmtree(st.container_dir(self.root, cid), ignore_errors=True)

    def ps(self, cid: str) -> list[int]:
        status, state, _ = self.status(cid)
        if status not in ("created", "running"):
            return []
        with Job.open(self.k, state["job"]) as job:
            return job.pids()

    def stats(self, cid: str) -> dict[str, Any]:
        """runc's ``events --stats`` shape, with the job's raw accounting."""
        status, state, _ = self.status(cid)
        if status not in ("created", "running"):
            raise Conflict(f"container {cid} is not running (it is {status})")
        with Job.open(self.k, state["job"]) as job:
            acct = job.accounting()
        data = {
            "cpu": {"usage": {"total": acct["cpu"]["total_ns"], "user": acct["cpu"]["user_ns"],
                              "kernel": acct["cpu"]["kernel_ns"]}},
            "memory": {"usage": {"max": acct["memory"]["peak_job"], "limit": acct["memory"]["limit"]}},
            "pids": {"current": acct["processes"]["active"], "limit": acct["processes"]["limit"]},
            "windows": acct,
        }
        return {"type": "stats", "id": cid, "data": data}

    def list(self) -> list[dict[str, Any]]:
        if not os.path.isdir(self.root):
            return []
        out = []
        for cid in sorted(os.listdir(self.root)):
            try:
                out.append(self.state(cid))
            except (NotFound, InvalidParameter):
                continue
        return out

    def run(self, cid: str, bundle: str, pid_file: str | None, detach: bool) -> int:
        supervisor = self.create(cid, bundle, pid_file)
        try:
            self.start(cid)
        except BaseException:
            self.delete(cid, force=True)
            raise
        if detach:
            return 0
        supervisor.wait()
        _, _, code = self.status(cid)
        self.delete(cid, force=True)
        return 255 if code is None else code


def _fd_ok(fd: int) -> bool:
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dockyard-runtime-windows")
    p.add_argument("--root", default=None)
    p.add_argument("--log", default=None)
    p.add_argument("--log-format", choices=("text", "json"), default="text")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--systemd-cgroup", action="store_true", help="accepted for compatibility; no meaning on Windows")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create")
    c.add_argument("--bundle", "-b", default=".")
    c.add_argument("--pid-file", default=None)
    c.add_argument("--console-socket", default=None)
    c.add_argument("--no-pivot", action="store_true")
    c.add_argument("--log-path", default=None, help="the container's stdout/stderr into this file (k8s-file)")
    c.add_argument("id")
    r = sub.add_parser("run")
    r.add_argument("--bundle", "-b", default=".")
    r.add_argument("--pid-file", default=None)
    r.add_argument("--detach", "-d", action="store_true")
    r.add_argument("--console-socket", default=None)
    r.add_argument("id")
    for name in ("start", "state"):
        sub.add_parser(name).add_argument("id")
    k = sub.add_parser("kill")
    k.add_argument("--all", "-a", action="store_true")
    k.add_argument("id")
    k.add_argument("signal", nargs="?", default="TERM")
    d = sub.add_parser("delete")
    d.add_argument("--force", "-f", action="store_true")
    d.add_argument("id")
    ps = sub.add_parser("ps")
    ps.add_argument("--format", "-f", choices=("table", "json"), default="table")
    ps.add_argument("id")
    sub.add_parser("list")
    e = sub.add_parser("events")
    e.add_argument("--stats", action="store_true", required=True)
    e.add_argument("id")
    return p


def _log(path: str | None, fmt: str, message: str) -> None:
    if not path:
        return
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    line = (json.dumps({"level": "error", "msg": message, "time": now}) if fmt == "json"
            else f'time="{now}" level=error msg={json.dumps(message)}')
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")


def _dispatch(rt: Runtime, a: argparse.Namespace) -> int:
    if a.command in ("create", "run") and a.console_socket:
        raise InvalidParameter("--console-socket: terminals (ConPTY) are not supported by the Windows runtime")
    if a.command == "create":
        rt.create(a.id, a.bundle, a.pid_file, a.log_path)
    elif a.command == "run":
        return rt.run(a.id, a.bundle, a.pid_file, a.detach)
    elif a.command == "start":
        rt.start(a.id)
    elif a.command == "state":
        print(json.dumps(rt.state(a.id), indent=2))
    elif a.command == "kill":
        rt.kill(a.id, parse_signal(a.signal))
    elif a.command == "delete":
        rt.delete(a.id, a.force)
    elif a.command == "ps":
        pids = rt.ps(a.id)
        print(json.dumps(pids) if a.format == "json" else "\n".join(["PID"] + [str(p) for p in pids]))
    elif a.command == "list":
        for s in rt.list():
            print(f"{s['id']}\t{s['pid']}\t{s['status']}\t{s['bundle']}")
    elif a.command == "events":
        print(json.dumps(rt.stats(a.id)))
    return 0


def main(argv: list[str] | None = None) -> int:
    a = _parser().parse_args(argv)
    try:
        return _dispatch(Runtime(a.root or st.default_root()), a)
    except (DockyardError, OSError) as exc:
        message = str(exc)
        print(f"error: {message}", file=sys.stderr)
        _log(a.log, a.log_format, message)
        return 1


if __name__ == "__main__":
    sys.exit(main())
