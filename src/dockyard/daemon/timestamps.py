"""Docker's time values in filters (``until=10m``, ``until=2026-01-02T03:04:05Z``, ``until=1700000000``).

The prune ``until`` filter carries what the user typed: the daemon reads it as
moby's ``timetypes.GetTimestamp`` does (a Go duration before now, an RFC 3339
date or date-time with or without zone and fraction, or unix seconds), so
``docker container prune --filter until=2026-01-02`` works as against dockerd,
and a value that is none of these gets dockerd's words. Sans-I/O: ``now`` and
the local zone offset are arguments.
"""

from __future__ import annotations

import calendar
import re

from dockyard.errors import InvalidParameter

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DATE_TIME = re.compile(r"(\d{4})-(\d\d)-(\d\d)(?:T(\d\d)(?::(\d\d)(?::(\d\d)(\.\d+)?)?)?)?"
                        r"(Z|z|[+-]\d\d:\d\d)?")
_UNIX = re.compile(r"-?\d+(\.\d{1,9})?")


def go_duration_seconds(text: str) -> float | None:
    """Go's ``time.ParseDuration`` (``1h30m``, ``-1.5h``, ``300ms``) in seconds; None if it is not one."""
    sign, body = (-1.0, text[1:]) if text[:1] == "-" else (1.0, text.lstrip("+"))
    if body == "0":
        return 0.0
    if not body:
        return None
    pos, total = 0, 0.0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if m is None:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return sign * total


def get_timestamp(value: str, now: float, local_offset: int = 0) -> float:
    """moby's ``GetTimestamp`` then ``ParseTimestamps``: ``value`` as unix seconds.

    A duration counts back from ``now``; a date without a zone is in the zone
    ``local_offset`` seconds east of UTC (the daemon's, as dockerd's).
    """
    if value != "0":
        d = go_duration_seconds(value)
        if d is not None:
            return now - d
    m = _DATE_TIME.fullmatch(value)
    if m is not None:
        year, month, day, hour, minute, sec = (int(g or 0) for g in m.groups()[:6])
        frac = float(m.group(7) or 0)
        zone = m.group(8)
        if zone in (None, ""):
            offset = local_offset
        elif zone in ("Z", "z"):
            offset = 0
        else:
            offset = (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
        try:
            return calendar.timegm((year, month, day, hour, minute, sec, 0, 0, 0)) + frac - offset
        except (ValueError, OverflowError):
            pass
    if "-" in value[1:] or (value[:1] == "-" and not _UNIX.fullmatch(value)):
        raise InvalidParameter(f'parsing time "{value}": cannot parse as a date')
    if _UNIX.fullmatch(value):
        return float(value)
    raise InvalidParameter(f'failed to parse value as time or duration: "{value}"')
