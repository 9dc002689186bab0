"""Decoding a JSON request body the way dockerd's Go decoder does, with its error texts.

Sans-I/O: bytes in, a dict of validated fields out, or ``InvalidParameter``
with dockerd's words (``json: cannot unmarshal string into Go struct field
HostConfig.HostConfig.Memory of type int64``). Python's ``json`` alone would
take ``NaN``, ``Infinity`` and ``1e400`` (stored as ``Infinity``, after which
the record is no longer JSON), and a 100,000-deep document would end in a
``RecursionError``; Go refuses all three, and so do we.
"""

from __future__ import annotations

import json
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from dockyard.api.bodies import Body, Go
from dockyard.errors import InvalidParameter

MAX_DEPTH = 10000  # Go's encoding/json nesting limit


class GoNumber(float):
    """A JSON number with a fraction or exponent, keeping its text for the error message."""

    literal: str

    def __new__(cls, text: str) -> GoNumber:
        obj = super().__new__(cls, text)
        obj.literal = text
        return obj


def _no_constant(name: str) -> Any:
    if name.startswith("-"):
        raise InvalidParameter(f"invalid character '{name[1]}' in numeric literal")
    raise InvalidParameter(f"invalid character '{name[0]}' looking for beginning of value")


def parse(body: bytes) -> Any:
    """JSON text → Python values; ``NaN``/``Infinity`` and runaway nesting are 400s."""
    try:
        return json.loads(body, parse_float=GoNumber, parse_constant=_no_constant)
    except RecursionError:
        raise InvalidParameter(f"invalid character '{_deepest(body)}' exceeded max depth") from None
    except UnicodeDecodeError as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from None
    except ValueError as exc:
        raise InvalidParameter(f"invalid JSON: {exc}") from None


def _deepest(body: bytes) -> str:
    """The bracket at which the nesting went too deep (only called on that error)."""
    depth, in_string, escaped, deepest = 0, False, False, "["
    limit = 0
    for byte in body:
        ch = chr(byte)
        if in_string:
            escaped = not escaped and ch == "\\"
            in_string = escaped or ch != '"'
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                limit, deepest = depth, ch
        elif ch in "]}":
            depth -= 1
    return deepest


def decode(body: bytes, model: type[Body]) -> dict[str, Any] | None:
    """Validate ``body`` against ``model``; ``None`` for an empty body or JSON ``null``."""
    if not body.strip():
        return None
    data = parse(body)
    if data is None:
        return None
    return validate(data, model)


def validate(data: Any, model: type[Body]) -> dict[str, Any]:
    """Already-parsed JSON against ``model``: the given fields, typed, or dockerd's error."""
    if not isinstance(data, dict):
        raise InvalidParameter(f"json: cannot unmarshal {_kind(data)} into Go value of type {_go_value(model)}")
    try:
        return model.model_validate(data).to_dict()
    except ValidationError as exc:
        raise InvalidParameter(go_message(model, exc.errors()[0])) from None


def _go_value(model: type[Body]) -> str:
    return str(getattr(model, "go_value", model.go_name))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _unwrap(annotation: Any, metadata: list[Any]) -> tuple[Any, str | None]:
    """``Annotated[X, Go(..)] | None`` → (X, the Go type name)."""
    go = next((m.type for m in metadata if isinstance(m, Go)), None)
    while True:
        args = typing.get_args(annotation)
        if typing.get_origin(annotation) is Annotated:
            go = go or next((m.type for m in annotation.__metadata__ if isinstance(m, Go)), None)
            annotation = args[0]
        elif type(None) in args:
            annotation = next(a for a in args if a is not type(None))
        else:
            return annotation, go


def go_message(model: type[Body], error: Any) -> str:
    """dockerd's text for one pydantic error: the Go struct, the field path, the Go type."""
    struct, path = model.go_name, []
    current: Any = model
    go: str | None = _go_value(model)
    for item in error["loc"]:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(item))
            if field is None:
                break
            struct = getattr(current, "go_name", struct)
            path.append(str(item))
            current, go = _unwrap(field.annotation, field.metadata)
        elif typing.get_origin(current) in (list, dict):
            current, go = _unwrap(typing.get_args(current)[-1], [])
        else:
            break
    if isinstance(current, type) and issubclass(current, BaseModel) and go is None:
        go = getattr(current, "go_name", "struct")
    value = error.get("input")
    kind = _kind(value)
    if kind == "number" and current is int and error["type"] != "go_type":
        kind = f"number {value.literal if isinstance(value, GoNumber) else value}"
    target = f"struct field {struct}.{'.'.join(path)}" if path else "value"
    return f"json: cannot unmarshal {kind} into Go {target} of type {go or 'string'}"
