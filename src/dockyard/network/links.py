"""Legacy container links (``--link name:alias`` on the default bridge): the environment they give.

Docker sets, in the linking container, for each link (moby's ``links.Link.ToEnv``)::

    ALIAS_NAME=/<this container>/<alias>
    ALIAS_PORT=tcp://IP:PORT                   (the lowest exposed port)
    ALIAS_PORT_<port>_<PROTO>=proto://IP:port  and _ADDR, _PORT, _PROTO for every exposed port
    ALIAS_ENV_<KEY>=<value>                    for the linked container's Env (not HOME, PATH)

The /etc/hosts lines come from network/etcfiles.  Pure: callers pass the linked
container's facts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def parse_link(link: str) -> tuple[str, str]:
    """``name:alias`` or moby's stored ``/name:/child/alias`` → (name, alias); alias defaults to name."""
    target, _, alias = link.partition(":")
    target = target.lstrip("/")
    alias = alias.rsplit("/", 1)[-1] if alias else target
    return target, alias


def _prefix(alias: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", alias.upper())


def _ports(exposed: Iterable[str]) -> list[tuple[int, str]]:
    out = []
    for key in exposed:
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.append((int(port), (proto or "tcp").lower()))
    return sorted(set(out))


def link_env(child_name: str, alias: str, ip: str, exposed: Iterable[str], env: Iterable[str]) -> list[str]:
    """The environment one link gives the container named ``child_name``."""
    p = _prefix(alias)
    out = [f"{p}_NAME=/{child_name.lstrip('/')}/{alias}"]
    ports = _ports(exposed)
    if ports:
        port, proto = ports[0]
        out.append(f"{p}_PORT={proto}://{ip}:{port}")
    for port, proto in ports:
        base = f"{p}_PORT_{port}_{proto.upper()}"
        out += [f"{base}={proto}://{ip}:{port}", f"{base}_ADDR={ip}", f"{base}_PORT={port}", f"{base}_PROTO={proto}"]
    for entry in env:
        key, sep, value = entry.partition("=")
        if sep and key not in ("HOME", "PATH"):
            out.append(f"{p}_ENV_{key}={value}")
    return out
