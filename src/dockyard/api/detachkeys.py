"""Detach keys: recognise Docker's escape sequence (ctrl-p,ctrl-q by default) in a stdin stream.

Sans-I/O: :func:`parse_detach_keys` turns the user's spelling into bytes (the
rules of moby's ``term.ToBytes``), and :class:`DetachScanner` is fed the bytes a
client sends; it returns what to pass on to the container and whether the
sequence was seen.  Bytes that start the sequence are held back until it is
clear whether they complete it: a false start is passed on whole, the
sequence itself never reaches the container.
"""

from __future__ import annotations

from dockyard.errors import InvalidParameter

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"

_CTRL_PUNCT = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}


def parse_detach_keys(spec: str | None) -> bytes:
    """``"ctrl-p,ctrl-q"`` → ``b"\\x10\\x11"``; ``"a,ctrl-["`` → ``b"a\\x1b"``.

    An empty or missing spec means the default.  Each comma-separated key is
    one character or ``ctrl-<a-z@[\\]^_>``.
    """
    if not spec:
        spec = DEFAULT_DETACH_KEYS
    out = bytearray()
    for key in spec.split(","):
        low = key.lower()
        if len(key) == 1:
            if ord(key) > 0x7F:
                raise InvalidParameter(f"Invalid detach keys ({spec}) provided")
            out.append(ord(key))
        elif low.startswith("ctrl-") and len(low) == 6:
            ch = low[5]
            if "a" <= ch <= "z":
                out.append(ord(ch) - ord("a") + 1)
            elif ch in _CTRL_PUNCT:
                out.append(_CTRL_PUNCT[ch])
            else:
                raise InvalidParameter(f"Invalid detach keys ({spec}) provided")
        else:
            raise InvalidParameter(f"Invalid detach keys ({spec}) provided")
    return bytes(out)


class DetachScanner:
    """Feed client bytes; get ``(bytes for the container, detached?)``."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self._matched = 0  # how many bytes of ``keys`` the held-back tail matches
        self.detached = False

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """Bytes to forward now, and True once the whole sequence has been read.

        After detaching, further input is ignored (the caller ends the attach).
        """
        if self.detached or not self.keys:
            return (b"" if self.detached else data), self.detached
        out = bytearray()
        for i, byte in enumerate(data):
            if byte == self.keys[self._matched]:
                self._matched += 1
                if self._matched == len(self.keys):
                    self.detached = True
                    self._matched = 0
                    return bytes(out), True
                continue
            if self._matched:
                # a false start: pass on what was held back, then look at this byte afresh
                out += self.keys[:self._matched]
                self._matched = 0
                if byte == self.keys[0]:
                    self._matched = 1
                    continue
            out.append(byte)
        return bytes(out), False

    def flush(self) -> bytes:
        """At end of input: the held-back partial sequence, which was not a detach after all."""
        held, self._matched = self.keys[:self._matched], 0
        return b"" if self.detached else held
