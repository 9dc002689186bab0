"""The v1 manager's decisions that depend on what the host offers, on a fake hierarchy."""

from __future__ import annotations

import pathlib

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.native.cgroups.v1 import V1Manager

MB = 1 << 20


def manager(tmp_path: pathlib.Path, memsw: str | None) -> tuple[V1Manager, pathlib.Path]:
    leaf = tmp_path / "memory" / "dockyard" / "c1"
    leaf.mkdir(parents=True)
    (leaf / "memory.limit_in_bytes").write_text("")  # a plain file: writes do not truncate
    if memsw is not None:
        (leaf / "memory.memsw.limit_in_bytes").write_text(memsw)
    mountinfo = f"38 33 0:33 / {tmp_path / 'memory'} rw - cgroup cgroup rw,memory\n"
    return V1Manager("/dockyard/c1", mountinfo=mountinfo), leaf


def test_swap_without_swap_accounting_is_refused(tmp_path: pathlib.Path) -> None:
    m, leaf = manager(tmp_path, memsw=None)
    with pytest.raises(InvalidParameter, match="no swap accounting"):
        m.set({"memory": {"limit": 64 * MB, "swap": 128 * MB}})
    m.set({"memory": {"limit": 64 * MB}})  # a plain memory limit still works
    assert (leaf / "memory.limit_in_bytes").read_text() == str(64 * MB)


def order(m: V1Manager, memory: dict) -> list[str]:
    from dockyard.runtime.native.cgroups.mapping import v1_writes

    return [w.file for w in m._order_memory(v1_writes({"memory": memory}), memory)]


def test_raising_memory_above_current_swap_writes_swap_first(tmp_path: pathlib.Path) -> None:
    m, _ = manager(tmp_path, memsw=str(32 * MB))
    assert order(m, {"limit": 128 * MB, "swap": 256 * MB}) == ["memory.memsw.limit_in_bytes",
                                                              "memory.limit_in_bytes"]
    assert order(m, {"limit": 16 * MB, "swap": 16 * MB}) == ["memory.limit_in_bytes",
                                                            "memory.memsw.limit_in_bytes"]


def test_unlimited_memory_also_lifts_swap(tmp_path: pathlib.Path) -> None:
    m, _ = manager(tmp_path, memsw=str(32 * MB))
    assert order(m, {"limit": -1}) == ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]


def test_controller_not_mounted_is_named(tmp_path: pathlib.Path) -> None:
    m, _ = manager(tmp_path, memsw=None)
    with pytest.raises(InvalidParameter, match="pids cgroup controller is not mounted"):
        m.set({"pids": {"limit": 5}})
