"""Every container network namespace has its loopback up, as Docker's (issue 18).

runc and crun bring ``lo`` up in a network namespace they make; so must the
native runtime, for the default mode and for ``--network none`` alike.
"""

from __future__ import annotations

import pytest

from tests.support.daemon import docker


@pytest.mark.parametrize("runtime", ["dockyard", "crun", "runc"])
@pytest.mark.parametrize("network", ["none", "default"])
def test_loopback_is_up(dockyard_daemon, busybox_image, runtime, network):
    args = ["run", "--rm", "--runtime", runtime]
    if network != "default":
        args += ["--network", network]
    p = docker(dockyard_daemon, *args, busybox_image, "sh", "-c",
               "ip link show lo && ping -c 1 -W 2 127.0.0.1 && ping -c 1 -W 2 127.0.0.1 >/dev/null")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "<LOOPBACK,UP" in p.stdout
    assert "1 packets received" in p.stdout
