"""Real-time CPU limits (``--cpu-rt-period``/``--cpu-rt-runtime``) and the daemon's budget for them, as dockerd.

On cgroup v1 with CONFIG_RT_GROUP_SCHED a container's real-time runtime must
fit in its parent's, and a new cgroup has none: dockerd accepts the options at
create, and the container starts only when the daemon's ``--cpu-rt-runtime``
gave every level above it a budget.  Without the kernel feature (or on cgroup
v2) the create is refused with dockerd's text.
"""

from __future__ import annotations

import json
import os

import pytest

from tests.support.daemon import busybox_daemon, docker

CPU = "/sys/fs/cgroup/cpu"
RT = os.path.exists(f"{CPU}/cpu.rt_runtime_us")
needs_rt = pytest.mark.skipif(not RT, reason="the kernel has no real-time group scheduling on cgroup v1 "
                              "(CONFIG_RT_GROUP_SCHED: no /sys/fs/cgroup/cpu/cpu.rt_runtime_us)")
BUDGET = 20000  # 2% of the root's period: small, so test daemons running side by side all fit under the root


def refused_by_kernel(stderr: str) -> bool:
    """The runtime's report of the kernel refusing the container's budget (ours names the OCI field, runc the file)."""
    return "realtimeRuntime" in stderr or "cpu.rt_runtime_us" in stderr


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


@pytest.fixture(scope="module")
def rt_daemon(busybox_tar):
    with busybox_daemon(busybox_tar, extra_args=["--cpu-rt-runtime", str(BUDGET)]) as d:
        yield d


def test_create_stores_the_options_or_refuses_them_with_dockerds_text(dockyard_daemon, busybox_image):
    created = docker(dockyard_daemon, "create", "--cpu-rt-runtime", "1000", "--cpu-rt-period", "100000",
                     busybox_image, "true")
    if not RT:
        assert created.returncode != 0
        assert "Your kernel does not support CPU real-time scheduler" in created.stderr
        return
    cid = created.stdout.strip()
    try:
        assert created.returncode == 0, created.stderr
        hc = json.loads(docker(dockyard_daemon, "inspect", cid, check=True).stdout)[0]["HostConfig"]
        assert (hc["CpuRealtimeRuntime"], hc["CpuRealtimePeriod"]) == (1000, 100000)
        # no daemon budget above it (dockerd's default): the kernel refuses the container's, at start
        started = docker(dockyard_daemon, "start", cid)
        assert started.returncode != 0 and refused_by_kernel(started.stderr), started.stderr
    finally:
        docker(dockyard_daemon, "rm", "-f", cid)
    assert dockyard_daemon.leftovers() == []
    more = docker(dockyard_daemon, "create", "--cpu-rt-runtime", "2000", "--cpu-rt-period", "1000",
                  busybox_image, "true")
    assert more.returncode != 0
    assert "cpu real-time runtime cannot be higher than cpu real-time period" in more.stderr


@needs_rt
def test_the_daemon_budget_lets_a_container_run_with_its_own(rt_daemon):
    out = docker(rt_daemon, "run", "--rm", "--network", "none", "--cpu-rt-runtime", "1000",
                 "--cpu-rt-period", "100000", "busybox", "cat", f"{CPU}/cpu.rt_runtime_us",
                 f"{CPU}/cpu.rt_period_us", check=True).stdout.split()
    assert out == ["1000", "100000"]
    assert _read(f"{CPU}{rt_daemon.cgroup_parent}/cpu.rt_runtime_us") == str(BUDGET)
    # more than the parent can give: the kernel's refusal, and nothing left behind
    over = docker(rt_daemon, "run", "--rm", "--network", "none", "--cpu-rt-runtime", "500000", "busybox", "true")
    assert over.returncode != 0 and refused_by_kernel(over.stderr), over.stderr
    assert rt_daemon.leftovers() == []


@needs_rt
def test_every_level_above_a_nested_cgroup_parent_gets_the_budget(rt_daemon):
    top = f"{rt_daemon.prefix}-rt"
    try:
        docker(rt_daemon, "run", "--rm", "--network", "none", "--cgroup-parent", f"/{top}/inner",
               "--cpu-rt-runtime", "1000", "busybox", "true", check=True)
        assert _read(f"{CPU}/{top}/cpu.rt_runtime_us") == str(BUDGET)
        assert _read(f"{CPU}/{top}/inner/cpu.rt_runtime_us") == str(BUDGET)
    finally:
        for base in os.listdir("/sys/fs/cgroup"):
            for path in (f"/sys/fs/cgroup/{base}/{top}/inner", f"/sys/fs/cgroup/{base}/{top}"):
                if os.path.isdir(path):
                    os.rmdir(path)


@needs_rt
def test_a_budget_the_kernel_refuses_fails_the_start_with_dockerds_text(busybox_tar):
    with busybox_daemon(busybox_tar, extra_args=["--cpu-rt-runtime", "2000000"]) as d:  # > the root's period
        run = docker(d, "run", "--network", "none", "--name", "rtover", "busybox", "true")
        assert run.returncode != 0
        assert (f"unable to init CPU RT controller: write {CPU}{d.cgroup_parent}/cpu.rt_runtime_us: "
                "invalid argument") in run.stderr, run.stderr
        assert not os.path.exists(CPU + d.cgroup_parent)  # the level it made for the budget went again
        docker(d, "rm", "-f", "rtover", check=True)
