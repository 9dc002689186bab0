"""daemon.json and flags as data (dockyard.daemon.config)."""

from __future__ import annotations

import json

import pytest

from dockyard.daemon import config
from dockyard.errors import InvalidParameter


def test_name_prefix_sets_the_default_cgroup_parent(tmp_path):
    cfg = config.load(str(_write(tmp_path, {})), {"name-prefix": "dyother"})
    assert cfg.cgroup_parent == "/dyother"
    cfg = config.load(str(_write(tmp_path, {})), {"name-prefix": "dyother", "cgroup-parent": "custom/x"})
    assert cfg.cgroup_parent == "/custom/x"


def test_daemon_json_keys_and_flag_precedence(tmp_path):
    path = _write(tmp_path, {"data-root": "/d", "log-level": "warn", "default-ulimits":
                             {"nofile": {"Name": "nofile", "Soft": 10, "Hard": 20}},
                             "runtimes": {"mine": {"path": "/bin/true", "runtimeArgs": ["--x"]}}})
    cfg = config.load(str(path), {"log-level": "debug", "default-runtime": "mine"})
    assert cfg.data_root == "/d" and cfg.log_level == "debug"
    assert cfg.runtime(None).path == "/bin/true" and cfg.runtime("mine").args == ["--x"]
    assert cfg.default_ulimits["nofile"]["Hard"] == 20


def test_bad_daemon_json(tmp_path):
    with pytest.raises(InvalidParameter, match="don't match any configuration option: nope"):
        config.load(str(_write(tmp_path, {"nope": 1})), {})
    with pytest.raises(InvalidParameter, match="default runtime missing is not a known runtime"):
        config.load(str(_write(tmp_path, {})), {"default-runtime": "missing"})
    with pytest.raises(InvalidParameter, match="invalid size"):
        config.parse_size("12x")


def test_cpu_rt_budget_keys(tmp_path):
    """dockerd's daemon-scoped real-time budget: daemon.json keys and flags of the same names, 0 by default."""
    assert (config.load(str(_write(tmp_path, {})), {}).cpu_rt_runtime, config.DaemonConfig().cpu_rt_period) == (0, 0)
    cfg = config.load(str(_write(tmp_path, {"cpu-rt-period": 1000000, "cpu-rt-runtime": 950000})),
                      {"cpu-rt-runtime": 20000})
    assert (cfg.cpu_rt_period, cfg.cpu_rt_runtime) == (1000000, 20000)
    with pytest.raises(InvalidParameter, match="cpu-rt-runtime: an integer"):
        config.load(str(_write(tmp_path, {"cpu-rt-runtime": "95%"})), {})


def _write(tmp_path, data):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps(data))
    return path
