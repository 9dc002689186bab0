"""The runtime's state directory and the names of a container's kernel objects.

``<root>/<id>/`` holds:

- ``state.json``: written by the supervisor once the job and the suspended
  process exist (status ``created``), rewritten at ``start`` (``running``);
- ``exit.json``: the init process's exit code, written by the supervisor
  when it exits — the record ``state`` and ``run`` report;
- ``error``: why the supervisor could not create the container.

Kernel objects are named ``Local\\dockyard-<hash of root>-<id>-<kind>`` so
two runtime roots (two engines, two test runs) never share a name; the
function is :func:`dockyard.jobobject.object_name`, a leaf module, because
the engine opens the job by that name too (``docker stats``).
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any

from dockyard.errors import InvalidParameter, NotFound

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
OCI_VERSION = "1.2.0"


def default_root() -> str:
    return os.path.join(os.environ.get("ProgramData", "C:\\ProgramData"), "dockyard-runtime")


def check_id(container_id: str) -> str:
    if not _ID.match(container_id):
        raise InvalidParameter(
            f"invalid container id {container_id!r}: use letters, digits, '_', '.', '-' (at most 128)"
        )
    return container_id


def container_dir(root: str, container_id: str) -> str:
    return os.path.join(root, check_id(container_id))


def write_json(path: str, data: dict[str, Any]) -> None:
    """Write atomically: readers see the old file or the new one, never half."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read_json(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def load(root: str, container_id: str) -> tuple[str, dict[str, Any] | None]:
    """The container's directory and its state.json (None while creating).

    Raises NotFound when there is no such container."""
    cdir = container_dir(root, container_id)
    if not os.path.isdir(cdir):
        raise NotFound(f"container {container_id} does not exist")
    return cdir, read_json(os.path.join(cdir, "state.json"))


def new_state(container_id: str, bundle: str, pid: int, supervisor_pid: int,
              job: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "ociVersion": OCI_VERSION,
        "id": container_id,
        "status": "created",
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "supervisorPid": supervisor_pid,
        "job": job,
    }
