"""The compiled-BPF cache: a second compile of the same profile skips libseccomp and still filters."""

from __future__ import annotations

import errno
import os

from dockyard.runtime.native import seccomp, seccomp_cache
from tests.support import probes

PROFILE = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": [probes.seccomp_arch()],
           "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}


def _run_filtered(program, tmp_path) -> tuple[int, str]:
    """Fork, load ``program`` with no_new_privs, try mkdir; returns (errno, Seccomp line)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            import ctypes

            ctypes.CDLL(None).prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS
            program.load()
            try:
                os.mkdir(str(tmp_path / "denied"))
                code = 0
            except OSError as exc:
                code = exc.errno
            with open("/proc/self/status") as f:
                line = next(ln for ln in f if ln.startswith("Seccomp:"))
            os.write(w, f"{code} {line.split()[1]}".encode())
        finally:
            os._exit(0)
    os.close(w)
    out = os.read(r, 100).decode()
    os.close(r)
    os.waitpid(pid, 0)
    code, mode = out.split()
    return int(code), mode


def test_second_compile_comes_from_the_cache_and_filters(tmp_path):
    cache = str(tmp_path / "cache")
    first = seccomp.compile_filter(PROFILE, cache_dir=cache)
    assert isinstance(first, seccomp.SeccompProgram)
    entries = os.listdir(cache)
    assert entries == [seccomp_cache.key_of(PROFILE) + ".bpf"]
    second = seccomp.compile_filter(PROFILE, cache_dir=cache)
    assert isinstance(second, seccomp_cache.CachedProgram)
    with open(os.path.join(cache, entries[0]), "rb") as f:
        assert f.read() == second.bpf
    assert _run_filtered(second, tmp_path) == (errno.EPERM, "2")
    assert not (tmp_path / "denied").exists()


def test_a_different_profile_is_a_miss(tmp_path):
    cache = str(tmp_path / "cache")
    seccomp.compile_filter(PROFILE, cache_dir=cache)
    other = dict(PROFILE, syscalls=[{"names": ["rmdir"], "action": "SCMP_ACT_ERRNO"}])
    assert isinstance(seccomp.compile_filter(other, cache_dir=cache), seccomp.SeccompProgram)
    assert len(os.listdir(cache)) == 2


def test_invalid_profile_is_refused_and_not_cached(tmp_path):
    import pytest

    from dockyard.errors import InvalidParameter

    cache = str(tmp_path / "cache")
    with pytest.raises(InvalidParameter):
        seccomp.compile_filter({"defaultAction": "SCMP_ACT_EXPLODE"}, cache_dir=cache)
    assert not os.path.exists(cache) or os.listdir(cache) == []


def test_a_corrupt_entry_is_recompiled_and_replaced(tmp_path):
    cache = str(tmp_path / "cache")
    os.makedirs(cache)
    path = seccomp_cache.path_of(cache, PROFILE)
    with open(path, "wb") as f:
        f.write(b"12345")
    program = seccomp.compile_filter(PROFILE, cache_dir=cache)
    assert isinstance(program, seccomp.SeccompProgram)
    with open(path, "rb") as f:
        assert len(f.read()) % seccomp_cache.SOCK_FILTER_SIZE == 0
    assert _run_filtered(program, tmp_path) == (errno.EPERM, "2")
