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


# Go's strconv.ParseBool: what moby takes as the value of ``no-new-privileges=``
GO_TRUE = ("1", "t", "T", "TRUE", "true", "True")
GO_FALSE = ("0", "f", "F", "FALSE", "false", "False")


def check_no_new_privileges(opts: list[str]) -> None:
    """moby's ``parseSecurityOpt``: ``no-new-privileges[=|:]VALUE`` needs a Go bool, at create."""
    for opt in opts:
        key, sep, value = opt.partition("=" if "=" in opt else ":")
        if key == "no-new-privileges" and sep and value not in GO_TRUE + GO_FALSE:
            raise InvalidParameter(f'invalid --security-opt 2: "{opt}"')


def check_security(hc: dict[str, Any]) -> None:
    """A 400 for a sysctl outside the container's own namespaces (it would change the host),
    or a user namespace mode other than the daemon's (``""``) or the host's."""
    check_no_new_privileges([str(o) for o in hc.get("SecurityOpt") or []])
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
