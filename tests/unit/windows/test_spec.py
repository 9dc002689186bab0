"""config.json validation for Windows containers, and the shared platform check."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from dockyard.errors import InvalidParameter
from dockyard.platforms import check_platform_sections
from dockyard.runtime.windows import spec as wspec

BUNDLE = "C:\\bundles\\c1"
HOST_ENV = {"SYSTEMROOT": "C:\\windows", "windir": "C:\\windows", "PATH": "C:\\host", "ComSpec": "C:\\windows\\system32\\cmd.exe"}


def config(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "process": {"args": ["cmd.exe", "/c", "echo hi there"], "cwd": "C:\\", "env": ["FOO=bar"]},
        "windows": {},
    }
    base.update(over)
    return base


def parse(cfg: dict[str, Any], cpus: int = 4, user: str = "root") -> wspec.WindowsSpec:
    return wspec.parse_config(cfg, BUNDLE, HOST_ENV, cpus, user)


# --- the shared platform check ---------------------------------------------------
@pytest.mark.parametrize("section,value", [
    ("linux", {"namespaces": [{"type": "pid"}]}),
    ("solaris", {"milestone": "x"}),
])
def test_windows_refuses_linux_and_other_sections(section: str, value: Any) -> None:
    with pytest.raises(InvalidParameter, match=f'section "{section}"'):
        check_platform_sections({section: value}, "windows")


@pytest.mark.parametrize("field,value", [
    ("capabilities", {"bounding": ["CAP_KILL"]}),
    ("rlimits", [{"type": "RLIMIT_NOFILE", "hard": 1, "soft": 1}]),
    ("noNewPrivileges", True),
    ("apparmorProfile", "x"),
    ("oomScoreAdj", 100),
])
def test_windows_refuses_posix_process_fields(field: str, value: Any) -> None:
    with pytest.raises(InvalidParameter, match=f'"process.{field}" is for Linux containers only'):
        check_platform_sections({"process": {field: value}}, "windows")


def test_linux_refuses_windows_sections() -> None:
    with pytest.raises(InvalidParameter, match='"windows" is for Windows containers only.*Linux runtime'):
        check_platform_sections({"windows": {"resources": {}}}, "linux")
    with pytest.raises(InvalidParameter, match='"process.user.username"'):
        check_platform_sections({"process": {"user": {"uid": 0, "username": "ContainerUser"}}}, "linux")


def test_unset_values_written_by_go_engines_declare_nothing() -> None:
    cfg = {"process": {"user": {"uid": 0, "gid": 0, "additionalGids": []}, "noNewPrivileges": False},
           "linux": None, "windows": {"resources": {}}}
    check_platform_sections(cfg, "windows")
    check_platform_sections({"process": {"user": {"uid": 1000}}, "linux": {}}, "linux")
    with pytest.raises(InvalidParameter, match='"process.user.uid"'):
        check_platform_sections({"process": {"user": {"uid": 1000}}}, "windows")


def test_unknown_platform() -> None:
    with pytest.raises(InvalidParameter, match="unknown runtime platform"):
        check_platform_sections({}, "darwin")


# --- the Windows config --------------------------------------------------------------
def test_a_plain_config_resolves_command_env_and_cwd() -> None:
    s = parse(config())
    assert s.command_line == 'cmd.exe /c "echo hi there"'
    assert s.cwd == "C:\\"
    assert s.env["FOO"] == "bar"
    assert s.env["SystemRoot"] == "C:\\windows"  # case-insensitive lookup of the host's SYSTEMROOT
    assert "PATH" not in s.env  # only the system variables come from the host
    assert s.limits == wspec.JobLimits()


def test_command_line_wins_over_args() -> None:
    cfg = config()
    cfg["process"]["commandLine"] = 'python.exe -c "print(1)"'
    assert parse(cfg).command_line == 'python.exe -c "print(1)"'


def test_env_block_is_sorted_case_insensitively_and_double_terminated() -> None:
    cfg = config()
    cfg["process"]["env"] = ["b=2", "A=1", "a=3", "SystemRoot=D:\\win"]
    s = parse(cfg)
    assert s.env_block() == "a=3\0b=2\0ComSpec=C:\\windows\\system32\\cmd.exe\0SystemRoot=D:\\win\0windir=C:\\windows\0\0"


def test_root_path_sets_sandbox_mount_point_and_default_cwd() -> None:
    cfg = config(root={"path": "rootfs"})
    del cfg["process"]["cwd"]
    s = parse(cfg)
    assert s.root_path == "C:\\bundles\\c1\\rootfs"
    assert s.cwd == s.root_path
    assert s.env["CONTAINER_SANDBOX_MOUNT_POINT"] == s.root_path


def test_memory_and_cpu_limits_map_to_the_job() -> None:
    s = parse(config(windows={"resources": {"memory": {"limit": 256 << 20}, "cpu": {"maximum": 2500}}}))
    assert (s.limits.memory_limit, s.limits.cpu_rate, s.limits.cpu_weight) == (256 << 20, 2500, None)
    assert s.limits.source["cpu_rate"] == "windows.resources.cpu.maximum"


@pytest.mark.parametrize("count,cpus,rate", [(1, 4, 2500), (3, 4, 7500), (4, 4, None), (8, 4, None), (1, 3, 3333)])
def test_cpu_count_becomes_a_rate_of_the_host(count: int, cpus: int, rate: int | None) -> None:
    s = parse(config(windows={"resources": {"cpu": {"count": count}}}), cpus=cpus)
    assert s.limits.cpu_rate == rate


@pytest.mark.parametrize("shares,weight", [(0, 1), (1250, 2), (5000, 5), (10000, 9)])
def test_cpu_shares_become_a_weight(shares: int, weight: int) -> None:
    assert parse(config(windows={"resources": {"cpu": {"shares": shares}}})).limits.cpu_weight == weight


def test_pids_limit_annotation() -> None:
    s = parse(config(annotations={wspec.PIDS_LIMIT_ANNOTATION: "2"}))
    assert s.limits.process_limit == 2
    with pytest.raises(InvalidParameter, match="pids-limit must be a positive integer"):
        parse(config(annotations={wspec.PIDS_LIMIT_ANNOTATION: "many"}))
    with pytest.raises(InvalidParameter, match="between 1 and"):
        parse(config(annotations={wspec.PIDS_LIMIT_ANNOTATION: "0"}))


@pytest.mark.parametrize("windows,message", [
    ({"resources": {"cpu": {"count": 1, "maximum": 100}}}, "cpu.count and windows.resources.cpu.maximum are mutually exclusive"),
    ({"resources": {"cpu": {"maximum": 10001}}}, "cpu.maximum must be between 1 and 10000"),
    ({"resources": {"memory": {"limit": "1g"}}}, "memory.limit must be an integer"),
    ({"resources": {"storage": {"iops": 10}}}, '"windows.resources.storage" is not supported'),
    ({"hyperv": {}}, r'"windows.hyperv" is not supported.*computecore.dll'),
    ({"network": {"endpointList": ["x"]}}, '"windows.network" is not supported'),
    ({"devices": [{"id": "x", "idType": "class"}]}, '"windows.devices"'),
])
def test_bad_windows_sections_name_the_field(windows: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse(config(windows=windows))


@pytest.mark.parametrize("over,message", [
    ({"linux": {"namespaces": []}}, '"linux" is for Linux containers only'),
    ({"hooks": {"prestart": [{"path": "x"}]}}, '"hooks" is not supported'),
    ({"mounts": [{"destination": "C:\\data", "source": "D:\\data"}]}, '"mounts" is not supported'),
    ({"process": {"args": [], "cwd": "C:\\"}}, "process.args must be a non-empty list"),
    ({"process": {"args": ["x"], "cwd": "relative"}}, "process.cwd must be an absolute Windows path"),
    ({"process": {"args": ["x"], "cwd": "C:\\", "terminal": True}}, '"process.terminal"'),
    ({"process": {"args": ["x"], "cwd": "C:\\", "env": ["NOEQUALS"]}}, "not NAME=value"),
    ({"process": {"args": ["x"], "cwd": "C:\\", "user": {"username": "ContainerAdministrator"}}}, "logon token"),
    ({"process": {"args": ["x"], "capabilities": {}, "rlimits": [{"type": "RLIMIT_CPU"}]}}, '"process.rlimits"'),
])
def test_bad_configs_name_the_section(over: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        parse(config(**over))


def test_username_of_the_runtime_itself_is_fine() -> None:
    cfg = config()
    cfg["process"]["user"] = {"username": "ROOT"}
    assert parse(cfg, user="root").username == "ROOT"


def test_missing_process_and_version() -> None:
    with pytest.raises(InvalidParameter, match="no ociVersion"):
        parse({"process": {"args": ["x"]}})
    with pytest.raises(InvalidParameter, match="no process section"):
        parse({"ociVersion": "1.2.0"})


def test_load_config_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidParameter, match="no config.json in bundle"):
        wspec.load_config(str(tmp_path))
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InvalidParameter, match="malformed"):
        wspec.load_config(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps(config()))
    assert wspec.load_config(str(tmp_path))["ociVersion"] == "1.2.0"
