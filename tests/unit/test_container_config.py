"""Create-time validation and defaults (daemon/container_config.py) and the inspect time format."""

from __future__ import annotations

import pytest

from dockyard.daemon.config import DaemonConfig
from dockyard.daemon.containers.config import normalize, validate_request, validate_restart_policy, with_defaults
from dockyard.daemon.containers.view import go_time
from dockyard.errors import InvalidParameter
from tests.support.reference import normalize as norm_text
from tests.support.reference import shape_diff


def _create(config=None, host_config=None, image=None):
    cfg = DaemonConfig()
    cfg.log_opts = {"max-size": "10m"}
    config = {"Image": "busybox", "Cmd": ["true"], **(config or {})}
    return normalize(config, validate_request(config, host_config or {}), image or {}, cfg)


@pytest.mark.parametrize("policy,message", [
    ({"Name": "bogus"}, "invalid restart policy: unknown policy 'bogus'; use one of 'no', 'always', 'on-failure', "
                        "or 'unless-stopped'"),
    ({"Name": "always", "MaximumRetryCount": 3},
     "invalid restart policy: maximum retry count can only be used with 'on-failure'"),
    ({"Name": "no", "MaximumRetryCount": -1},
     "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"),
    ({"Name": "on-failure", "MaximumRetryCount": -2}, "invalid restart policy: maximum retry count cannot be negative"),
])
def test_restart_policy_messages(policy, message):
    with pytest.raises(InvalidParameter) as exc:
        validate_restart_policy(policy)
    assert exc.value.message == message


def test_valid_restart_policies():
    for policy in ({"Name": "on-failure", "MaximumRetryCount": 5}, {"Name": "always"}, {"Name": ""}, {}):
        validate_restart_policy(policy)


def test_autoremove_with_restart_policy_comes_first():
    with pytest.raises(InvalidParameter, match="can't create 'AutoRemove' container with restart policy"):
        _create(host_config={"AutoRemove": True, "RestartPolicy": {"Name": "always"}, "Memory": 1})


@pytest.mark.parametrize("config,message", [
    ({"Cmd": None}, "No command specified"),
    ({"WorkingDir": "rel"}, "the working directory 'rel' is invalid, it needs to be an absolute path"),
    ({"StopSignal": "FOO"}, "Invalid signal: FOO"),
    ({"Env": ["=x"]}, "invalid environment variable: =x"),
])
def test_config_errors(config, message):
    with pytest.raises(InvalidParameter) as exc:
        _create(config)
    assert exc.value.message == message


@pytest.mark.parametrize("log_config,message", [
    ({"Type": "foo"}, 'error looking up logging plugin foo: plugin "foo" not found'),
    ({"Type": "json-file", "Config": {"bogus": "1"}}, "unknown log opt 'bogus' for json-file log driver"),
    ({"Type": "local", "Config": {"tag": "x"}}, "unknown log opt 'tag' for log driver local"),
])
def test_log_config_errors(log_config, message):
    with pytest.raises(InvalidParameter) as exc:
        _create(host_config={"LogConfig": log_config})
    assert exc.value.message == message


def test_log_config_accepted():
    _, hc = _create(host_config={"LogConfig": {"Type": "", "Config": {"max-size": "1m", "mode": "non-blocking"}}})
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "mode": "non-blocking"}}


def test_image_entrypoint_is_a_command():
    config, _ = _create({"Cmd": None}, image={"Entrypoint": ["/bin/sh"]})
    assert config["Entrypoint"] == ["/bin/sh"] and config["Cmd"] is None


def test_defaults_dockerd_fills():
    config, hc = _create(host_config={"Memory": 64 << 20, "PidsLimit": 0, "MemorySwappiness": -1,
                                      "LogConfig": {"Type": "", "Config": {}}})
    assert hc["MemorySwap"] == 128 << 20
    assert hc["PidsLimit"] is None and hc["MemorySwappiness"] is None
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "10m"}}
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["IpcMode"] == "private" and hc["CgroupnsMode"] in ("host", "private")
    assert hc["OomKillDisable"] is False and hc["ConsoleSize"] == [0, 0]
    assert "/proc/kcore" in hc["MaskedPaths"] and hc["ReadonlyPaths"][0] == "/proc/bus"
    assert "Tmpfs" not in hc and "KernelMemory" not in hc
    assert config["Env"] is None and config["Volumes"] is None and config["Labels"] == {}
    assert "StopSignal" not in config and "ExposedPorts" not in config
    _, privileged = _create(host_config={"Privileged": True})
    assert privileged["MaskedPaths"] is None and privileged["ReadonlyPaths"] is None


def test_with_defaults_drops_empty_omitempty_fields():
    out = with_defaults({"Tmpfs": {}, "Sysctls": {"a": "b"}, "Init": False, "StopTimeout": 0, "StopSignal": ""},
                        {"X": None}, ("Tmpfs", "Sysctls", "Init", "StopTimeout", "StopSignal", "Mounts"))
    assert out == {"X": None, "Sysctls": {"a": "b"}, "Init": False, "StopTimeout": 0}


def test_go_time_trims_the_fraction_like_rfc3339nano():
    assert go_time("2026-11-29T01:03:09.123450000Z") == "2026-11-29T01:03:09.12345Z"
    assert go_time("2026-11-29T01:03:09.000000000Z") == "2026-11-29T01:03:09Z"
    assert go_time("0001-01-01T00:00:00Z") == "0001-01-01T00:00:00Z"


def test_shape_diff_reports_keys_types_values():
    ref = {"A": 1, "B": {"C": None, "D": "x"}, "E": [1, 2]}
    ours = {"A": "1", "B": {"D": "y", "F": 0}, "E": [1]}
    lines = shape_diff(ref, ours)
    assert any(line.startswith("type     A") for line in lines)
    assert any(line.startswith("missing  B.C") for line in lines)
    assert any(line.startswith("extra    B.F") for line in lines)
    assert any(line.startswith("value    B.D") for line in lines)
    assert any(line.startswith("length   E") for line in lines)
    assert shape_diff(ref, ref) == []
    assert norm_text("x " + "a" * 64 + " 2026-11-29T01:03:09.5Z") == "x <id> <time.fracZ>"
