"""The values of a container's ``--log-opt`` options, checked when its log is opened (at start).

moby checks the option *names* at create (``config._check_log_config``) but
the *values* only when the logging driver starts (json-file/local ``New``),
so ``docker create --log-opt max-file=0`` succeeds and its start fails with
``failed to initialize logging driver: max-file cannot be less than 1``.
Accepting such a value and running anyway would tell the user a rotation
is set up that is not; this module gives dockerd's answer at the same step.
"""

from __future__ import annotations

from typing import Any

from dockyard.daemon.containers.security import GO_FALSE, GO_TRUE
from dockyard.errors import InvalidParameter

PREFIX = "failed to initialize logging driver: "


def check_log_values(driver: str, opts: dict[str, Any]) -> None:
    """A 400 worded as dockerd's start for a bad max-size/max-file/compress of json-file or local."""
    from dockyard.daemon.config import parse_size

    if driver not in ("json-file", "local"):
        return
    size = -1
    if "max-size" in opts:
        try:
            size = parse_size(str(opts["max-size"]))
        except InvalidParameter as exc:
            raise InvalidParameter(PREFIX + exc.message) from None
        if size <= 0:
            raise InvalidParameter(PREFIX + "max-size must be a positive number")
    files = 1
    if "max-file" in opts:
        raw = str(opts["max-file"])
        try:
            files = int(raw)
        except ValueError:
            raise InvalidParameter(f'{PREFIX}strconv.Atoi: parsing "{raw}": invalid syntax') from None
        if files < 1:
            raise InvalidParameter(PREFIX + "max-file cannot be less than 1")
    if "compress" in opts:
        raw = str(opts["compress"])
        if raw not in GO_TRUE + GO_FALSE:
            raise InvalidParameter(f'{PREFIX}strconv.ParseBool: parsing "{raw}": invalid syntax')
        if raw in GO_TRUE and (files == 1 or size == -1) and driver == "json-file":
            raise InvalidParameter(PREFIX + "compress cannot be true when max-file is less than 2 or max-size "
                                   "is not set")
