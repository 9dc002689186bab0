"""monitor/stats.py on fake cgroup v1 and v2 trees (missing files read as absent) and on this host's files."""

from __future__ import annotations

import os
import pathlib

from dockyard.monitor import stats

V1_FILES = {
    "memory/ctr/memory.usage_in_bytes": "1048576\n", "memory/ctr/memory.max_usage_in_bytes": "2097152\n",
    "memory/ctr/memory.limit_in_bytes": "9223372036854771712\n", "memory/ctr/memory.stat": "cache 4096\nrss 8192\n",
    "cpuacct/ctr/cpuacct.usage": "5000000\n", "cpuacct/ctr/cpuacct.usage_percpu": "3000000 2000000 \n",
    "cpuacct/ctr/cpuacct.stat": "user 3\nsystem 1\n", "cpu/ctr/cpu.stat": "nr_periods 4\nnr_throttled 1\n",
    "pids/ctr/pids.current": "2\n", "pids/ctr/pids.max": "max\n",
    "blkio/ctr/blkio.throttle.io_service_bytes": "8:0 Read 512\n8:0 Write 1024\nTotal 1536\n",
}
V2_FILES = {
    "ctr/memory.current": "1048576\n", "ctr/memory.max": "67108864\n", "ctr/memory.stat": "anon 4096\nfile 8192\n",
    "ctr/cpu.stat": "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\n",
    "ctr/pids.current": "3\n", "ctr/pids.max": "50\n",
    "ctr/io.stat": "8:0 rbytes=512 wbytes=1024 rios=1 wios=2 dbytes=0 dios=0\n",
}


def _tree(root: pathlib.Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)


def _proc(root: pathlib.Path, cgroup: str) -> str:
    (root / "proc/7/").mkdir(parents=True)
    (root / "proc/7/cgroup").write_text(cgroup)
    (root / "proc/stat").write_text("cpu  10 0 10 80 0 0 0 0 0 0\n")
    (root / "proc/7/net").mkdir()
    (root / "proc/7/net/dev").write_text(
        "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|...\n"
        "    lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n"
        "  eth0: 2000 20 1 2 0 0 0 0 3000 30 3 4 0 0 0 0\n")
    return str(root / "proc")


def test_v1_tree(tmp_path):
    _tree(tmp_path / "cg", V1_FILES)
    proc = _proc(tmp_path, "4:memory:/ctr\n3:cpu,cpuacct:/ctr\n2:pids:/ctr\n1:blkio:/ctr\n0::/\n")
    s = stats.sample(7, "/unused", v2=False, host_memory=8 << 30, online_cpus=2, root=str(tmp_path / "cg"),
                     proc=proc)
    assert s["memory_stats"] == {"usage": 1048576, "max_usage": 2097152, "stats": {"cache": 4096, "rss": 8192},
                                 "limit": 8 << 30}  # no failcnt file: absent, not an error
    cpu = s["cpu_stats"]
    assert cpu["cpu_usage"]["total_usage"] == 5000000 and cpu["cpu_usage"]["percpu_usage"] == [3000000, 2000000]
    assert cpu["cpu_usage"]["usage_in_usermode"] == 3 * 10**9 // os.sysconf("SC_CLK_TCK")
    assert cpu["throttling_data"] == {"periods": 4, "throttled_periods": 1, "throttled_time": 0}
    assert cpu["system_cpu_usage"] == 100 * 10**9 // os.sysconf("SC_CLK_TCK") and cpu["online_cpus"] == 2
    assert s["pids_stats"] == {"current": 2}
    assert s["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 512}, {"major": 8, "minor": 0, "op": "Write", "value": 1024}]
    assert s["blkio_stats"]["io_serviced_recursive"] == []  # v1: every list there, [] when empty (dockerd)
    assert s["networks"] == {"eth0": {"rx_bytes": 2000, "rx_packets": 20, "rx_errors": 1, "rx_dropped": 2,
                                      "tx_bytes": 3000, "tx_packets": 30, "tx_errors": 3, "tx_dropped": 4}}


def test_v2_tree_and_fallback_path(tmp_path):
    _tree(tmp_path / "cg", V2_FILES)
    proc = _proc(tmp_path, "garbage\n")
    s = stats.sample(7, "/ctr", v2=True, host_memory=8 << 30, online_cpus=4, root=str(tmp_path / "cg"), proc=proc)
    assert s["memory_stats"] == {"usage": 1048576, "stats": {"anon": 4096, "file": 8192}, "limit": 67108864}
    assert s["cpu_stats"]["cpu_usage"] == {"total_usage": 5000000, "usage_in_kernelmode": 2000000,
                                           "usage_in_usermode": 3000000}
    assert s["pids_stats"] == {"current": 3, "limit": 50}
    assert s["blkio_stats"]["io_serviced_recursive"] == [
        {"major": 8, "minor": 0, "op": "read", "value": 1}, {"major": 8, "minor": 0, "op": "write", "value": 2}]


def test_empty_tree_is_all_absent(tmp_path):
    proc = _proc(tmp_path, "0::/nothing\n")
    for v2 in (False, True):
        s = stats.sample(7, "/x", v2=v2, host_memory=1, online_cpus=1, root=str(tmp_path / "none"), proc=proc)
        assert s["memory_stats"] == {"limit": 1} and s["pids_stats"] == {}
        assert s["cpu_stats"]["cpu_usage"]["total_usage"] == 0


def test_this_hosts_real_files():
    """This process's own cgroups, v1 controllers and the v2 (unified) one if mounted."""
    pid = os.getpid()
    v1 = stats.sample(pid, "/", v2=False, host_memory=1 << 40, online_cpus=1)
    if os.path.exists("/sys/fs/cgroup/memory/memory.usage_in_bytes"):
        assert v1["memory_stats"]["usage"] > 0
    assert v1["cpu_stats"]["system_cpu_usage"] > 0
    assert isinstance(v1["networks"], dict) if "networks" in v1 else True
    for root in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(f"{root}/cgroup.controllers"):
            v2 = stats.sample(pid, "/", v2=True, host_memory=1 << 40, online_cpus=1, root=root)
            assert v2["cpu_stats"]["cpu_usage"]["total_usage"] >= 0
