"""The pure parts of the Windows engine's container support, on Linux."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from dockyard import errors
from dockyard.daemon.windows import bundle, refused
from dockyard.monitor.logs import K8sLogParser
from dockyard.runtime.windows.stdlog import records


def test_log_records_are_what_the_engine_log_reader_reads() -> None:
    data = records(b"stdout", b"one\ntwo\npar", 1_700_000_000_123_456_789)
    data += records(b"stdout", b"tial\n", 1_700_000_001_000_000_000) + records(b"stderr", b"e\r\n", 1_700_000_002_000_000_000)
    entries = K8sLogParser().feed(data)
    assert [(e.stream, e.data) for e in entries] == [(1, b"one\n"), (1, b"two\n"), (1, b"partial\n"), (2, b"e\r\n")]
    assert entries[0].time_ns == 1_700_000_000_123_456_789


def container(**hc: object) -> SimpleNamespace:
    return SimpleNamespace(Path="python", Args=["-c", "print(1)"], Config={"Env": ["A=1"], "WorkingDir": ""},
                           HostConfig=dict(hc))


def test_config_json_maps_limits_and_finds_the_program_in_the_folder() -> None:
    c = container(Memory=64 << 20, NanoCpus=1_000_000_000, PidsLimit=5)
    cfg = bundle.config_json(c, "C:\\f", 4)
    assert cfg["root"] == {"path": "C:\\f"} and cfg["process"]["cwd"] == "C:\\f"
    assert cfg["process"]["env"] == ["A=1"] and "linux" not in cfg
    assert cfg["windows"]["resources"] == {"memory": {"limit": 64 << 20}, "cpu": {"maximum": 2500}}
    assert cfg["annotations"] == {"io.dockyard.windows.pids-limit": "5"}
    assert bundle.program("python", "C:\\f", lambda p: p == "C:\\f\\python.exe") == "C:\\f\\python.exe"
    assert bundle.program("cmd.exe", "C:\\f", lambda p: False) == "cmd.exe"
    assert bundle.program("C:\\x\\y.exe", "C:\\f", lambda p: True) == "C:\\x\\y.exe"
    c.Config["WorkingDir"] = "/app"
    assert bundle.config_json(c, "C:\\f", 4)["process"]["cwd"] == "C:\\f\\app"


def test_cpu_options_are_exclusive() -> None:
    assert bundle.resources({"CpuPercent": 50}, 2) == {"cpu": {"maximum": 5000}}
    assert bundle.resources({"CpuShares": 512}, 2) == {"cpu": {"shares": 512}}
    with pytest.raises(errors.InvalidParameter):
        bundle.resources({"NanoCpus": 10**9, "CpuShares": 512}, 2)


def test_refused_options_name_the_flag_and_defaults_pass() -> None:
    defaults = {"NetworkMode": "default", "IpcMode": "", "MemorySwappiness": None, "LogConfig": {"Type": "", "Config": {}},
                "Isolation": "", "CgroupnsMode": "", "MemorySwap": 0}
    refused.check({"Tty": False, "OpenStdin": False}, defaults, {})
    with pytest.raises(errors.InvalidParameter, match="--cap-add is not supported for Windows process containers"):
        refused.check({}, {**defaults, "CapAdd": ["NET_ADMIN"]}, {})
    with pytest.raises(errors.InvalidParameter, match="--network"):
        refused.check({}, defaults, {"EndpointsConfig": {"mynet": {}}})


def test_the_pids_annotation_is_the_runtimes() -> None:
    from dockyard.runtime.windows.spec import PIDS_LIMIT_ANNOTATION

    assert bundle.PIDS_LIMIT_ANNOTATION == PIDS_LIMIT_ANNOTATION
