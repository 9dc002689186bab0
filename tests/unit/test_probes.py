"""The test suite's kernel probes, each both ways on a fake tree."""

from __future__ import annotations

from tests.support import probes


def test_blkio_weight_file(tmp_path):
    assert probes.blkio_weight_file(str(tmp_path)) is None
    (tmp_path / "blkio.bfq.weight").write_text("")
    assert probes.blkio_weight_file(str(tmp_path)) == "blkio.bfq.weight"
    (tmp_path / "blkio.weight").write_text("")
    assert probes.blkio_weight_file(str(tmp_path)) == "blkio.weight"


def test_hugepage_sizes(tmp_path):
    assert probes.hugepage_sizes(str(tmp_path)) == []
    for kb in (1048576, 2048, 64):
        (tmp_path / f"kernel/mm/hugepages/hugepages-{kb}kB").mkdir(parents=True)
    assert probes.hugepage_sizes(str(tmp_path)) == ["64KB", "2MB", "1GB"]


def test_swap_accounting(tmp_path):
    assert not probes.swap_accounting(str(tmp_path))
    (tmp_path / "memory.memsw.limit_in_bytes").write_text("")
    assert probes.swap_accounting(str(tmp_path))


def test_absent_cpu_and_seccomp_arch():
    assert probes.absent_cpu(2) == 66 and probes.absent_cpu(128) == 192
    assert probes.seccomp_arch("aarch64") == "SCMP_ARCH_AARCH64"
    assert probes.seccomp_arch("x86_64") == "SCMP_ARCH_X86_64"
    assert probes.seccomp_arch("pdp11") is None


def test_cgroup2_mount():
    v1 = ("35 25 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro\n"
          "36 35 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
    assert probes.cgroup2_mount(v1) is None
    hybrid = v1 + "37 35 0:32 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n"
    assert probes.cgroup2_mount(hybrid) == "/sys/fs/cgroup/unified"
    assert probes.cgroup2_mount("30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n") == "/sys/fs/cgroup"


def test_leftovers_look_at_every_cgroup_hierarchy():
    from tests.support.daemon import cgroup_mounts

    info = ("35 25 0:30 / /sys/fs/cgroup ro - tmpfs tmpfs ro\n"
            "36 35 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
            "37 35 0:32 / /sys/fs/cgroup/blkio rw - cgroup cgroup rw,blkio\n"
            "38 35 0:33 / /sys/fs/cgroup/hugetlb rw - cgroup cgroup rw,hugetlb\n"
            "39 35 0:34 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n")
    assert cgroup_mounts(info) == ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/blkio", "/sys/fs/cgroup/hugetlb",
                                   "/sys/fs/cgroup/unified"]
    assert len(cgroup_mounts()) >= 1  # this host has at least one hierarchy


def test_cgroup_dir_v1_and_v2(tmp_path):
    assert not probes.cgroup_v2(str(tmp_path))
    assert probes.cgroup_dir("pids", "/dockyard/c1", str(tmp_path)) == f"{tmp_path}/pids/dockyard/c1"
    (tmp_path / "cgroup.controllers").write_text("pids memory\n")
    assert probes.cgroup_v2(str(tmp_path))
    assert probes.cgroup_dir("pids", "/dockyard/c1", str(tmp_path)) == f"{tmp_path}/dockyard/c1"
