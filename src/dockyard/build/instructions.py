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
    items = [e for e in (config.get("Env") or []) if e.partition("=")[0] != key]
    config["Env"] = items + [f"{key}={value}"]


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
        cfg["ArgsEscaped"] = not ins.json or None
        state["cmd_set"] = True
    elif cmd == "ENTRYPOINT":
        cfg["Entrypoint"] = command_form(ins, state["shell"])
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
        vols = list(ins.args) if ins.json else [w for a in ins.args for w in process_words(a, env, escape)]
        volumes = dict(cfg.get("Volumes") or {})
        for v in vols:
            if not v.strip():
                raise errors.InvalidParameter("VOLUME specified can not be an empty string")
            volumes[v.strip()] = {}
        cfg["Volumes"] = volumes
    elif cmd == "STOPSIGNAL":
        cfg["StopSignal"] = process_word(ins.args[0], env, escape)
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


def history_text(ins: Instruction, config: dict[str, Any]) -> str:
    """What ``docker history`` shows for a config-only step (``#(nop)`` form, as dockerd)."""
    if ins.cmd in ("CMD", "ENTRYPOINT"):
        value = config.get("Cmd" if ins.cmd == "CMD" else "Entrypoint") or []
        quoted = " ".join(json.dumps(v, ensure_ascii=False) for v in value)
        return f"/bin/sh -c #(nop)  {ins.cmd} [{quoted}]"
    return f"/bin/sh -c #(nop)  {ins.original}"
