"""The per-container supervisor: owns the job, resumes at ``start``, records the exit.

``create`` starts ``python -m dockyard.runtime.windows.supervisor ROOT ID
BUNDLE`` detached, with its own stdin/stdout/stderr (the engine's monitor's
pipes or files), and waits for the ``ready`` event or the supervisor's exit.
The supervisor:

1. validates the bundle's config.json again (same pure code as ``create``);
2. creates the named job object and applies every limit;
3. creates the container process suspended with the std handles, assigns it
   to the job (on failure the process is terminated right there), and
   writes ``state.json`` (status ``created``) — then signals ``ready``;
4. waits for ``start`` (or for the process to be killed before it ran),
   resumes the main thread, marks ``running``, signals ``started``;
5. waits for the process to exit, terminates the rest of the job with its
   exit code (like PID 1 of a Linux pid namespace, the container's first
   process takes its tree with it), and writes ``exit.json``.

With a LOG argument (``create --log-path``) the container's stdout and stderr
are pipes the supervisor copies into that file (``stdlog.py``), and the log is
complete before ``exit.json`` appears.

It holds the only handle the runtime keeps on the job, and the job is
``KILL_ON_JOB_CLOSE``: if the supervisor dies, the container dies with it
instead of running unaccounted for.  Any failure before ``ready`` writes
``<root>/<id>/error`` and exits 1, having closed the job (which kills the
suspended process) — ``create`` then reports the error and removes the
directory, leaving neither job nor process behind.
"""

from __future__ import annotations

import getpass
import os
import sys

from dockyard import win32 as w
from dockyard.errors import DockyardError
from dockyard.jobobject import object_name
from dockyard.runtime.windows import state as st
from dockyard.runtime.windows import sync
from dockyard.runtime.windows.job import Job
from dockyard.runtime.windows.process import SuspendedProcess, spawn_suspended
from dockyard.runtime.windows.spec import load_config, parse_config
from dockyard.runtime.windows.stdlog import ContainerLog


def _create(k: w.Kernel32, root: str, cid: str, bundle: str,
            std_handles: tuple[int, int, int] | None) -> tuple[Job, SuspendedProcess]:
    spec = parse_config(load_config(bundle), bundle, dict(os.environ), os.cpu_count() or 1, getpass.getuser())
    job = Job.create(k, object_name(root, cid, "job"))
    try:
        job.apply_limits(spec.limits)
        proc = spawn_suspended(k, spec.command_line, spec.env_block(), spec.cwd, std_handles)
        try:
            job.assign(proc.handle)
            st.write_json(
                os.path.join(st.container_dir(root, cid), "state.json"),
                st.new_state(cid, bundle, proc.pid, os.getpid(), job.name, spec.annotations),
            )
        except BaseException:
            proc.terminate(1)  # undo of spawn_suspended: it never ran an instruction
            proc.close()
            raise
    except BaseException:
        job.close()  # undo of Job.create; KILL_ON_JOB_CLOSE ends anything in it
        raise
    return job, proc


def supervise(root: str, cid: str, bundle: str, log_path: str | None = None) -> int:
    k = w.Kernel32()
    cdir = st.container_dir(root, cid)
    ready = sync.open_event(k, object_name(root, cid, "ready"))
    start = sync.create_event(k, object_name(root, cid, "start"))
    started = sync.create_event(k, object_name(root, cid, "started"))
    log = None
    try:
        log = ContainerLog(log_path) if log_path else None
        job, proc = _create(k, root, cid, bundle, log.child_handles() if log else None)
    except (DockyardError, OSError) as exc:
        if log is not None:
            log.close()
        with open(os.path.join(cdir, "error"), "w", encoding="utf-8") as f:
            f.write(str(exc))
        return 1
    if log is not None:
        log.start()
    try:
        sync.set_event(k, ready, "ready")
        if sync.wait_any(k, [start, proc.handle], w.INFINITE) == 0:
            proc.resume()
            state = st.read_json(os.path.join(cdir, "state.json")) or {}
            state["status"] = "running"
            st.write_json(os.path.join(cdir, "state.json"), state)
            sync.set_event(k, started, "started")
        proc.wait()
        code = proc.exit_code()
        code = 255 if code is None else code
        try:
            job.terminate(code)  # the first process's end ends the container
        except OSError:
            pass
        if log is not None:
            log.close()  # every writer is gone with the job: the log is complete before the exit is
        st.write_json(os.path.join(cdir, "exit.json"), {"exitCode": code})
        return 0
    finally:
        proc.close()
        job.close()
        for h in (ready, start, started):
            k.CloseHandle(h)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4):
        print("usage: python -m dockyard.runtime.windows.supervisor ROOT ID BUNDLE [LOG]", file=sys.stderr)
        return 2
    return supervise(*args)


if __name__ == "__main__":
    sys.exit(main())
