"""Docker's progress JSON (``status``/``id``/``progressDetail``/``progress``), sans-I/O.

The daemon formats the bar (moby's ``JSONProgress.String`` with no terminal:
width 200, so a 50-character bar and the byte counts, no time left);
the CLI redraws one line per ``id``.
"""

from __future__ import annotations

from typing import Any

_UNITS = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"]


def _go_g4(value: float) -> str:
    """Go's ``%.4g``."""
    text = f"{value:.4g}"
    if "e" in text:
        mant, _, exp = text.partition("e")
        sign = exp[0]
        digits = exp[1:].lstrip("0").rjust(2, "0")
        text = f"{mant}e{sign}{digits}"
    return text


def human_size(size: float) -> str:
    """go-units HumanSize: decimal units, four significant digits (``32.77kB``, ``1.07MB``)."""
    i = 0
    while size >= 1000 and i < len(_UNITS) - 1:
        size /= 1000
        i += 1
    return _go_g4(size) + _UNITS[i]


def bar(current: int, total: int) -> str:
    """The ``progress`` string for ``current`` of ``total`` bytes."""
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}"
    pct = min(int(current / total * 100) // 2, 50)
    box = "[" + "=" * pct + ">" + " " * (50 - pct) + "] "
    numbers = f"{human_size(current):>8}/{human_size(total)}" if current <= total else f"{human_size(current):>8}"
    return box + numbers


def status(text: str, id: str | None = None) -> dict[str, Any]:
    """A line without a bar; with an id it carries an empty progressDetail, as dockerd's do."""
    if id is None:
        return {"status": text}
    return {"status": text, "progressDetail": {}, "id": id}


def message(text: str, id: str) -> dict[str, Any]:
    """A line that names an id but is no layer's state (``Pulling from``): no progressDetail."""
    return {"status": text, "id": id}


def progress(text: str, id: str, current: int, total: int) -> dict[str, Any]:
    return {"status": text, "progressDetail": {"current": current, "total": total},
            "progress": bar(current, total), "id": id}


def error(message: str) -> dict[str, Any]:
    return {"errorDetail": {"message": message}, "error": message}


def short(digest: str) -> str:
    """The 12-character id the CLI shows for a layer."""
    return digest.split(":", 1)[-1][:12]
