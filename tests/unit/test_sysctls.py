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


@pytest.mark.parametrize("mode, ipv6, userns, want", [
    ("bridge", False, False, {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647",
                              "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}),
    ("mynet", True, False, {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}),
    ("none", True, True, {"net.ipv4.ip_unprivileged_port_start": "0"}),
    ("default", True, False, {"net.ipv4.ip_unprivileged_port_start": "0", "net.ipv4.ping_group_range": "0 2147483647"}),
    ("host", False, False, {}),
    ("container:peer", False, False, {}),
])
def test_network_defaults_of_a_private_namespace(mode, ipv6, userns, want):
    from dockyard.spec.network_sysctls import network_sysctls

    assert network_sysctls(mode, ipv6=ipv6, user_namespace=userns) == want


def test_the_requests_sysctls_override_the_defaults():
    from dockyard.spec.bundle import SpecInput, build_spec

    spec = build_spec(SpecInput(container_id="c" * 64, config={"Cmd": ["true"]}, rootfs="/nonexistent",
                                host_config={"Sysctls": {"net.ipv4.ip_unprivileged_port_start": "1024"}},
                                image_config={}, default_sysctls={"net.ipv4.ip_unprivileged_port_start": "0",
                                                                  "net.ipv4.ping_group_range": "0 1"}))
    assert spec["linux"]["sysctl"] == {"net.ipv4.ip_unprivileged_port_start": "1024", "net.ipv4.ping_group_range": "0 1"}
