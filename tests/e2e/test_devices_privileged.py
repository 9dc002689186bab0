"""--device, --device-cgroup-rule, --group-add, --privileged and --sysctl through the docker CLI and docker-py."""

from __future__ import annotations

import os

import docker as dockerpy
import pytest

from tests.support.daemon import docker

LOOP_CONTROL = "/dev/loop-control"  # 10:237, not in Docker's default device allow-list


def _device_cgroup_enforced() -> bool:
    return os.path.isdir("/sys/fs/cgroup/devices") or os.path.exists("/sys/fs/cgroup/cgroup.controllers")


needs_device = pytest.mark.skipif(not os.path.exists(LOOP_CONTROL) or not _device_cgroup_enforced(),
                                  reason="needs /dev/loop-control and a device cgroup")
PROBE = ": < {p} && echo read-ok; : > {p} && echo write-ok; true"


@needs_device
def test_device_read_only_per_its_permissions(dockyard_daemon, busybox_image):
    r = docker(dockyard_daemon, "run", "--rm", "--device", f"{LOOP_CONTROL}:/dev/lc:r", busybox_image,
               "sh", "-c", PROBE.format(p="/dev/lc"))
    assert r.stdout.split() == ["read-ok"], r.stderr
    assert "Operation not permitted" in r.stderr
    r = docker(dockyard_daemon, "run", "--rm", "--device", f"{LOOP_CONTROL}:/dev/lc", busybox_image,
               "sh", "-c", "ls -l /dev/lc; " + PROBE.format(p="/dev/lc"))
    assert "10, 237" in r.stdout and r.stdout.split()[-2:] == ["read-ok", "write-ok"], r.stderr


@needs_device
def test_device_cgroup_rule_allows_and_denies(dockyard_daemon, busybox_image):
    probe = "mknod /tmp/lc c 10 237 && " + PROBE.format(p="/tmp/lc")
    r = docker(dockyard_daemon, "run", "--rm", busybox_image, "sh", "-c", probe)
    assert r.stdout.split() == [] and "Operation not permitted" in r.stderr  # not in the default rules
    r = docker(dockyard_daemon, "run", "--rm", "--device-cgroup-rule", "c 10:237 r", busybox_image, "sh", "-c", probe)
    assert r.stdout.split() == ["read-ok"], r.stderr
    r = docker(dockyard_daemon, "run", "--rm", "--device-cgroup-rule", "c 10:* rw", busybox_image, "sh", "-c", probe)
    assert r.stdout.split() == ["read-ok", "write-ok"], r.stderr


def test_missing_device_is_an_error(dockyard_daemon, busybox_image):
    r = docker(dockyard_daemon, "run", "--rm", "--device", "/dev/no-such-device-dy", busybox_image, "true")
    assert r.returncode != 0
    assert 'error gathering device information while adding custom device "/dev/no-such-device-dy"' in r.stderr


def test_group_add(dockyard_daemon, busybox_image):
    r = docker(dockyard_daemon, "run", "--rm", "--group-add", "1234", "--group-add", "daemon", busybox_image, "id")
    assert r.returncode == 0, r.stderr
    groups = r.stdout.split("groups=")[1].strip().split(",")
    assert "1(daemon)" in groups and "1234" in groups, r.stdout


def _host_bounding() -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))


def test_privileged(dockyard_daemon, busybox_image):
    """Every capability the host holds, every host device, no seccomp, no masked or read-only paths.

    This sandbox lacks CAP_SYS_RESOURCE: a runtime asked for all 41 capabilities fails
    with EPERM (dockerd's --privileged does here), so the expected set is the host's
    bounding set, whatever it is, and the test says which case it is in.
    """
    script = ("grep -E 'CapEff|Seccomp:' /proc/self/status; ls /dev | wc -l; ls -l /dev/loop-control; "
              "grep -cE ' /proc/(keys|kcore|timer_list) ' /proc/self/mountinfo; "
              "grep ' /sys ' /proc/self/mountinfo | grep -c ' rw,'")
    r = docker(dockyard_daemon, "run", "--rm", "--privileged", busybox_image, "sh", "-c", script)
    held = _host_bounding()
    if r.returncode != 0 and "capset" in r.stderr and held != (1 << 41) - 1:
        pytest.fail(f"--privileged asked for capabilities the host lacks (CapBnd {held:x}): {r.stderr}")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert int(lines[0].split()[1], 16) == held
    assert lines[1].split() == ["Seccomp:", "0"]
    assert int(lines[2]) >= len([n for n in os.listdir("/dev") if n not in ("pts", "shm", "mqueue", "fd")]) - 5
    assert lines[3].startswith("crw")  # a host device no default container has
    assert lines[4:] == ["0", "1"]  # nothing masked; /sys writable
    r = docker(dockyard_daemon, "run", "--rm", busybox_image, "sh", "-c", "grep -E 'CapEff|Seccomp:' /proc/self/status")
    assert int(r.stdout.split()[1], 16) != held and r.stdout.split()[-1] == "2"  # the defaults, for contrast


def test_sysctls_only_namespaced(dockyard_daemon, busybox_image):
    client = dockerpy.DockerClient(base_url=dockyard_daemon.docker_host, timeout=60)
    try:
        with open("/proc/sys/vm/swappiness") as f:
            before = f.read()
        with pytest.raises(dockerpy.errors.APIError) as exc:
            client.containers.run(busybox_image, ["true"], sysctls={"vm.swappiness": "1"}, remove=True)
        assert exc.value.status_code == 400
        assert "sysctl 'vm.swappiness' is not in a separate kernel namespace" in str(exc.value)
        with open("/proc/sys/vm/swappiness") as f:
            assert f.read() == before
        with pytest.raises(dockerpy.errors.APIError, match="host's IPC namespace"):
            client.containers.run(busybox_image, ["true"], sysctls={"kernel.shmmax": "1"}, ipc_mode="host",
                                  remove=True)
        out = client.containers.run(busybox_image, ["cat", "/proc/sys/kernel/shmmax", "/proc/sys/net/ipv4/ip_forward"],
                                    sysctls={"kernel.shmmax": "12345678", "net.ipv4.ip_forward": "1"}, remove=True)
        assert out.split() == [b"12345678", b"1"]
        assert not [c for c in client.containers.list(all=True) if c.attrs["Config"]["Image"] == busybox_image
                    and "vm.swappiness" in str(c.attrs["HostConfig"].get("Sysctls"))]
    finally:
        client.close()
