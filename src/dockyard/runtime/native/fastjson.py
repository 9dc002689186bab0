"""JSON without ``re``: the runtime's start-up budget is a few milliseconds.

``import json`` pulls in ``re`` and ``enum`` (about 12 ms here, paid by every
``create``/``start``/``delete``).  The C accelerator ``_json`` holds a complete
scanner; this module drives it with a tiny context object and writes JSON with
``_json.encode_basestring_ascii`` for strings.  Output and errors match the
stdlib for the shapes the runtime reads and writes (config.json, state).
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing imports re; keep it out of the runtime's start-up
    from typing import Any


class _Context:
    """The attributes ``_json.make_scanner`` reads from ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo: dict = {}

    @staticmethod
    def parse_constant(name: str) -> float:
        return {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}[name]


class JSONDecodeError(ValueError):
    """Malformed JSON; the message names the position like the stdlib does."""


def loads(text: str | bytes) -> Any:
    """Parse one JSON document (whitespace around it allowed)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    scan = _json.make_scanner(_Context())
    ws = " \t\n\r"
    i = 0
    n = len(text)
    while i < n and text[i] in ws:
        i += 1
    try:
        value, end = scan(text, i)
    except Exception:  # noqa: BLE001 - the error path may be slow: let the stdlib word it
        _stdlib_error(text)
        raise JSONDecodeError("malformed JSON") from None
    while end < n and text[end] in ws:
        end += 1
    if end != n:
        raise JSONDecodeError(f"extra data at {_where(text, end)}")
    return value


def _stdlib_error(text: str) -> None:
    import json

    try:
        json.loads(text)
    except ValueError as exc:
        raise JSONDecodeError(str(exc)) from None


def _where(text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"line {line} column {col}"


def _refuse(obj: Any) -> Any:
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any, indent: int | None = None) -> str:
    """Serialise dicts, lists, strings, numbers, booleans and None (compact: in C)."""
    if indent is None:
        encode = _json.make_encoder(None, _refuse, _json.encode_basestring_ascii, None, ":", ",",
                                    False, False, True)
        return "".join(encode(obj, 0))
    parts: list[str] = []
    _encode(obj, parts, indent, 0)
    return "".join(parts)


def _encode(obj: Any, out: list[str], indent: int | None, level: int) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_json.encode_basestring_ascii(obj))
    elif isinstance(obj, int):
        out.append(int.__repr__(obj))
    elif isinstance(obj, float):
        out.append(float.__repr__(obj))
    elif isinstance(obj, dict):
        if not obj:
            out.append("{}")
            return
        nl, pad, inner = _layout(indent, level)
        out.append("{")
        first = True
        for key, value in obj.items():
            out.append(inner if first else "," + inner)
            first = False
            out.append(_json.encode_basestring_ascii(str(key)))
            out.append(": " if indent is not None else ":")
            _encode(value, out, indent, level + 1)
        out.append(nl + pad + "}")
    elif isinstance(obj, (list, tuple)):
        if not obj:
            out.append("[]")
            return
        nl, pad, inner = _layout(indent, level)
        out.append("[")
        for i, value in enumerate(obj):
            out.append(inner if i == 0 else "," + inner)
            _encode(value, out, indent, level + 1)
        out.append(nl + pad + "]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def _layout(indent: int | None, level: int) -> tuple[str, str, str]:
    if indent is None:
        return "", "", ""
    pad = " " * (indent * level)
    return "\n", pad, "\n" + " " * (indent * (level + 1))
