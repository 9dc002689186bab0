"""Pure pieces of the monitor: sync-pipe messages, attach packets, inotify events, argv."""

from __future__ import annotations

import struct

from dockyard.monitor.attach import decode_packet
from dockyard.monitor.exitwatch import parse_events
from dockyard.monitor.conmon import (Monitor, clean_runtime_message, parse_sync_message,
                                      start_error_exit_code)
from dockyard.monitor.oci import OCIRuntime, _last_error


def test_sync_message() -> None:
    assert parse_sync_message(b'{"data": 1234}\n') == (1234, "")
    assert parse_sync_message(b'{"data": -1, "message": "exec: \\"x\\" failed"}\n') == (-1, 'exec: "x" failed')
    # older conmons did not escape the message: still get the text out
    assert parse_sync_message(b'{"data": -1, "message": "bad "quote""}\n') == (-1, 'bad "quote"')


def test_runtime_messages() -> None:
    runc = ('time="2026-11-29T00:31:02Z" level=error msg="runc create failed: exec: '
            '\\"nope\\": executable file not found in $PATH"')
    assert clean_runtime_message(runc) == 'runc create failed: exec: "nope": executable file not found in $PATH'
    assert start_error_exit_code(clean_runtime_message(runc)) == 127
    assert start_error_exit_code("executable file `nope` not found in $PATH: No such file or directory") == 127
    assert start_error_exit_code('exec: "/etc": permission denied') == 126
    assert start_error_exit_code("cgroup: invalid argument") is None
    assert _last_error('{"level":"info","msg":"x"}\n{"level":"error","msg":"boom"}\n') == "boom"


def test_attach_packets() -> None:
    assert decode_packet(b"\x02out") == (1, b"out")
    assert decode_packet(b"\x03err") == (2, b"err")
    assert decode_packet(b"") is None and decode_packet(b"\x07x") is None


def test_inotify_events() -> None:
    name = b"abc\0\0\0\0\0"
    buf = struct.pack("iIII", 1, 0x80, 0, len(name)) + name + struct.pack("iIII", 1, 8, 0, 0)
    assert parse_events(buf) == [(0x80, "abc"), (8, "")]


def test_conmon_argv() -> None:
    m = Monitor("/usr/bin/conmon", "/run/x")
    rt = OCIRuntime("/usr/bin/crun", "/run/crun-root", ["--systemd-cgroup"])
    argv = m.conmon_argv("cid", "name", "/b", rt, "/l/ctr.log", tty=True, stdin=True, stdin_once=False)
    s = " ".join(argv)
    assert "--runtime-arg --root --runtime-arg /run/crun-root --runtime-arg --systemd-cgroup" in s
    assert "-l k8s-file:/l/ctr.log" in s and "--exit-dir /run/x/exits" in s
    assert "-t" in argv and "-i" in argv and "--leave-stdin-open" in argv
    argv = m.conmon_argv("cid", "n", "/b", rt, "/l", tty=False, stdin=True, stdin_once=True)
    assert "--leave-stdin-open" not in argv and "-t" not in argv
