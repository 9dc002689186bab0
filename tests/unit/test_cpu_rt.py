"""The daemon's real-time CPU budget above its containers (dockyard.daemon.cpu_rt), on a plain directory."""

from __future__ import annotations

import dataclasses
import os

import pytest

from dockyard.daemon.cpu_rt import NO_KERNEL_TEXT, V2_TEXT, check_daemon_options, init_rt_parents, parent_levels
from dockyard.errors import SystemError_
from dockyard.spec.hostcaps import SysInfo

HOST = SysInfo()


def test_parent_levels_are_above_the_container_top_first():
    assert parent_levels("/dockyard/abc") == ["/dockyard"]
    assert parent_levels("a/b/abc") == ["/a", "/a/b"]
    assert parent_levels("/abc") == []


def test_nothing_is_written_without_the_options(tmp_path):
    assert init_rt_parents(0, 0, "/p/abc", HOST, str(tmp_path)) == []
    assert init_rt_parents(0, 0, "/p/abc", dataclasses.replace(HOST, cgroup_v2=True), str(tmp_path)) == []
    assert os.listdir(tmp_path) == []


def test_cgroup_v2_and_a_kernel_without_rt_group_scheduling_get_dockerds_texts(tmp_path):
    check_daemon_options(0, 0, dataclasses.replace(HOST, cgroup_v2=True, cpu_realtime=False))
    check_daemon_options(1000000, 20000, HOST)
    for host, text in ((dataclasses.replace(HOST, cgroup_v2=True, cpu_realtime=False), V2_TEXT),
                       (dataclasses.replace(HOST, cpu_realtime=False), NO_KERNEL_TEXT)):
        for check in (lambda: init_rt_parents(0, 20000, "/p/abc", host, str(tmp_path)),
                      lambda: check_daemon_options(1000000, 0, host)):
            with pytest.raises(SystemError_) as exc:
                check()
            assert exc.value.message == text


def test_each_level_gets_period_then_runtime(tmp_path):
    level = tmp_path / "p"
    level.mkdir()
    for name in ("cpu.rt_period_us", "cpu.rt_runtime_us"):
        (level / name).write_text("0")
    assert init_rt_parents(1000000, 20000, "/p/abc", HOST, str(tmp_path)) == [str(level)]
    assert (level / "cpu.rt_period_us").read_text() == "1000000"
    assert (level / "cpu.rt_runtime_us").read_text() == "20000"
    assert not (tmp_path / "p" / "abc").exists()  # the container's own cgroup is the runtime's


def test_a_refused_budget_removes_the_levels_it_made(tmp_path):
    # a level's runtime file that cannot be written (here a directory: EISDIR; the kernel says EINVAL)
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "cpu.rt_runtime_us").mkdir()
    with pytest.raises(SystemError_) as exc:
        init_rt_parents(0, 20000, "/p/q/abc", HOST, str(tmp_path))
    assert exc.value.message.startswith(f"unable to init CPU RT controller: write {tmp_path}/p/cpu.rt_runtime_us: ")
    assert sorted(os.listdir(tmp_path / "p")) == ["cpu.rt_runtime_us"]  # /p was there before and stays
    (tmp_path / "p" / "cpu.rt_runtime_us").rmdir()
    (tmp_path / "p" / "cpu.rt_runtime_us").write_text("0")
    (tmp_path / "p" / "cpu.rt_period_us").write_text("0")
    with pytest.raises(SystemError_) as exc:  # /p/q is made, then its files are missing: it goes again
        init_rt_parents(0, 20000, "/p/q/abc", HOST, str(tmp_path))
    assert not (tmp_path / "p" / "q").exists()
