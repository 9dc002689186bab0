"""The runtime's on-disk state: one folder per container under ``--root``.

``<root>/<id>/state.json`` holds what later commands need (pid and its start
time, bundle, cgroups path, hooks); ``<root>/<id>/config.json`` is the bundle's
config as it was at create time (read only by ``exec``/``delete``);
``<root>/<id>/exec.fifo`` exists while the container is ``created``.  Writes
are atomic (temp file + rename) so a reader never sees half a file.
"""

from __future__ import annotations

import os
import time

from dockyard.errors import Conflict, InvalidParameter, NotFound
from dockyard.runtime.native import fastjson

DEFAULT_ROOT = "/run/dockyard-runtime"
OCI_VERSION = "1.2.0"
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def validate_id(container_id: str) -> None:
    """Container IDs are used as folder and cgroup names: keep them to a safe alphabet.

    A leading dot is refused: hidden names under --root are the runtime's own
    (``.seccomp-cache``).
    """
    if not container_id or container_id.startswith(".") or not set(container_id) <= _ID_CHARS:
        raise InvalidParameter(f"invalid container id {container_id!r}: use letters, digits, '_', '+', '-', '.' "
                               "(not first)")


def now_rfc3339() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%09dZ" % int((t % 1) * 1e9)


def atomic_write(path: str, data: str, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new file, never a mix."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data.encode())
    finally:
        os.close(fd)
    try:
        os.rename(tmp, path)
    except OSError:
        os.unlink(tmp)
        raise


def proc_start_time(pid: int) -> int | None:
    """Field 22 of /proc/<pid>/stat (start time in ticks); None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    rest = raw[raw.rfind(b")") + 2:].split()
    if rest[0] in (b"Z", b"X"):
        return None
    return int(rest[19])


class ContainerState:
    """One container's folder under the state root."""

    def __init__(self, root: str, container_id: str) -> None:
        validate_id(container_id)
        self.root = root
        self.id = container_id
        self.dir = os.path.join(root, container_id)
        self.data: dict[str, Any] = {}

    @property
    def fifo(self) -> str:
        return os.path.join(self.dir, "exec.fifo")

    @property
    def state_file(self) -> str:
        return os.path.join(self.dir, "state.json")

    def create_dir(self) -> None:
        os.makedirs(self.root, 0o700, exist_ok=True)
        try:
            os.mkdir(self.dir, 0o700)
        except FileExistsError:
            raise Conflict(f"container with id {self.id!r} already exists") from None

    def remove_dir(self) -> None:
        for name in ("state.json", "config.json", "exec.fifo"):
            try:
                os.unlink(os.path.join(self.dir, name))
            except FileNotFoundError:
                pass
        try:
            for name in os.listdir(self.dir):  # temp files of an interrupted write
                os.unlink(os.path.join(self.dir, name))
            os.rmdir(self.dir)
        except FileNotFoundError:
            pass

    def save(self) -> None:
        atomic_write(self.state_file, fastjson.dumps(self.data))

    def load(self) -> "ContainerState":
        try:
            with open(self.state_file, "rb") as f:
                self.data = fastjson.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"container {self.id!r} does not exist") from None
        return self

    def save_config(self, config: dict) -> None:
        atomic_write(os.path.join(self.dir, "config.json"), fastjson.dumps(config))

    def load_config(self) -> dict:
        with open(os.path.join(self.dir, "config.json"), "rb") as f:
            return fastjson.loads(f.read())

    # -- status ------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return int(self.data.get("pid") or 0)

    def alive(self) -> bool:
        pid = self.pid
        return pid > 0 and proc_start_time(pid) == self.data.get("pidStartTime")

    def status(self, cgroup_state: str | None = None) -> str:
        """created / running / paused / stopped, as the OCI spec names them."""
        if not self.alive():
            return "stopped"
        if os.path.exists(self.fifo):
            return "created"
        if cgroup_state == "paused":
            return "paused"
        return "running"

    def oci_state(self, status: str) -> dict[str, Any]:
        """The OCI state JSON (plus runc's extra fields engines read)."""
        out: dict[str, Any] = {
            "ociVersion": self.data.get("ociVersion", OCI_VERSION),
            "id": self.id,
            "status": status,
            "pid": self.pid if status != "stopped" else 0,
            "bundle": self.data.get("bundle", ""),
            "rootfs": self.data.get("rootfs", ""),
            "created": self.data.get("created", ""),
            "owner": "",
        }
        annotations = self.data.get("annotations")
        if annotations:
            out["annotations"] = annotations
        return out


def list_ids(root: str) -> list[str]:
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return []
    return sorted(n for n in names if os.path.isfile(os.path.join(root, n, "state.json")))
