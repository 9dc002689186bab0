"""An asyncio client of any runc-compatible runtime binary (dockyard-runtime, crun, runc).

Only the runc command line is assumed (``--root``, ``--log``, ``--log-format
json``; ``create/start/state/kill/delete/pause/resume/update/ps``).  A failing
command raises :class:`RuntimeCommandError` carrying the runtime's own message:
the last ``"level":"error"`` entry of its JSON log when it wrote one, else its
stderr, so the user reads what the runtime said.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from typing import Any

from dockyard.errors import NotFound, SystemError_


class RuntimeCommandError(SystemError_):
    """A runtime command failed; ``message`` is the runtime's own text."""

    def __init__(self, message: str, argv: list[str], returncode: int) -> None:
        super().__init__(message)
        self.argv = argv
        self.returncode = returncode


def _last_error(log_text: str) -> str:
    """The message of the last error entry of a runc-style JSON log."""
    msg = ""
    for line in log_text.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            msg = line
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            msg = str(entry.get("msg", ""))
    return msg


def _means_not_found(message: str, container_id: str) -> bool:
    """runc: "container does not exist"; crun: "error opening file `<root>/<id>/status`"."""
    low = message.lower()
    return ("not exist" in low or "not found" in low
            or ("no such file or directory" in low and container_id in message))


class OCIRuntime:
    """Drive one runtime binary with one state root."""

    def __init__(self, path: str, root: str, extra_args: list[str] | None = None) -> None:
        self.path = path
        self.root = root
        self.extra_args = list(extra_args or [])

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def global_args(self) -> list[str]:
        """Arguments that go before the command (what conmon's ``--runtime-arg`` gets)."""
        return ["--root", self.root, *self.extra_args]

    async def run(self, *args: str, stdin: bytes | None = None, check: bool = True) -> bytes:
        """Run ``runtime <global args> --log F --log-format json <args>``; return its stdout."""
        os.makedirs(self.root, exist_ok=True)
        fd, log_path = tempfile.mkstemp(prefix="dockyard-oci-", suffix=".log")
        os.close(fd)
        argv = [self.path, *self.global_args(), "--log", log_path, "--log-format", "json", *args]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await proc.communicate(stdin)
            if proc.returncode != 0 and check:
                with open(log_path, errors="replace") as f:
                    message = _last_error(f.read()) or err.decode(errors="replace").strip()
                raise RuntimeCommandError(
                    message or f"{self.name} {args[0]} exited with status {proc.returncode}",
                    argv, proc.returncode or -1)
            return out
        finally:
            try:
                os.unlink(log_path)
            except FileNotFoundError:
                pass

    async def create(self, container_id: str, bundle: str, pid_file: str | None = None,
                     console_socket: str | None = None) -> None:
        args = ["create", "--bundle", bundle]
        if pid_file:
            args += ["--pid-file", pid_file]
        if console_socket:
            args += ["--console-socket", console_socket]
        await self.run(*args, container_id)

    async def start(self, container_id: str) -> None:
        await self.run("start", container_id)

    async def state(self, container_id: str) -> dict[str, Any]:
        """The OCI state; NotFound when the runtime does not know the container."""
        try:
            out = await self.run("state", container_id)
        except RuntimeCommandError as exc:
            if _means_not_found(exc.message, container_id):
                raise NotFound(f"No such container: {container_id}") from None
            raise
        return json.loads(out)

    async def kill(self, container_id: str, signal: str | int = "SIGTERM",
                   all_processes: bool = False) -> None:
        """Send a signal (a name like ``SIGTERM``/``TERM`` or a number, also ``signal.Signals``)."""
        args = ["kill"]
        if all_processes:
            args.append("--all")
        sig = str(int(signal)) if isinstance(signal, int) else str(signal)
        await self.run(*args, container_id, sig)

    async def delete(self, container_id: str, force: bool = False) -> None:
        args = ["delete"]
        if force:
            args.append("--force")
        await self.run(*args, container_id)

    async def pause(self, container_id: str) -> None:
        await self.run("pause", container_id)

    async def resume(self, container_id: str) -> None:
        await self.run("resume", container_id)

    async def update(self, container_id: str, resources: dict[str, Any]) -> None:
        """Apply new OCI ``linux.resources`` (``runc update --resources -``)."""
        await self.run("update", "--resources", "-", container_id,
                       stdin=json.dumps(resources).encode())

    async def ps(self, container_id: str) -> list[int]:
        out = await self.run("ps", "--format", "json", container_id)
        return [int(p) for p in json.loads(out or b"[]") or []]
