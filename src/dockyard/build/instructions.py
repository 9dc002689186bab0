"""The instructions that change only the image config (sans-I/O).

ENV, LABEL, CMD, ENTRYPOINT, EXPOSE, USER, VOLUME, STOPSIGNAL, HEALTHCHECK,
SHELL, ONBUILD, MAINTAINER and WORKDIR's path: each is a pure function from
(config, instruction, substitution environment) to the new config, with
Docker's word processing (``build.shell``) where Docker applies it.
"""

from __future__ import annotations

import copy
import json
import posixpath
import re
import signal
from collections.abc import Mapping
from typing import Any

from dockyard import errors
from dockyard.build.dockerfile import Instruction
from dockyard.build.shell import process_word, process_words
from dockyard.image.archive import _healthcheck, _ports

DEFAULT_SHELL = ["/bin/sh", "-c"]


def pairs(ins: Instruction, env: Mapping[str, str], escape: str) -> list[tuple[str, str]]:
    """The name/value pairs of ENV, LABEL (the parser gives them as a flat list)."""
    args = list(ins.args)
    if len(args) % 2:
        raise errors.InvalidParameter(f"{ins.cmd} must have two arguments")
    out = []
    for i in range(0, len(args), 2):
        key = process_word(args[i], env, escape)
        if not key:
            raise errors.InvalidParameter(f"{ins.cmd} names can not be blank")
        out.append((key, process_word(args[i + 1], env, escape)))
    return out


def set_env(config: dict[str, Any], key: str, value: str) -> None:
    """Set one variable: a variable already there is replaced where it stands (dockerd), a new one appended."""
    items = list(config.get("Env") or [])
    for i, e in enumerate(items):
        if e.partition("=")[0] == key:
            items[i] = f"{key}={value}"
            break
    else:
        items.append(f"{key}={value}")
    config["Env"] = items


def command_form(ins: Instruction, shell: list[str]) -> list[str]:
    """The argv of RUN/CMD/ENTRYPOINT: the JSON form as is, else the shell form under SHELL."""
    if ins.json:
        return list(ins.args)
    text = ins.args[0] if ins.args else ""
    return list(shell) + ([text] if ins.args else [])


def workdir(config: dict[str, Any], ins: Instruction, env: Mapping[str, str], escape: str) -> str:
    """The new WorkingDir: relative paths join the previous one."""
    wd = process_word(ins.args[0], env, escape)
    if not wd.startswith("/"):
        wd = posixpath.join(config.get("WorkingDir") or "/", wd)
    return posixpath.normpath(wd) if wd != "/" else "/"


def _args_escaped(cfg: dict[str, Any], ins: Instruction) -> None:
    """CMD/ENTRYPOINT clear ArgsEscaped on Linux, either form (dockerd's resolveCmdLine; only Windows
    escapes); an empty ``CMD []`` keeps what the base said."""
    if ins.args:
        cfg.pop("ArgsEscaped", None)


def apply(config: dict[str, Any], ins: Instruction, env: Mapping[str, str], escape: str,
          state: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``config`` with the instruction applied.

    ``state`` carries what the stage remembers between instructions:
    ``shell`` (the SHELL in force) and ``cmd_set`` (a CMD given in this stage,
    which an ENTRYPOINT then keeps).
    """
    cfg = copy.deepcopy(config)
    cmd = ins.cmd
    if cmd == "ENV":
        # every value is expanded with the environment from before this ENV (Docker's rule)
        for k, v in pairs(ins, env, escape):
            set_env(cfg, k, v)
    elif cmd == "LABEL":
        labels = dict(cfg.get("Labels") or {})
        labels.update(pairs(ins, env, escape))
        cfg["Labels"] = labels
    elif cmd == "MAINTAINER":
        state["author"] = ins.args[0]
    elif cmd == "CMD":
        cfg["Cmd"] = command_form(ins, state["shell"])
        _args_escaped(cfg, ins)
        state["cmd_set"] = True
    elif cmd == "ENTRYPOINT":
        cfg["Entrypoint"] = command_form(ins, state["shell"])
        _args_escaped(cfg, ins)
        if not state.get("cmd_set"):
            cfg["Cmd"] = None
    elif cmd == "EXPOSE":
        words = [w for a in ins.args for w in process_words(a, env, escape)]
        ports = dict(cfg.get("ExposedPorts") or {})
        try:
            ports.update((p, {}) for p in _ports(words))
        except errors.InvalidParameter as exc:
            raise errors.InvalidParameter(exc.message.replace("invalid containerPort", "Invalid containerPort"))
        cfg["ExposedPorts"] = ports
    elif cmd == "USER":
        cfg["User"] = process_word(ins.args[0], env, escape)
    elif cmd == "VOLUME":
        vols = list(ins.args) if ins.json else [process_word(a, env, escape) for a in ins.args]  # one word each
        volumes = dict(cfg.get("Volumes") or {})
        for v in vols:
            if not v.strip():
                raise errors.InvalidParameter("VOLUME specified can not be an empty string")
            volumes[v.strip()] = {}
        cfg["Volumes"] = volumes
    elif cmd == "STOPSIGNAL":
        cfg["StopSignal"] = check_signal(process_word(ins.args[0], env, escape))
    elif cmd == "HEALTHCHECK":
        rest = ins.original.split(None, 1)[1] if len(ins.original.split(None, 1)) > 1 else ""
        cfg["Healthcheck"] = _healthcheck(rest)
    elif cmd == "SHELL":
        state["shell"] = list(ins.args)
        cfg["Shell"] = list(ins.args)
    elif cmd == "ONBUILD":
        trigger = ins.original.split(None, 1)[1].strip()
        cfg["OnBuild"] = list(cfg.get("OnBuild") or []) + [trigger]
    elif cmd == "WORKDIR":
        cfg["WorkingDir"] = workdir(cfg, ins, env, escape)
    else:
        raise errors.InvalidParameter(f"{cmd} is not a config instruction")
    return cfg


def check_signal(text: str) -> str:
    """STOPSIGNAL's check (moby's signal.ParseSignal): a non-zero number or a known name, else its error."""
    name = text.upper().removeprefix("SIG")
    try:
        if int(text) != 0:
            return text
    except ValueError:
        if "SIG" + name in signal.Signals.__members__ or re.fullmatch(r"RT(MIN|MAX)([+-]\d+)?", name):
            return text
    raise errors.InvalidParameter(f"Invalid signal: {text}")


def history_text(ins: Instruction, config: dict[str, Any], env: Mapping[str, str], escape: str,
                 shell: list[str]) -> str:
    """What ``docker history`` shows for a config-only step, as dockerd's classic builder writes it.

    dockerd commits ``<SHELL> #(nop)  <comment>`` (the shell in force, then
    the comment it builds from the *expanded* values: ``ENV A=a``, ``LABEL
    k=v w``, ``USER a``, ``VOLUME [/a /b]``, ``HEALTHCHECK`` as Go's ``%q`` of
    the struct); WORKDIR joins ``#(nop) WORKDIR /path`` with one space.
    """
    text = _comment(ins, config, env, escape, shell)
    if ins.cmd == "WORKDIR":
        return " ".join([*shell, "#(nop) " + text])
    return " ".join([*shell, "#(nop) ", text])


def _comment(ins: Instruction, config: dict[str, Any], env: Mapping[str, str], escape: str,
             shell: list[str]) -> str:
    cmd = ins.cmd
    if cmd in ("CMD", "ENTRYPOINT"):
        value = config.get("Cmd" if cmd == "CMD" else "Entrypoint") or []
        return f"{cmd} [{' '.join(go_quote(v) for v in value)}]"
    if cmd in ("ENV", "LABEL"):
        return cmd + "".join(f" {k}={v}" for k, v in pairs(ins, env, escape))
    if cmd == "USER":
        return f"USER {config.get('User') or ''}"
    if cmd == "WORKDIR":
        return f"WORKDIR {config.get('WorkingDir') or ''}"
    if cmd == "STOPSIGNAL":
        return f"STOPSIGNAL {config.get('StopSignal') or ''}"
    if cmd == "EXPOSE":  # the written ports sorted as strings (so "$P" first), then expanded
        return "EXPOSE " + " ".join(w for a in sorted(ins.args) for w in process_words(a, env, escape))
    if cmd == "VOLUME":
        vols = list(ins.args) if ins.json else [process_word(a, env, escape) for a in ins.args]
        return f"VOLUME [{' '.join(vols)}]"
    if cmd == "SHELL":
        return f"SHELL [{' '.join(shell)}]"
    if cmd == "HEALTHCHECK":
        return "HEALTHCHECK " + go_healthcheck(config.get("Healthcheck") or {})
    return ins.original


def go_quote(text: str) -> str:
    """Go's strconv.Quote for the texts a Dockerfile holds (JSON's escapes, non-ASCII kept)."""
    return json.dumps(text, ensure_ascii=False)


def go_duration(ns: int) -> str:
    """Go's time.Duration.String (``1m30s``, ``1.5ms``, ``0s``)."""
    if ns == 0:
        return "0s"
    sign, u = ("-" if ns < 0 else ""), abs(ns)

    def frac(value: int, scale: int) -> str:
        whole, rest = divmod(value, scale)
        digits = f"{rest:0{len(str(scale)) - 1}d}".rstrip("0") if rest else ""
        return f"{whole}.{digits}" if digits else str(whole)

    if u < 1000:
        return f"{sign}{u}ns"
    if u < 1_000_000:
        return f"{sign}{frac(u, 1000)}µs"
    if u < 1_000_000_000:
        return f"{sign}{frac(u, 1_000_000)}ms"
    hours, rem = divmod(u, 3_600_000_000_000)
    minutes, rem = divmod(rem, 60_000_000_000)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "")
    return f"{sign}{out}{frac(rem, 1_000_000_000)}s"


def _go_rune(n: int) -> str:
    """Go's ``%q`` of an int: a quoted rune literal (``'\\x02'``, ``'A'``)."""
    special = {7: "\\a", 8: "\\b", 9: "\\t", 10: "\\n", 11: "\\v", 12: "\\f", 13: "\\r", 39: "\\'",
               92: "\\\\"}
    if n in special:
        return f"'{special[n]}'"
    if 32 <= n < 127:
        return f"'{chr(n)}'"
    return f"'\\x{n:02x}'" if n < 128 else f"'\\u{n:04x}'"


def go_healthcheck(hc: dict[str, Any]) -> str:
    """Go's ``%q`` of moby 28's *HealthConfig (Test, Interval, Timeout, StartPeriod, StartInterval, Retries)."""
    test = " ".join(go_quote(t) for t in hc.get("Test") or [])
    durations = " ".join(go_quote(go_duration(int(hc.get(k) or 0)))
                         for k in ("Interval", "Timeout", "StartPeriod", "StartInterval"))
    return f"&{{[{test}] {durations} {_go_rune(int(hc.get('Retries') or 0))}}}"
