"""The registry's error bodies (``{"errors": [{"code", "message", "detail"}]}``), sans-I/O.

dockerd prints a registry error as ``<code in words>: <message>``
(``manifest unknown: manifest unknown``), prefixed by what it was doing; the
prefixes of a failed pull follow moby's ``distribution/errors.go``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass


@dataclass(frozen=True)
class RegistryError:
    code: str
    message: str

    def __str__(self) -> str:
        words = self.code.lower().replace("_", " ")
        return f"{words}: {self.message}" if self.message else words


def parse_errors(body: bytes) -> list[RegistryError]:
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data.get("errors") if isinstance(data, dict) else None
    out = []
    for item in items or []:
        if isinstance(item, dict):
            out.append(RegistryError(str(item.get("code") or "UNKNOWN"), str(item.get("message") or "")))
    if not out and isinstance(data, dict) and isinstance(data.get("details"), str):
        out.append(RegistryError("UNKNOWN", data["details"]))
    return out


def first_error_text(body: bytes) -> str:
    errs = parse_errors(body)
    return str(errs[0]) if errs else ""


def pull_error_text(err: RegistryError, familiar_name: str, familiar_ref: str) -> str | None:
    """moby's notFoundError wording for a failed pull; None when the error is not one of those."""
    if err.code == "DENIED":
        return f"pull access denied for {familiar_name}, repository does not exist or may require " \
               f"'docker login': {err}"
    if err.code == "MANIFEST_UNKNOWN":
        return f"manifest for {familiar_ref} not found: {err}"
    if err.code == "NAME_UNKNOWN":
        return f"repository {familiar_name} not found: {err}"
    return None
