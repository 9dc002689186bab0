"""Parsing a Dockerfile into stages, with Docker's syntax errors (sans-I/O).

The text is parsed by the PyPI ``dockerfile`` package, which wraps Docker's own
Go parser (``moby/buildkit/frontend/dockerfile/parser``): directives
(``# escape=``, ``# syntax=``), line continuations, comments, JSON forms and
heredocs are read exactly as Docker reads them.  This module adds what the
classic builder checks before any step runs: known instructions, argument
counts, a FROM before anything but ARG, unique stage names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import dockerfile as _gop

from dockyard import errors

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"})

# the flags each instruction takes (the classic builder's set; RUN --mount etc. need BuildKit)
FLAGS = {"FROM": ("platform",), "COPY": ("from", "chown", "chmod", "link"), "ADD": ("chown", "chmod", "link"),
         "HEALTHCHECK": ("interval", "timeout", "start-period", "start-interval", "retries")}
_ESCAPE_RE = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)
_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword, flags (``--from=x``), arguments and source line."""

    cmd: str
    original: str
    line: int
    flags: tuple[str, ...]
    args: tuple[str, ...]
    json: bool = False
    heredocs: tuple[tuple[str, str], ...] = ()  # (name, content)
    sub_cmd: str | None = None

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (the last one given), None if absent."""
        value = None
        for f in self.flags:
            key, eq, v = f[2:].partition("=")
            if key == name:
                value = v if eq else "true"
        return value

    def check_flags(self, allowed: tuple[str, ...]) -> None:
        for f in self.flags:
            key = f[2:].partition("=")[0]
            if key not in allowed:
                raise errors.InvalidParameter(f"Unknown flag: {key}")


@dataclass
class Stage:
    """One ``FROM`` and the instructions under it."""

    index: int
    base: str  # unexpanded, as written
    name: str | None
    platform: str | None
    from_instruction: Instruction
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    meta_args: list[Instruction]
    stages: list[Stage]
    escape: str

    def stage_index(self, name: str) -> int | None:
        for s in self.stages:
            if s.name is not None and s.name == name.lower():
                return s.index
        return None


def _escape_of(text: str) -> str:
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        m = _ESCAPE_RE.match(line)
        if m:
            if m.group(1) not in ("\\", "`"):
                raise errors.InvalidParameter(f"invalid ESCAPE '{m.group(1)}'. Must be ` or \\")
            return m.group(1)
    return "\\"


def _to_instruction(c: object) -> Instruction:
    return Instruction(cmd=c.cmd.upper(), original=c.original.rstrip(), line=c.start_line,  # type: ignore[attr-defined]
                       flags=tuple(c.flags), args=tuple(c.value),  # type: ignore[attr-defined]
                       json=bool(c.json), sub_cmd=c.sub_cmd.upper() if c.sub_cmd else None,  # type: ignore[attr-defined]
                       heredocs=tuple((h.name, h.content) for h in c.heredocs))  # type: ignore[attr-defined]


def _check_args(ins: Instruction) -> None:
    def perr(msg: str) -> errors.InvalidParameter:
        return errors.InvalidParameter(f"dockerfile parse error line {ins.line}: {msg}")

    n = len([a for a in ins.args if a != ""])
    if ins.cmd not in INSTRUCTIONS:
        raise perr(f"unknown instruction: {ins.cmd}")
    if ins.cmd in ("ENV", "LABEL", "ARG", "EXPOSE", "VOLUME", "USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER",
                   "ONBUILD", "SHELL", "FROM") and n == 0:
        raise perr(f"{ins.cmd} requires at least one argument" if ins.cmd not in
                   ("USER", "WORKDIR", "STOPSIGNAL", "MAINTAINER", "ARG") else
                   f"{ins.cmd} requires exactly one argument")
    if ins.cmd in ("COPY", "ADD") and n < 2 and not ins.heredocs:
        raise perr(f"{ins.cmd} requires at least two arguments, but only one was provided. "
                   "Destination could not be determined" if n == 1 else
                   f"{ins.cmd} requires at least two arguments")
    if ins.cmd in ("USER", "WORKDIR", "STOPSIGNAL") and n > 1:
        raise perr(f"{ins.cmd} requires exactly one argument")
    if ins.cmd == "ARG" and any(a.partition("=")[0] == "" for a in ins.args):
        raise perr("ARG names can not be blank")
    if ins.cmd == "SHELL" and not ins.json:
        raise perr("SHELL requires the arguments to be in JSON form")
    if ins.cmd == "ONBUILD" and ins.sub_cmd in ("ONBUILD", "FROM", "MAINTAINER"):
        raise perr(f"{ins.sub_cmd} isn't allowed as an ONBUILD trigger")
    for f in ins.flags:
        key = f[2:].partition("=")[0]
        if key not in FLAGS.get(ins.cmd, ()):
            if ins.cmd == "RUN" and key in ("mount", "network", "security"):
                raise perr(f"the --{key} option requires BuildKit")
            raise perr(f"Unknown flag: {key}")
    if ins.cmd == "HEALTHCHECK":
        from dockyard.image.archive import _healthcheck

        try:
            _healthcheck(ins.original.split(None, 1)[1] if len(ins.original.split(None, 1)) > 1 else "")
        except errors.InvalidParameter as exc:
            raise perr(exc.message) from None
    if ins.cmd == "FROM" and n not in (1, 3):
        raise perr("FROM requires either one or three arguments")
    if ins.cmd == "FROM" and n == 3 and ins.args[1].upper() != "AS":
        raise perr("FROM requires either one or three arguments")


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse and check a whole Dockerfile (``name``: its file name, for the messages); raises InvalidParameter."""
    escape = _escape_of(text)
    if not text.strip():
        raise errors.InvalidParameter(f"the Dockerfile ({name}) cannot be empty")
    try:
        commands = _gop.parse_string(text)
    except _gop.GoParseError as exc:
        raise errors.InvalidParameter(f"failed to parse Dockerfile: {exc}") from None
    meta: list[Instruction] = []
    stages: list[Stage] = []
    names: set[str] = set()
    for c in commands:
        ins = _to_instruction(c)
        _check_args(ins)
        if ins.cmd == "FROM":
            ins.check_flags(("platform",))
            name = None
            if len(ins.args) == 3:
                name = ins.args[2].lower()
                if not _STAGE_NAME.match(name):
                    raise errors.InvalidParameter(f"invalid name for build stage: {ins.args[2]!r}, "
                                                  "name can't start with a number or contain symbols")
                if name in names:
                    raise errors.InvalidParameter(f"duplicate name {name}")
                names.add(name)
            stages.append(Stage(len(stages), ins.args[0], name, ins.flag("platform"), ins))
        elif not stages:
            if ins.cmd != "ARG":
                raise errors.InvalidParameter("no build stage in current context")
            meta.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise errors.InvalidParameter("no build stage in current context")
    return Dockerfile(meta, stages, escape)
