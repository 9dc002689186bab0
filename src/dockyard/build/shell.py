"""Dockerfile word processing: quotes, escapes and ``$VAR`` substitution (sans-I/O).

This is the lexer Docker's builder runs over the arguments of ENV, ARG, LABEL,
COPY, ADD, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL and FROM: single quotes
are literal, double quotes allow ``$`` expansion, the escape character (``\\``
or the one the ``# escape=`` directive chose) quotes the next character, and
``$VAR``, ``${VAR}``, ``${VAR:-word}``, ``${VAR-word}``, ``${VAR:+word}``,
``${VAR+word}``, ``${VAR:?msg}`` and ``${VAR?msg}`` expand as in a POSIX shell.
RUN, CMD and ENTRYPOINT are not processed: their shell does it.
"""

from __future__ import annotations

from collections.abc import Mapping

from dockyard import errors


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str], escape: str) -> None:
        self.s = text
        self.i = 0
        self.env = env
        self.esc = escape

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def next(self) -> str:
        ch = self.peek()
        self.i += 1
        return ch

    def words(self, split: bool) -> list[str]:
        """The text as words (``split``: whitespace outside quotes separates them)."""
        words: list[str] = []
        cur: list[str] = []
        have = False  # a quoted empty string still makes a word
        while self.i < len(self.s):
            ch = self.peek()
            if split and ch in " \t\r\n":
                self.i += 1
                if have or cur:
                    words.append("".join(cur))
                cur, have = [], False
                continue
            if ch == "'":
                self.i += 1
                cur.append(self._single())
                have = True
            elif ch == '"':
                self.i += 1
                cur.append(self._double())
                have = True
            elif ch == self.esc:
                self.i += 1
                if self.i < len(self.s):
                    cur.append(self.next())
                else:
                    cur.append(ch)
            elif ch == "$":
                self.i += 1
                value = self._dollar()
                if not split:
                    cur.append(value)
                    continue
                for c in value:  # an unquoted variable's value splits into words (EXPOSE $PORTS)
                    if c.isspace():
                        if have or cur:
                            words.append("".join(cur))
                        cur, have = [], False
                    else:
                        cur.append(c)
            else:
                cur.append(self.next())
        if have or cur:
            words.append("".join(cur))
        return words

    def _single(self) -> str:
        start = self.i
        end = self.s.find("'", start)
        if end < 0:
            raise errors.InvalidParameter("unexpected end of statement while looking for matching single-quote")
        self.i = end + 1
        return self.s[start:end]

    def _double(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise errors.InvalidParameter("unexpected end of statement while looking for matching double-quote")
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == self.esc:
                nxt = self.peek()
                if nxt in ('"', "$", self.esc):
                    out.append(self.next())
                else:
                    out.append(ch)
            else:
                out.append(ch)

    def _name(self) -> str:
        start = self.i
        while self.i < len(self.s) and (self.s[self.i].isalnum() or self.s[self.i] == "_"):
            self.i += 1
        return self.s[start:self.i]

    def _dollar(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.i += 1
            return self._braced()
        name = self._name()
        if not name:
            return "$"
        return self.env.get(name, "")

    def _braced(self) -> str:
        name = self._name()
        if not name:
            raise errors.InvalidParameter(f"bad substitution in {self.s!r}")
        ch = self.next()
        if ch == "}":
            return self.env.get(name, "")
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise errors.InvalidParameter(f"unsupported modifier ({ch}) in substitution")
        word = self._word_until_brace()
        is_set = name in self.env
        value = self.env.get(name, "")
        present = bool(value) if colon else is_set
        if ch == "-":
            return value if present else word
        if ch == "+":
            return word if present else ""
        if not present:
            raise errors.InvalidParameter(f"{name}: {word or 'is not allowed to be unset'}")
        return value

    def _word_until_brace(self) -> str:
        out: list[str] = []
        while True:
            if self.i >= len(self.s):
                raise errors.InvalidParameter(f"missing '}}' in {self.s!r}")
            ch = self.next()
            if ch == "}":
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
            elif ch == "'":
                out.append(self._single())
            elif ch == '"':
                out.append(self._double())
            elif ch == self.esc and self.i < len(self.s):
                out.append(self.next())
            else:
                out.append(ch)


def process_word(text: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """One word with quotes removed and variables expanded (whitespace kept)."""
    words = _Lexer(text, env, escape).words(split=False)
    return words[0] if words else ""


def process_words(text: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """Whitespace-separated words, each processed as by :func:`process_word`."""
    return _Lexer(text, env, escape).words(split=True)


def env_map(env_list: list[str]) -> dict[str, str]:
    """``["A=1", "B=2"]`` → ``{"A": "1", "B": "2"}`` (the last of a name wins)."""
    out: dict[str, str] = {}
    for item in env_list:
        k, _, v = item.partition("=")
        out[k] = v
    return out
