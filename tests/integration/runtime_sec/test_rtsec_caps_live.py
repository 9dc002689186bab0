"""Capabilities applied to real processes, read back from /proc/self/status."""

from __future__ import annotations

import errno
import os
import subprocess

import pytest
from rtsec_helpers import proc_status, run_child

from dockyard.errors import SystemError_
from dockyard.runtime.native import caps

DEFAULT = {k: caps.DEFAULT_CAPABILITIES for k in ("bounding", "effective", "permitted")}


def test_default_set_as_root(tmp_path) -> None:
    target = tmp_path / "f"
    target.write_text("")
    os.chmod(tmp_path, 0o755)

    def body() -> list:
        c = caps.parse_capabilities({**DEFAULT, "bounding": [n for n in caps.DEFAULT_CAPABILITIES
                                                             if n != "CAP_CHOWN"],
                                     "effective": [n for n in caps.DEFAULT_CAPABILITIES if n != "CAP_CHOWN"],
                                     "permitted": [n for n in caps.DEFAULT_CAPABILITIES if n != "CAP_CHOWN"]})
        caps.drop_bounding(c)
        caps.apply(c)
        st = proc_status()
        try:
            os.chown(target, 1000, 1000)
            chown = "ok"
        except OSError as exc:
            chown = exc.errno
        return [st["CapBnd"], st["CapEff"], st["CapPrm"], st["CapInh"], st["CapAmb"], chown]

    result, _ = run_child(body)
    want = caps.to_mask({caps.cap_number(n) for n in caps.DEFAULT_CAPABILITIES} - {0})
    assert result == {"ok": [f"{want:016x}", f"{want:016x}", f"{want:016x}", "0" * 16, "0" * 16, errno.EPERM]}


def test_non_root_user_with_ambient_keeps_cap_across_exec() -> None:
    busybox = "/bin/busybox"
    if not os.path.exists(busybox):
        pytest.fail("busybox-static is part of the test environment")
    r, w = os.pipe()

    def body() -> None:
        c = caps.parse_capabilities({k: ["CAP_NET_BIND_SERVICE"] for k in
                                     ("bounding", "effective", "permitted", "inheritable", "ambient")})
        caps.drop_bounding(c)
        caps.keep_caps(True)
        os.setgroups([])
        os.setgid(1000)
        os.setuid(1000)
        caps.apply(c)
        caps.keep_caps(False)
        os.dup2(w, 1)
        os.execv(busybox, [busybox, "cat", "/proc/self/status"])

    result, status = run_child(body)
    os.close(w)
    with os.fdopen(r) as f:
        text = f.read()
    assert os.waitstatus_to_exitcode(status) == 0, result
    st = {k: v.strip() for k, _, v in (line.partition(":") for line in text.splitlines())}
    bit = f"{1 << 10:016x}"  # CAP_NET_BIND_SERVICE
    assert st["Uid"].split()[0] == "1000"
    assert (st["CapEff"], st["CapPrm"], st["CapAmb"], st["CapBnd"]) == (bit, bit, bit, bit)


def test_without_keep_caps_setuid_clears_everything() -> None:
    def body() -> list:
        os.setgid(1000)
        os.setuid(1000)
        st = proc_status()
        return [st["CapEff"], st["CapPrm"]]

    result, _ = run_child(body)
    assert result == {"ok": ["0" * 16, "0" * 16]}  # why keep_caps() exists


def test_ambient_needs_inheritable() -> None:
    def body() -> None:
        c = caps.parse_capabilities({"permitted": ["CAP_KILL"], "effective": ["CAP_KILL"],
                                     "ambient": ["CAP_KILL"]})
        caps.apply(c)

    result, _ = run_child(body)
    assert result is not None and "ambient CAP_KILL" in result["error"]
    assert result["error"].startswith(SystemError_.__name__)


def test_current_reads_this_process() -> None:
    mine = caps.current()
    out = subprocess.run(["grep", "CapEff", "/proc/self/status"], capture_output=True, text=True).stdout
    assert caps.to_mask(mine.effective) == int(out.split()[1], 16)
