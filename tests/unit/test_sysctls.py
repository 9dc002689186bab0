"""Which sysctls a container may set (dockyard.sysctls), and the create-time 400."""

from __future__ import annotations

import pytest

from dockyard.daemon.containers.security import check_security
from dockyard.errors import InvalidParameter
from dockyard.sysctls import sysctl_error

ALL = {"ipc", "network", "uts"}


@pytest.mark.parametrize("key", ["kernel.shmmax", "kernel.msgmnb", "fs.mqueue.msg_max", "net.ipv4.ip_forward",
                                 "net.core.somaxconn", "kernel.domainname"])
def test_namespaced_sysctls_are_allowed(key):
    assert sysctl_error(key, ALL) is None


@pytest.mark.parametrize("key, private, text", [
    ("vm.swappiness", ALL, "not in a separate kernel namespace"),
    ("fs.file-max", ALL, "not in a separate kernel namespace"),
    ("kernel.pid_max", ALL, "not in a separate kernel namespace"),
    ("kernel.shmmax", {"network", "uts"}, "host's IPC namespace"),
    ("net.ipv4.ip_forward", {"ipc", "uts"}, "host's network namespace"),
    ("kernel.domainname", {"ipc", "network"}, "host's UTS namespace"),
    ("kernel.hostname", ALL, "conflicts with the hostname"),
    ("net/../../vm/swappiness", ALL, "invalid sysctl"),
])
def test_host_sysctls_are_refused(key, private, text):
    assert text in sysctl_error(key, private)


def test_create_refuses_per_namespace_mode():
    check_security({"Sysctls": {"net.ipv4.ip_forward": "1"}})
    with pytest.raises(InvalidParameter, match="host's network namespace"):
        check_security({"Sysctls": {"net.ipv4.ip_forward": "1"}, "NetworkMode": "host"})
    with pytest.raises(InvalidParameter, match="vm.swappiness"):
        check_security({"Sysctls": {"vm.swappiness": "1"}})
