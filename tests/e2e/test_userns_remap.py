"""userns-remap: container root is an unprivileged host uid, checked from the host with stat.

The daemon runs with ``"userns-remap": "default"``: it makes the ``dockremap``
user and its /etc/subuid and /etc/subgid ranges; this module removes them
afterwards (it skips when a dockremap user already exists: not ours to touch).
"""

from __future__ import annotations

import ctypes
import os
import pwd
import subprocess
import tempfile

import pytest

from tests.support.daemon import docker, new_daemon


def _idmapped_mounts_work() -> bool:
    """open_tree + mount_setattr(MOUNT_ATTR_IDMAP) on a scratch dir (Linux >= 5.12 with a capable fs)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    with tempfile.TemporaryDirectory() as d:
        child = subprocess.Popen(["unshare", "--user", "sleep", "5"])
        try:
            own = os.readlink("/proc/self/ns/user")
            while os.readlink(f"/proc/{child.pid}/ns/user") == own:
                pass
            for name, text in (("uid_map", "0 100000 1\n"), ("setgroups", "deny"), ("gid_map", "0 100000 1\n")):
                with open(f"/proc/{child.pid}/{name}", "w") as f:
                    f.write(text)
            ns = os.open(f"/proc/{child.pid}/ns/user", os.O_RDONLY)
        finally:
            child.kill()
            child.wait()
        try:
            fd = libc.syscall(428, -100, d.encode(), 1 | 0o2000000)
            if fd < 0:
                return False
            attr = (ctypes.c_uint64 * 4)(0x00100000, 0, 0, ns)
            ok = libc.syscall(442, fd, b"", 0x1000, attr, 32) == 0
            os.close(fd)
            return ok
        finally:
            os.close(ns)


def _subid_lines(name: str) -> list[str]:
    lines = []
    for path in ("/etc/subuid", "/etc/subgid"):
        try:
            with open(path) as f:
                lines += [line for line in f if line.startswith(f"{name}:")]
        except FileNotFoundError:
            pass
    return lines


@pytest.fixture(scope="module")
def remapped(busybox_tar):
    try:
        pwd.getpwnam("dockremap")
        pytest.skip("a dockremap user exists already on this machine: not this test's to create or remove")
    except KeyError:
        pass
    if not _idmapped_mounts_work():
        pytest.skip("this kernel has no idmapped mounts (needed for image layers under userns-remap)")
    d = new_daemon(config={"userns-remap": "default"})
    os.chmod(d.root, 0o711)  # the remapped root walks through it to its rootfs, as through /var/lib/docker
    try:
        d.start()
        docker(d, "import", str(busybox_tar), "busybox:latest", check=True)
        yield d
    finally:
        d.cleanup()
        subprocess.run(["userdel", "dockremap"], capture_output=True)
        assert _subid_lines("dockremap") == []


def _range() -> tuple[int, int]:
    with open("/etc/subuid") as f:
        _, start, count = next(line for line in f if line.startswith("dockremap:")).strip().split(":")
    return int(start), int(count)


def test_default_makes_dockremap_and_the_data_root_subfolder(remapped):
    start, count = _range()
    assert count == 65536 and start >= 100000
    gid_start = int(next(line for line in open("/etc/subgid") if line.startswith("dockremap:")).split(":")[1])
    assert os.listdir(remapped.data_root) == [f"{start}.{gid_start}"]


def test_container_root_is_an_unprivileged_host_uid(remapped):
    start, count = _range()
    r = docker(remapped, "run", "-d", "busybox", "sh", "-c",
               "mkdir -p /made/deep && touch /made/deep/file /etc/touched && echo x > /root-file; sleep 60")
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        inspect = docker(remapped, "inspect", "-f", "{{.State.Pid}} {{.GraphDriver.Data.UpperDir}}", cid, check=True)
        pid, upper = inspect.stdout.split()
        with open(f"/proc/{pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert {int(u) for u in uids} == {start}  # root inside, uid `start` on the host
        out = docker(remapped, "exec", cid, "sh", "-c", "id -u; ls -ln /bin/busybox").stdout.split()
        assert out[0] == "0" and out[3] == "0"  # image files (host root's) look like root's inside
        for _ in range(50):  # the files the container made, stat'ed from the host
            if os.path.exists(os.path.join(upper, "root-file")):
                break
            import time
            time.sleep(0.1)
        owners = set()
        for dirpath, dirnames, filenames in os.walk(upper):
            for name in dirnames + filenames:
                owners.add(os.lstat(os.path.join(dirpath, name)).st_uid)
        assert owners and all(start <= uid < start + count for uid in owners), owners
        assert os.stat(upper).st_uid == start
    finally:
        docker(remapped, "rm", "-f", cid)


def test_bind_mount_write_shows_the_remapped_uid(remapped):
    import pathlib

    start, _ = _range()
    target = pathlib.Path(remapped.root) / "shared"  # a path the remapped root can walk (as runc needs too)
    target.mkdir()
    os.chmod(target, 0o777)
    r = docker(remapped, "run", "--rm", "-v", f"{target}:/data", "busybox", "sh", "-c",
               "echo hi > /data/from-container && id -u")
    assert (r.returncode, r.stdout) == (0, "0\n"), r.stderr
    st = os.stat(target / "from-container")
    assert (st.st_uid, st.st_gid) == (start, int(next(line for line in open("/etc/subgid")
                                                      if line.startswith("dockremap:")).split(":")[1]))


def test_userns_host_opts_out(remapped):
    r = docker(remapped, "run", "--rm", "--userns", "host", "busybox", "cat", "/proc/self/uid_map")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "0", "4294967295"]
    r = docker(remapped, "run", "--rm", "busybox", "cat", "/proc/self/uid_map")
    assert r.stdout.split() == ["0", str(_range()[0]), "65536"]


def test_network_sysctls_without_ping_groups_in_a_user_namespace(remapped):
    """As dockerd: low ports for everyone, but no ping_group_range, whose range maps to no group here."""
    r = docker(remapped, "run", "--rm", "busybox", "cat", "/proc/sys/net/ipv4/ip_unprivileged_port_start",
               "/proc/sys/net/ipv4/ping_group_range")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0", "65534", "65534"]  # the host's "1 0", unmapped (dockerd shows the same)


def test_privileged_needs_userns_host(remapped):
    r = docker(remapped, "run", "--rm", "--privileged", "busybox", "true")
    assert r.returncode != 0 and "privileged mode is incompatible with user namespaces" in r.stderr
    r = docker(remapped, "run", "--rm", "--privileged", "--userns", "host", "busybox", "true")
    assert r.returncode == 0, r.stderr


def test_only_host_or_the_daemon_default(remapped):
    status, body = remapped.request("POST", "/containers/create",
                                    {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"UsernsMode": "private"}})
    assert (status, body["message"]) == (400, "invalid USER mode: private")


def test_docker_cp_into_a_remapped_container_keeps_container_owners(remapped, tmp_path):
    """A file copied in as root:root is the container root's: its host uid is the range's start."""
    start, _ = _range()
    src = tmp_path / "copied.txt"
    src.write_text("in\n")
    r = docker(remapped, "run", "-d", "busybox", "sleep", "60")
    cid = r.stdout.strip()
    try:
        assert docker(remapped, "cp", str(src), f"{cid}:/copied.txt").returncode == 0
        out = docker(remapped, "exec", cid, "stat", "-c", "%u %g", "/copied.txt").stdout.split()
        assert out == ["0", "0"]  # root's inside, not nobody's
        upper = docker(remapped, "inspect", "-f", "{{.GraphDriver.Data.UpperDir}}", cid).stdout.strip()
        assert os.stat(os.path.join(upper, "copied.txt")).st_uid == start  # and inside its range on the host
    finally:
        docker(remapped, "rm", "-f", cid)


def test_named_volume_is_writable_by_the_remapped_root(remapped):
    start, _ = _range()
    r = docker(remapped, "run", "--rm", "-v", "dyremapvol:/fresh", "busybox", "sh", "-c",
               "touch /fresh/made && stat -c '%u' /fresh/made")
    try:
        assert (r.returncode, r.stdout) == (0, "0\n"), r.stderr
        path = docker(remapped, "volume", "inspect", "-f", "{{.Mountpoint}}", "dyremapvol").stdout.strip()
        assert os.stat(os.path.join(path, "made")).st_uid == start
    finally:
        docker(remapped, "volume", "rm", "-f", "dyremapvol")


def test_docker_cp_out_shows_the_container_ids(remapped, tmp_path):
    """Running or stopped, a file of the container's root comes out as root's, not as the host range's."""
    r = docker(remapped, "run", "-d", "busybox", "sh", "-c", "touch /made-here; sleep 60")
    cid = r.stdout.strip()
    try:
        for state in ("running", "stopped"):
            if state == "stopped":
                docker(remapped, "stop", "-t", "0", cid)
            for path in ("/made-here", "/bin/busybox"):
                proc = subprocess.run(["docker", "cp", f"{cid}:{path}", "-"], env=remapped.env(),
                                      capture_output=True, timeout=60)
                import io
                import tarfile

                member = tarfile.open(fileobj=io.BytesIO(proc.stdout)).getmembers()[0]
                assert (member.uid, member.gid) == (0, 0), (state, path)
    finally:
        docker(remapped, "rm", "-f", cid)
