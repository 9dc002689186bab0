"""Seccomp profile validation and Docker's default profile (no filter is loaded here)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.native import seccomp
from dockyard.spec.default_seccomp import default_profile

ALLOW_MKDIR_DENIED = {"defaultAction": "SCMP_ACT_ALLOW",
                      "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}


def bad(profile: dict, pattern: str) -> None:
    with pytest.raises(InvalidParameter, match=pattern):
        seccomp.compile_filter(profile)


def test_none_means_no_filter() -> None:
    assert seccomp.compile_filter(None) is None


def test_compiles_a_small_profile() -> None:
    prog = seccomp.compile_filter(ALLOW_MKDIR_DENIED)
    assert prog is not None and prog.rules == 1 and prog.skipped == []


def test_unknown_action() -> None:
    bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_DENY"}]},
        r'unknown seccomp action "SCMP_ACT_DENY" in linux.seccomp.syscalls\[0\]')
    bad({"defaultAction": "ALLOW"}, 'unknown seccomp action "ALLOW" in linux.seccomp.defaultAction')
    bad({}, "defaultAction is required")


def test_notify_is_refused_clearly() -> None:
    bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}]},
        "SCMP_ACT_NOTIFY .* not support")
    bad({"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/agent.sock"}, "not supported")


def test_bad_arch_operator_flag_index() -> None:
    bad({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
        'unknown seccomp architecture "SCMP_ARCH_Z80"')
    bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1, "value": 0, "op": "SCMP_CMP_ABOUT"}]}]},
        'unknown seccomp operator "SCMP_CMP_ABOUT"')
    bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 6, "value": 0, "op": "SCMP_CMP_EQ"}]}]},
        "index must be between 0 and 5")
    bad({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_BOGUS"]}, "unsupported seccomp flag")
    bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]},
        "non-empty list")
    bad({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ALLOW", "errnoRet": 5}]}, "errnoRet is only valid")


def test_unknown_syscall_names_are_skipped_like_runc() -> None:
    prog = seccomp.compile_filter({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["mkdir", "no_such_syscall_xyz"], "action": "SCMP_ACT_ERRNO"}]})
    assert prog is not None and prog.skipped == ["no_such_syscall_xyz"] and prog.rules == 1


def test_rule_equal_to_default_is_skipped_and_repeated_index_split() -> None:
    prog = seccomp.compile_filter({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
        {"names": ["personality"], "action": "SCMP_ACT_ALLOW", "args": [
            {"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]}]})
    assert prog is not None and prog.rules == 2  # the mkdir rule dropped; personality as two rules


def names_of(profile: dict) -> set[str]:
    return {n for rule in profile["syscalls"] for n in rule["names"]}


def test_default_profile_shape() -> None:
    p = default_profile(machine="x86_64", kernel="6.1.0-13-amd64")
    assert p["defaultAction"] == "SCMP_ACT_ERRNO" and p["defaultErrnoRet"] == 1
    assert p["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    allowed = names_of(p)
    assert {"read", "write", "execve", "mkdir", "arch_prctl", "chroot", "ptrace"} <= allowed
    assert not {"mount", "unshare", "setns", "reboot", "kexec_load", "bpf"} & allowed
    clone3 = [r for r in p["syscalls"] if r["names"] == ["clone3"]]
    assert clone3 == [{"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
    clone = [r for r in p["syscalls"] if r["names"] == ["clone"]]
    assert clone[0]["args"] == [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]


def test_default_profile_follows_capabilities() -> None:
    admin = default_profile(["CAP_SYS_ADMIN", "CAP_SYS_CHROOT"], machine="x86_64", kernel="6.1")
    assert {"mount", "unshare", "setns", "clone3"} <= names_of(admin)
    assert not [r for r in admin["syscalls"] if r.get("args") and r["names"] == ["clone"]]
    none = default_profile([], machine="x86_64", kernel="6.1")
    assert "chroot" not in names_of(none)


def test_default_profile_follows_arch_and_kernel() -> None:
    s390 = default_profile(machine="s390x", kernel="6.1")
    assert s390["architectures"] == ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]
    clone = [r for r in s390["syscalls"] if r["names"] == ["clone"]]
    assert [c["args"][0]["index"] for c in clone] == [1]
    assert "arch_prctl" not in names_of(s390)
    old = default_profile(machine="x86_64", kernel="4.4.0")
    assert "ptrace" not in names_of(old)
    arm = default_profile(machine="aarch64", kernel="6.1")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "set_tls" in names_of(arm)


def test_default_profile_compiles() -> None:
    prog = seccomp.compile_filter(default_profile())
    assert prog is not None and prog.rules > 300
