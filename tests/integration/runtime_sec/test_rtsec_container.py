"""Cgroups, capabilities and seccomp as a container sees them, through dockyard-runtime.

The library tests next to this file drive the modules directly; these run a
busybox container with the real runtime program and look from inside.  Bad
input must give one clear error line, a non-zero exit and no cgroup left.
"""

from __future__ import annotations

import json
import pathlib
import secrets
import subprocess
from collections.abc import Callable, Iterator

import pytest

from dockyard.runtime.native import caps, cgroups, locate
from dockyard.spec.default_seccomp import default_profile
from tests.support import probes

# Nothing here is v1-only: the runtime picks the v1 or v2 manager by detection, and so does
# ``Bundle.cgroup``. A test that needs a v1-only file probes for it.


class Bundle:
    def __init__(self, root: pathlib.Path) -> None:
        self.dir = root
        self.state = root / "state"
        self.id = f"dytest-{secrets.token_hex(4)}"
        self.runtime = locate()
        subprocess.run([self.runtime, "spec"], cwd=root, check=True, timeout=60)
        self.config = json.loads((root / "config.json").read_text())
        self.config["process"]["terminal"] = False
        self.config["linux"]["cgroupsPath"] = f"/dockyard/{self.id}"
        self.cgroup = cgroups.new_manager(self.config["linux"]["cgroupsPath"], self.id)

    def run(self, script: str, change: Callable[[dict], None] | None = None) -> subprocess.CompletedProcess:
        self.config["process"]["args"] = ["sh", "-c", script]
        if change:
            change(self.config)
        (self.dir / "config.json").write_text(json.dumps(self.config))
        return subprocess.run([self.runtime, "--root", str(self.state), "run", "--bundle", str(self.dir), self.id],
                              capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)

    def cleanup(self) -> None:
        subprocess.run([self.runtime, "--root", str(self.state), "delete", "--force", self.id],
                       capture_output=True, timeout=60)
        if self.cgroup.exists():
            self.cgroup.kill_all(9)
            self.cgroup.destroy()


@pytest.fixture
def bundle(busybox_rootfs: pathlib.Path) -> Iterator[Bundle]:
    b = Bundle(busybox_rootfs.parent)
    try:
        yield b
    finally:
        left = b.cgroup.exists()
        b.cleanup()
        assert not left, "the runtime left the container's cgroup behind"


def status_fields(text: str) -> dict[str, str]:
    return {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines()) if v}


def docker_defaults(config: dict) -> None:
    config["process"]["capabilities"] = {k: list(caps.DEFAULT_CAPABILITIES)
                                         for k in ("bounding", "effective", "permitted")}
    config["linux"]["seccomp"] = default_profile(caps.DEFAULT_CAPABILITIES)


def test_caps_and_seccomp_seen_from_inside(bundle: Bundle) -> None:
    r = bundle.run("grep -E '^(Cap|Seccomp)' /proc/self/status; unshare -u true || echo UNSHARE-DENIED",
                   docker_defaults)
    assert r.returncode == 0, r.stderr
    st = status_fields(r.stdout)
    want = f"{caps.to_mask({caps.cap_number(n) for n in caps.DEFAULT_CAPABILITIES}):016x}"
    assert (st["CapBnd"], st["CapEff"], st["CapPrm"]) == (want, want, want)
    assert st["CapAmb"] == st["CapInh"] == "0" * 16
    assert st["Seccomp"] == "2"
    assert "UNSHARE-DENIED" in r.stdout and "Operation not permitted" in r.stderr


def test_memory_limit_oom_kills_with_137(bundle: Bundle) -> None:
    if cgroups.detect() == 1 and not probes.swap_accounting():
        pytest.skip("the swap limit needs swap accounting (memory.memsw.*), which this kernel has off")
    def limit(config: dict) -> None:
        config["linux"]["resources"] = {"memory": {"limit": 32 << 20, "swap": 32 << 20}}

    r = bundle.run("head -c 300000000 /dev/zero | tail", limit)
    assert r.returncode == 137, (r.stdout, r.stderr)


def test_pids_limit_stops_a_fork_loop(bundle: Bundle) -> None:
    def limit(config: dict) -> None:
        config["linux"]["resources"] = {"pids": {"limit": 8}}

    r = bundle.run("i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; echo STARTED-ALL", limit)
    assert "can't fork" in r.stderr
    assert "STARTED-ALL" not in r.stdout


@pytest.mark.parametrize("change,message", [
    (lambda c: c["process"]["capabilities"]["bounding"].append("CAP_FOO"), 'unknown capability "CAP_FOO"'),
    (lambda c: c["linux"].update(seccomp={"defaultAction": "SCMP_ACT_NOPE"}),
     'unknown seccomp action "SCMP_ACT_NOPE"'),
    (lambda c: c["linux"].update(resources={"cpu": {"cpus": str(probes.absent_cpu())}}), "linux.resources.cpu.cpus"),
    (lambda c: c["linux"].update(resources={"memory": {"limit": 64 << 20, "swap": 32 << 20}}),
     "must not be smaller than the memory limit"),
], ids=["capability", "seccomp-action", "cpuset", "swap-below-memory"])
def test_bad_input_one_line_nothing_left(bundle: Bundle, change: Callable[[dict], None], message: str) -> None:
    r = bundle.run("true", change)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not bundle.cgroup.exists()
    assert not (bundle.state / bundle.id).exists()
