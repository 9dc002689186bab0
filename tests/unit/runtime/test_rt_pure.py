"""Pure pieces of the runtime: securejoin, mount options, JSON, flags, signals, spec validation."""

from __future__ import annotations

import json
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "src"))

from dockyard.errors import InvalidParameter  # noqa: E402
from dockyard.runtime.native import cli, fastjson, mounts, ops, spec_defaults  # noqa: E402
from dockyard.runtime.native import syscalls as sc  # noqa: E402


def test_secure_join_resolves_symlinks_inside_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc", root / "abs")
    os.symlink("../../../../../tmp", root / "etc" / "up")
    os.symlink("loop2", root / "loop1")
    os.symlink("loop1", root / "loop2")
    r = str(root)
    assert mounts.secure_join(r, "/abs/passwd") == f"{r}/etc/passwd"
    assert mounts.secure_join(r, "/etc/up/x") == f"{r}/tmp/x"
    assert mounts.secure_join(r, "/../../..") == r
    assert mounts.secure_join(r, "a/./b/../c") == f"{r}/a/c"
    with pytest.raises(InvalidParameter):
        mounts.secure_join(r, "/loop1/x")


def test_parse_mount_options():
    flags, prop, data = mounts.parse_options(["nosuid", "ro", "rbind", "rprivate", "mode=755", "size=1m"])
    assert flags == sc.MS_NOSUID | sc.MS_RDONLY | sc.MS_BIND | sc.MS_REC
    assert prop == sc.MS_PRIVATE | sc.MS_REC
    assert data == "mode=755,size=1m"
    flags, _, _ = mounts.parse_options(["ro", "rw", "noexec", "exec"])
    assert flags == 0


def test_fastjson_matches_stdlib():
    doc = {"a": [1, 2.5, None, True, False, "é\n\"x\""], "b": {"c": {}}, "d": []}
    assert fastjson.loads(json.dumps(doc)) == doc
    assert json.loads(fastjson.dumps(doc)) == doc
    assert json.loads(fastjson.dumps(doc, indent=2)) == doc
    for bad in ["{", '{"a": 1,}', "[1] x", "", '{"a": {']:
        with pytest.raises(ValueError):
            fastjson.loads(bad)


def test_go_style_flags():
    opts, pos = cli.parse_flags(["--bundle=/b", "-pid-file", "/p", "--no-pivot", "id"], cli._COMMANDS["create"], -1)
    assert opts == {"bundle": "/b", "pid_file": "/p", "no_pivot": True} and pos == ["id"]
    opts, pos = cli.parse_flags(["-e", "A=1", "--env", "B=2", "-t", "id", "sh", "-c", "x"],
                                cli._COMMANDS["exec"], 1)
    assert opts == {"env": ["A=1", "B=2"], "tty": True} and pos == ["id", "sh", "-c", "x"]
    with pytest.raises(InvalidParameter):
        cli.parse_flags(["--nope"], cli._COMMANDS["create"], -1)


def test_parse_signal():
    assert ops.parse_signal("9") == 9
    assert ops.parse_signal("SIGKILL") == 9
    assert ops.parse_signal("term") == 15
    assert ops.parse_signal("RTMIN+2") == 36
    with pytest.raises(InvalidParameter):
        ops.parse_signal("SIGNOPE")


def test_validate_reports_user_words(tmp_path):
    (tmp_path / "rootfs").mkdir()
    spec = spec_defaults.default_spec()
    spec_defaults.validate(spec, str(tmp_path))
    spec["linux"]["namespaces"].append({"type": "galaxy"})
    with pytest.raises(InvalidParameter, match="unknown namespace type 'galaxy'"):
        spec_defaults.validate(spec, str(tmp_path))
    spec = spec_defaults.default_spec()
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]
    with pytest.raises(InvalidParameter, match="RLIMIT_NOPE"):
        spec_defaults.validate(spec, str(tmp_path))


def test_runtime_start_path_imports_stay_small():
    """`start`/`state`/`delete` pay every import three times per container: no re, enum, json, typing."""
    import subprocess

    src = str(pathlib.Path(__file__).resolve().parents[3] / "src")
    code = ("import sys; sys.path.insert(0, %r); from dockyard.runtime.native import cli, ops, state, create; "
            "print(' '.join(m for m in ('re', 'enum', 'json', 'typing', 'argparse', 'socket', 'subprocess') "
            "if m in sys.modules))" % src)
    out = subprocess.run([sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_systemd_cgroups_path_maps_to_systemd_layout():
    from dockyard.runtime.native.create import systemd_to_cgroupfs

    assert systemd_to_cgroupfs("machine.slice:libpod:abc", "x") == "/machine.slice/libpod-abc.scope"
    assert systemd_to_cgroupfs("a-b.slice:pfx:n", "x") == "/a.slice/a-b.slice/pfx-n.scope"
    assert systemd_to_cgroupfs("/plain/path", "x") == "/plain/path"
    with pytest.raises(InvalidParameter):
        systemd_to_cgroupfs("a:b", "x")


def test_parse_realtime_signals():
    assert ops.parse_signal("RTMIN") == 34
    assert ops.parse_signal("SIGRTMAX-1") == 63
    with pytest.raises(InvalidParameter):
        ops.parse_signal("RTMAX+1")


def test_locate_finds_an_executable_runtime():
    from dockyard.runtime.native import locate

    path = locate()
    assert os.access(path, os.X_OK)
    assert path.endswith("dockyard-runtime")


def test_launcher_runs_isolated_without_site(tmp_path):
    from dockyard.runtime.native import launcher

    text = launcher.launcher_text(python="/usr/bin/python3", src="/src", site="/site")
    assert text.startswith("#!/usr/bin/python3 -IS\n")
    assert "sys.path.insert(0, '/src')" in text and "sys.path.append('/site')" in text



def test_recursive_options_become_mount_setattr_attrs_not_mount_data():
    flags, _, data = mounts.parse_options(["rbind", "rro", "rnosuid"])
    assert data == "" and flags & sc.MS_BIND
    assert mounts.recursive_attrs(["rro", "rnosuid"]) == (sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID, 0)
    assert mounts.recursive_attrs(["rro", "rrw"]) == (0, sc.MOUNT_ATTR_RDONLY)
    assert mounts.recursive_attrs(["ro", "rbind"]) == (0, 0)


def test_console_size_is_set_on_the_pty_before_the_process_runs():
    """Issue 15: ``process.consoleSize`` goes on the pty before its master leaves the runtime."""
    import fcntl
    import struct
    import termios

    from dockyard.runtime.native import terminal

    assert terminal.window_size({"consoleSize": {"height": 27, "width": 91}}) == (27, 91)
    assert terminal.window_size({"consoleSize": {"height": 0, "width": 91}}) is None
    assert terminal.window_size({}) is None
    master, slave = os.openpty()
    try:
        terminal.set_window_size(master, 27, 91)
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(slave, termios.TIOCGWINSZ, b"\0" * 8))
        assert (rows, cols) == (27, 91)
    finally:
        os.close(master)
        os.close(slave)
