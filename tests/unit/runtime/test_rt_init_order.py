"""The container-start sequence runs in runc's order: checked through a recording fake facade."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "src"))

from dockyard.runtime.native import init  # noqa: E402
from dockyard.runtime.native import syscalls as sc  # noqa: E402
from tests.support.fakes import RecordingSyscalls  # noqa: E402


class FakeSeccomp:
    pass


def _ctx(tmp_path: pathlib.Path, fake: RecordingSyscalls, nnp: bool) -> init.InitContext:
    rootfs = tmp_path / "rootfs"
    (rootfs / "dev").mkdir(parents=True)
    config = {
        "ociVersion": "1.0.2",
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": "ordered",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"sysctl": {"net.ipv4.ip_forward": "1"}, "readonlyPaths": ["/proc"],
                  "maskedPaths": ["/proc/self"]},
        "process": {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 1000, "gid": 1000},
                    "noNewPrivileges": nnp, "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10}],
                    "env": ["PATH=/bin"]},
    }
    return init.InitContext(fake, config, config["process"], rootfs=str(rootfs), bundle=str(tmp_path),
                            capsets=object(), seccomp=FakeSeccomp())


def test_step_names_follow_standard_init():
    assert [name for name, _ in init.STANDARD_STEPS] == [
        "network", "rootfs", "console", "hostname", "sysctls", "readonly_and_masked_paths", "no_new_privs",
        "seccomp", "capabilities_and_user", "close_inherited_fds", "wait_for_start", "exec"]


def test_kernel_calls_happen_in_security_order(tmp_path):
    fake = RecordingSyscalls()
    init.run_steps(_ctx(tmp_path, fake, nnp=True), init.STANDARD_STEPS)
    names = [c[0] for c in fake.calls]
    pivot = fake.index("pivot_root")
    hostname = fake.index("sethostname")
    sysctl = fake.index("write_file", lambda a: a[0] == "/proc/sys/net/ipv4/ip_forward")
    ro_path = fake.index("mount", lambda a: a[1] == "/proc" and a[3] & sc.MS_RDONLY)
    nnp = fake.index("prctl", lambda a: a[0] == sc.PR_SET_NO_NEW_PRIVS)
    bounding = fake.index("drop_bounding")
    setuid = fake.index("setresuid")
    apply_caps = fake.index("apply_caps")
    close = fake.index("close_range_cloexec")
    assert fake.index("reset_signals") < fake.index("execve")
    seccomp = fake.index("load_seccomp")
    execve = fake.index("execve")
    assert pivot < hostname < sysctl < ro_path < nnp < bounding < setuid < apply_caps < close < seccomp < execve
    assert fake.index("setresgid") < setuid  # gid first, while we may still change it
    assert fake.index("setrlimit") < setuid
    assert execve == len(names) - 1
    assert fake.calls[execve][1][0] == "/bin/sh"


def test_without_no_new_privs_seccomp_loads_before_dropping_capabilities(tmp_path):
    fake = RecordingSyscalls()
    init.run_steps(_ctx(tmp_path, fake, nnp=False), init.STANDARD_STEPS)
    assert fake.index("load_seccomp") < fake.index("drop_bounding")
    assert not any(n == "prctl" and a[0] == sc.PR_SET_NO_NEW_PRIVS for n, a in fake.calls)


def test_exec_steps_skip_rootfs_but_keep_the_security_tail(tmp_path):
    fake = RecordingSyscalls()
    ctx = _ctx(tmp_path, fake, nnp=True)
    init.run_steps(ctx, init.EXEC_STEPS)
    names = [c[0] for c in fake.calls]
    assert "pivot_root" not in names and "sethostname" not in names
    assert names.index("prctl") < names.index("setresuid") < names.index("close_range_cloexec") \
        < names.index("load_seccomp") < names.index("execve")


def test_close_fds_keeps_preserved_fds(tmp_path):
    fake = RecordingSyscalls()
    ctx = _ctx(tmp_path, fake, nnp=True)
    ctx.preserve_fds = 2
    r, w = os.pipe()
    try:
        init.step_close_fds(ctx)
        assert fake.calls == [("close_range_cloexec", (5,)), ("reset_signals", ())]
    finally:
        os.close(r)
        os.close(w)


def test_a_new_network_namespace_gets_loopback_up_before_the_rootfs(tmp_path):
    fake = RecordingSyscalls()
    ctx = _ctx(tmp_path, fake, nnp=True)
    ctx.config["linux"]["namespaces"] = [{"type": "mount"}, {"type": "network"}]
    init.run_steps(ctx, init.STANDARD_STEPS)
    assert fake.index("link_up", lambda a: a == ("lo",)) < fake.index("pivot_root")


@pytest.mark.parametrize("namespaces", [[{"type": "mount"}], [{"type": "network", "path": "/proc/1/ns/net"}]])
def test_a_host_or_joined_network_namespace_is_left_alone(tmp_path, namespaces):
    fake = RecordingSyscalls()
    ctx = _ctx(tmp_path, fake, nnp=True)
    ctx.config["linux"]["namespaces"] = namespaces
    init.run_steps(ctx, init.STANDARD_STEPS)
    assert "link_up" not in [c[0] for c in fake.calls]
