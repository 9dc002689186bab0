"""Side-by-side comparison helpers: one scenario against dockyard and a reference dockerd.

Pure functions (``normalize``, ``shape_diff``) plus a small ``Engine`` handle
that speaks the API over a unix socket and runs the real docker CLI. The
reference dockerd itself is ``bench.engine_bench.Dockerd``; it is never part
of the test suite, only of ``bench/conformance_diff.py``.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
from dataclasses import dataclass
from typing import Any

from tests.support.daemon import UnixHTTPConnection

_ID64 = re.compile(r"\b(sha256:)?[0-9a-f]{64}\b")
_ID12 = re.compile(r"\b[0-9a-f]{12}\b")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _time_shape(m: re.Match[str]) -> str:
    frac = m.group(1)
    return "<time" + ("" if frac is None else ".frac") + ("Z" if m.group(2) == "Z" else "+tz") + ">"


def normalize(text: str, names: dict[str, str] | None = None) -> str:
    """Replace what differs between two engines by nature: IDs, timestamps, paths, names."""
    for raw, placeholder in (names or {}).items():
        text = text.replace(raw, placeholder)
    text = _ID64.sub("<id>", text)
    text = _ID12.sub("<shortid>", text)
    return _TIME.sub(_time_shape, text)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "number", float: "number", str: "string", list: "array",
            dict: "object"}.get(type(value), type(value).__name__)


def shape_diff(ref: Any, ours: Any, path: str = "", *, values: bool = True,
               names: dict[str, str] | None = None, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Differences between Docker's answer ``ref`` and ours, one line each.

    Compares key sets recursively, value types, and (with ``values``) the
    normalized values of scalars. Paths in ``ignore`` (``State.Pid``; also below
    a leading list index and for everything under them) skip the value check
    only. Lists are compared element-wise up to the shorter length.
    """
    out: list[str] = []
    if isinstance(ref, dict) and isinstance(ours, dict):
        for key in sorted(set(ref) | set(ours)):
            sub = f"{path}.{key}" if path else key
            if key not in ours:
                out.append(f"missing  {sub} (docker: {_short(ref[key])})")
            elif key not in ref:
                out.append(f"extra    {sub} (ours: {_short(ours[key])})")
            else:
                out += shape_diff(ref[key], ours[key], sub, values=values, names=names, ignore=ignore)
        return out
    if type_name(ref) != type_name(ours):
        return [f"type     {path}: docker {type_name(ref)} {_short(ref)} / ours {type_name(ours)} {_short(ours)}"]
    if isinstance(ref, list):
        if values and len(ref) != len(ours) and not ignored(path, ignore):
            out.append(f"length   {path}: docker {len(ref)} / ours {len(ours)}")
        for i, (a, b) in enumerate(zip(ref, ours)):
            out += shape_diff(a, b, f"{path}[{i}]", values=values, names=names, ignore=ignore)
        return out
    if values and not ignored(path, ignore):
        a = normalize(ref, names) if isinstance(ref, str) else ref
        b = normalize(ours, names) if isinstance(ours, str) else ours
        if a != b:
            out.append(f"value    {path}: docker {_short(ref)} / ours {_short(ours)}")
    return out


def ignored(path: str, ignore: frozenset[str]) -> bool:
    """``path`` or one of its parents is in ``ignore`` (a leading ``[N].`` of a list answer dropped)."""
    parts = re.sub(r"^\[\d+\]\.?", "", path).split(".")
    return any(".".join(parts[:i]) in ignore for i in range(1, len(parts) + 1))


def clip(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def indent(text: str, prefix: str = "   | ") -> str:
    return "".join(f"    {prefix}{line}\n" for line in text.splitlines())


Answer = tuple[int, str, str]  # a docker CLI run: exit code, normalized stdout and stderr


def print_differing(ref: Answer, ours: Answer) -> None:
    """Both engines' answers in full, dockerd's first (bench/conformance_diff.py and its tables)."""
    for who, (code, out, err) in (("docker", ref), ("ours", ours)):
        print(f"  {who + ':':8}exit {code}\n{indent(out)}{indent(err, 'err| ')}", end="")


def print_answers(ref: Answer, ours: Answer) -> None:
    """One line when both engines answered the same, both answers otherwise."""
    if ref == ours:
        print(f"  same: exit {ref[0]} out {clip(ref[1])!r} err {clip(ref[2])!r}")
    else:
        print_differing(ref, ours)


def _short(value: Any, limit: int = 90) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class Engine:
    """One engine to drive: its name, socket path and an environment for the docker CLI."""

    name: str
    socket: str
    env: dict[str, str]

    def request(self, method: str, path: str, body: Any = None, timeout: float = 30,
                stream_for: float | None = None) -> tuple[int, Any]:
        """One API call; JSON bodies decoded, JSON-lines bodies as a list."""
        conn = UnixHTTPConnection(self.socket, timeout=stream_for or timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if data is not None else {}
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            try:
                raw = resp.read()
            except (TimeoutError, http.client.IncompleteRead) as exc:
                raw = getattr(exc, "partial", b"")
            return resp.status, decode(raw)
        finally:
            conn.close()

    def docker(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, timeout=timeout)


def decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        return [json.loads(line) for line in raw.splitlines() if line.strip()]
    except ValueError:
        return raw.decode(errors="replace")
