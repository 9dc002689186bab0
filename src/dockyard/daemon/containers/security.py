"""Create-time checks of a container's security settings: sysctls (and the user namespace mode).

Kept apart from ``config.py`` (the request validation) so that the rules of
issue 16 live in one place; ``validate_host_config`` calls :func:`check_security`.
"""

from __future__ import annotations

from typing import Any

from dockyard.errors import InvalidParameter
from dockyard.sysctls import sysctl_error


def private_namespaces(hc: dict[str, Any]) -> set[str]:
    """The OCI namespace types a container with this HostConfig does not share with the host."""
    private = set()
    for ns, key in (("ipc", "IpcMode"), ("network", "NetworkMode"), ("uts", "UTSMode")):
        if (hc.get(key) or "") != "host":
            private.add(ns)
    return private


def check_security(hc: dict[str, Any]) -> None:
    """A 400 for a sysctl outside the container's own namespaces (it would change the host),
    or a user namespace mode other than the daemon's (``""``) or the host's."""
    userns = hc.get("UsernsMode") or ""
    if userns not in ("", "host"):
        raise InvalidParameter(f"invalid USER mode: {userns}")
    sysctls = hc.get("Sysctls") or {}
    if not isinstance(sysctls, dict):
        raise InvalidParameter("invalid Sysctls: expected an object of key: value")
    private = private_namespaces(hc)
    for key in sysctls:
        problem = sysctl_error(str(key), private)
        if problem:
            raise InvalidParameter(problem)
