"""``.dockerignore``: Docker's pattern rules, as a pure matcher (sans-I/O).

The rules are those of moby's ``patternmatcher`` (which the docker CLI and
docker-py follow when they pack a context):

* one pattern per line; blank lines and lines starting with ``#`` are skipped;
  surrounding whitespace is trimmed; a leading ``/`` is dropped and the
  pattern is cleaned like Go's ``filepath.Clean``;
* ``*`` matches within one path element, ``?`` one character, ``[a-z]`` a
  class, ``\\`` escapes; ``**`` matches any number of directories (zero too);
* a path is matched when it, or the leading directories of it that have as
  many elements as the pattern, match — so ``docs`` excludes ``docs/a/b``;
* ``!pattern`` re-includes; the last pattern that matches decides.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

from dockyard import errors


@dataclass(frozen=True)
class Pattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    dirs: int


def clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash path, without a leading ``/`` (a context-relative name)."""
    cleaned = posixpath.normpath("/" + path).lstrip("/")
    return cleaned or "."


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "*":
            if i + 1 < n and pattern[i + 1] == "*":
                i += 2
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
                continue
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            i += 1
            if i >= n:
                raise errors.InvalidParameter(f"syntax error in .dockerignore pattern {pattern!r}")
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise errors.InvalidParameter(f"syntax error in .dockerignore pattern {pattern!r}")
            body = pattern[i + 1:end]
            if body.startswith("^") or body.startswith("!"):
                body = "^" + body[1:]
            out.append("[" + body.replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


def parse(text: str) -> list[Pattern]:
    """The patterns of a ``.dockerignore`` file."""
    patterns: list[Pattern] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
            if not line:
                raise errors.InvalidParameter("illegal exclusion pattern: \"!\"")
        line = posixpath.normpath(line)
        if len(line) > 1 and line.startswith("/"):
            line = line.lstrip("/") or "/"
        patterns.append(Pattern(line, exclusion, _compile(line), len(line.split("/"))))
    return patterns


class Matcher:
    """Decides which context paths ``.dockerignore`` leaves out."""

    def __init__(self, patterns: list[Pattern], always: tuple[str, ...] = ()) -> None:
        self.patterns = patterns
        self.always = {clean(p) for p in always}

    def excluded(self, path: str) -> bool:
        """True if the context path (``a/b``, relative, slash-separated) is left out.

        As the clients' walk does: below an excluded directory everything is
        left out, unless some ``!`` pattern exists (then each path is judged).
        """
        path = clean(path)
        if path in self.always or path == ".":
            return False
        if self._matches(path):
            return True
        if not any(p.exclusion for p in self.patterns):
            parts = path.split("/")
            return any(self._matches("/".join(parts[:n])) for n in range(1, len(parts)))
        return False

    def _matches(self, path: str) -> bool:
        parts = path.split("/")
        matched = False
        for p in self.patterns:
            hit = bool(p.regex.match(path))
            if not hit and len(parts) > p.dirs:
                hit = bool(p.regex.match("/".join(parts[:p.dirs])))
            if hit:
                matched = not p.exclusion
        return matched
