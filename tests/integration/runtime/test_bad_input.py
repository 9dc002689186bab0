"""Bad input: one clear error line (also in --log JSON), non-zero exit, nothing left behind."""

from __future__ import annotations

import json

import pytest

from .conftest import cgroup_exists
from tests.support import probes

pytestmark = pytest.mark.timeout(120)


def _spec(bundle):
    return json.loads((bundle / "config.json").read_text())


def _write(bundle, spec):
    (bundle / "config.json").write_text(json.dumps(spec))


def _bad(name, bundle):
    if name == "malformed":
        (bundle / "config.json").write_text('{"ociVersion": "1.0.2", "process": {')
        return "malformed config.json"
    spec = _spec(bundle)
    if name == "missing_rootfs":
        spec["root"]["path"] = str(bundle / "no-such-rootfs")
        expect = "rootfs"
    elif name == "unknown_namespace":
        spec["linux"]["namespaces"].append({"type": "galaxy"})
        expect = "unknown namespace type 'galaxy'"
    elif name == "unknown_capability":
        spec["process"]["capabilities"]["bounding"].append("CAP_FLY")
        expect = "CAP_FLY"
    elif name == "bad_seccomp_action":
        spec["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_EXPLODE", "syscalls": []}
        expect = "SCMP_ACT_EXPLODE"
    elif name == "refused_cgroup_limit":
        cpu = probes.absent_cpu()
        spec["linux"]["resources"] = {"cpu": {"cpus": f"{cpu}-{cpu + 1}"}}
        expect = "cpu"
    elif name == "missing_executable":
        spec["process"]["args"] = ["/no/such/program"]
        expect = "/no/such/program"
    elif name == "bad_mount_source":
        spec["mounts"].append({"destination": "/data", "type": "bind", "source": "/no/such/dir",
                               "options": ["rbind"]})
        expect = "/no/such/dir"
    elif name == "windows_section":
        spec["windows"] = {"resources": {"memory": {"limit": 1 << 26}}}
        expect = 'section "windows" is for Windows containers only'
    else:
        raise AssertionError(name)
    _write(bundle, spec)
    return expect


@pytest.mark.parametrize("case", ["malformed", "missing_rootfs", "unknown_namespace", "unknown_capability",
                                  "bad_seccomp_action", "refused_cgroup_limit", "missing_executable",
                                  "bad_mount_source", "windows_section"])
def test_bad_input_fails_cleanly(rt, make_bundle, tmp_path, case):
    bundle = make_bundle(["true"])
    expect = _bad(case, bundle)
    cid = rt.new_id()
    log = tmp_path / "log.json"
    p = rt.cmd("--log", str(log), "--log-format", "json", "create", "--bundle", str(bundle), cid, check=False)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert expect in lines[0], lines[0]
    entry = json.loads(log.read_text().splitlines()[-1])
    assert entry["level"] == "error" and expect in entry["msg"]
    assert not (rt.root / cid).exists()
    assert not cgroup_exists(cid)


def test_unknown_command_and_flag(rt):
    p = rt.cmd("explode", check=False)
    assert p.returncode != 0 and "unknown command" in p.stderr
    p = rt.cmd("create", "--bogus", "x", check=False)
    assert p.returncode != 0 and "bogus" in p.stderr


def test_duplicate_id_is_refused(rt, make_bundle):
    cid = rt.new_id()
    b = make_bundle(["sleep", "10"])
    rt.cmd("create", "--bundle", str(b), cid)
    p = rt.cmd("create", "--bundle", str(b), cid, check=False)
    assert p.returncode != 0 and "already exists" in p.stderr
    assert rt.state(cid)["status"] == "created"
    rt.cmd("delete", cid)
