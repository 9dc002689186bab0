"""The table of refused create options: each row refuses its example and names its option."""

from __future__ import annotations

import pytest

from dockyard.daemon.containers.refused import REFUSED, check_refused, lsm_enabled, lsm_reason
from dockyard.errors import InvalidParameter


def _split(body: dict) -> tuple[dict, dict, dict]:
    config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
    return config, body.get("HostConfig") or {}, body.get("NetworkingConfig") or {}


@pytest.mark.parametrize("row", REFUSED, ids=[r.option for r in REFUSED])
def test_each_row_refuses_its_example_naming_the_option(row):
    with pytest.raises(InvalidParameter) as exc:
        check_refused(*_split(row.example))
    assert str(exc.value).startswith(f"{row.option} ({row.flag}) is not supported by dockyard yet: ")


@pytest.mark.parametrize("body", [
    {},
    {"HostConfig": {"NetworkMode": "none"}}, {"HostConfig": {"NetworkMode": "host"}},
    {"HostConfig": {"NetworkMode": "default"}}, {"HostConfig": {"NetworkMode": "container:abc"}},
    {"HostConfig": {"NetworkMode": "none"}, "NetworkingConfig": {"EndpointsConfig": {"none": {}}}},
    {"NetworkingConfig": {"EndpointsConfig": {"default": None}}},
    {"HostConfig": {"PortBindings": {}, "PublishAllPorts": False, "Dns": [], "Links": None}},
    {"HostConfig": {"RestartPolicy": {"Name": "no"}, "UsernsMode": "host", "VolumeDriver": "local"}},
    {"Healthcheck": {"Test": ["CMD", "true"]}},
    {"Volumes": {"/data": {}}, "HostConfig": {"Binds": ["/tmp:/data"]}},
    {"Volumes": {"/data/": {}}, "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/tmp", "Target": "/data"}]}},
    {"HostConfig": {"SecurityOpt": ["label=disable", "apparmor=unconfined", "no-new-privileges"]}},
    {"HostConfig": {"ExtraHosts": ["db:192.0.2.7"]}},
])
def test_what_works_is_not_refused(body):
    check_refused(*_split(body))


def test_lsm_probe_both_ways(tmp_path):
    assert not lsm_enabled("selinux", str(tmp_path))
    assert not lsm_enabled("apparmor", str(tmp_path))
    assert "this kernel has no SELinux" in lsm_reason("selinux", "SELinux", str(tmp_path))
    (tmp_path / "fs/selinux").mkdir(parents=True)
    (tmp_path / "fs/selinux/enforce").write_text("1")
    (tmp_path / "module/apparmor/parameters").mkdir(parents=True)
    (tmp_path / "module/apparmor/parameters/enabled").write_text("Y\n")
    assert lsm_enabled("selinux", str(tmp_path)) and lsm_enabled("apparmor", str(tmp_path))
    assert lsm_reason("apparmor", "AppArmor", str(tmp_path)) == \
        "dockyard does not apply AppArmor profiles or labels yet"
    (tmp_path / "module/apparmor/parameters/enabled").write_text("N\n")
    assert not lsm_enabled("apparmor", str(tmp_path))


def test_one_row_per_option():
    options = [r.option for r in REFUSED]
    assert len(options) == len(set(options))
