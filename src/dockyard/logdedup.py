"""Log a repeated error once, then a count: a flood of identical lines helps nobody.

At the fd limit every accept(2) and every request can fail the same way; logged
each time with a traceback that once made 42 MB of log in 25 s.  The filter
keys a record by logger, level, message template and exception type (not the
arguments: ``GET /a failed`` and ``GET /b failed`` are one problem).  The
first record of a key goes through; the same key within ``window`` seconds is
counted and dropped; the next one after the window goes through with
``(repeated N times in the last S s)`` added.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

MAX_KEYS = 512


class RepeatFilter(logging.Filter):
    """A ``logging.Filter`` for the daemon's handler (see the module's docstring)."""

    def __init__(self, window: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self._clock = clock
        self._seen: OrderedDict[tuple[object, ...], list[float]] = OrderedDict()  # key -> [since, count]

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True  # debug and info lines are the caller's to ration
        exc = record.exc_info[0] if record.exc_info else None
        key = (record.name, record.levelno, str(record.msg), exc)
        now = self._clock()
        entry = self._seen.get(key)
        if entry is not None and now - entry[0] < self.window:
            entry[1] += 1
            return False
        if entry is not None and entry[1]:
            record.msg = f"{record.msg} (repeated {int(entry[1])} times in the last {now - entry[0]:.0f} s)"
        self._seen[key] = [now, 0]
        self._seen.move_to_end(key)
        while len(self._seen) > MAX_KEYS:
            self._seen.popitem(last=False)
        return True


class ClientHTTPErrorFilter(logging.Filter):
    """A client's malformed HTTP (bad header bytes, a line too long) is the client's error, not ours.

    aiohttp answers it with a 400 and logs ``Error handling request`` at ERROR with
    a traceback, so any client could fill the daemon's log with tracebacks (the API
    fuzz did).  dockerd's Go server answers the same 400 and logs nothing.  The
    filter turns such a record into one DEBUG line naming the parse error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None and any(c.__name__ == "HttpProcessingError" for c in type(exc).__mro__):
            record.msg = f"{record.getMessage()}: {' '.join(str(exc).split())}"
            record.args = None
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
        return True
