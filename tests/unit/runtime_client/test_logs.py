"""The k8s-file log parser and the reader's filters (sans-I/O parser; reader on a temp file)."""

from __future__ import annotations

import asyncio
import pathlib

from dockyard.monitor.logs import K8sLogParser, LogEntry, format_timestamp, parse_timestamp, read_logs

T0 = "2026-11-29T00:31:00.000000001+00:00"


def line(sec: int, stream: str, tag: str, data: str) -> bytes:
    return f"2026-11-29T00:31:{sec:02d}.000000001+00:00 {stream} {tag} {data}\n".encode()


def test_timestamp() -> None:
    ns = parse_timestamp(T0.encode())
    assert ns % 10**9 == 1
    assert parse_timestamp(b"2026-11-29T01:31:00.000000001+01:00") == ns
    assert parse_timestamp(b"2026-11-29T00:31:00.000000001Z") == ns
    assert parse_timestamp(b"2026-11-29T00:31:00.5Z") == ns - 1 + 500_000_000
    assert format_timestamp(ns) == "2026-11-29T00:31:00.000000001Z"


def test_parser_lines_partials_and_split_feeds() -> None:
    p = K8sLogParser()
    raw = (line(0, "stdout", "F", "hello") + line(1, "stdout", "P", "par")
           + line(2, "stderr", "F", "err") + line(3, "stdout", "F", "tial")
           + line(4, "stdout", "F", "") + b"garbage line\n")
    out: list[LogEntry] = []
    for i in range(0, len(raw), 7):  # arbitrary chunking must not matter
        out += p.feed(raw[i:i + 7])
    assert [(e.stream, e.data) for e in out] == [
        (1, b"hello\n"), (2, b"err\n"), (1, b"partial\n"), (1, b"\n")]
    assert out[2].time_ns == parse_timestamp(line(1, "stdout", "P", "")[:35])
    p.feed(line(5, "stderr", "P", "no newline"))
    assert p.flush() == [LogEntry(out[0].time_ns + 5 * 10**9, 2, b"no newline")]


def collect(path: pathlib.Path, **kw) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    async def run() -> list[tuple[int, bytes]]:
        return [(e.stream, e.data) async for e in read_logs(str(path), **kw)]
    return asyncio.run(run())


def test_reader_filters(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(b"".join(line(i, "stdout" if i % 2 == 0 else "stderr", "F", f"l{i}") for i in range(10)))
    assert len(collect(log)) == 10
    assert collect(log, stderr=False) == [(1, f"l{i}\n".encode()) for i in range(0, 10, 2)]
    assert collect(log, stdout=False)[0] == (2, b"l1\n")
    assert collect(log, tail=3) == [(2, b"l7\n"), (1, b"l8\n"), (2, b"l9\n")]
    assert collect(log, tail=0) == []
    assert collect(log, tail=100) == collect(log)
    base = parse_timestamp(T0.encode())
    assert [d for _, d in collect(log, since_ns=base + 8 * 10**9)] == [b"l8\n", b"l9\n"]
    assert [d for _, d in collect(log, until_ns=base + 1 * 10**9)] == [b"l0\n", b"l1\n"]
    assert collect(tmp_path / "missing.log") == []


def test_tail_counts_whole_lines_not_partials(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line(0, "stdout", "F", "a") + line(1, "stdout", "P", "b1")
                    + line(2, "stdout", "F", "b2") + line(3, "stdout", "F", "c"))
    assert collect(log, tail=2) == [(1, b"b1b2\n"), (1, b"c\n")]


def test_follow_until_stop_and_rotation(tmp_path: pathlib.Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_bytes(line(0, "stdout", "F", "first"))

    async def run() -> list[bytes]:
        stop = asyncio.Event()
        got: list[bytes] = []

        async def reader() -> None:
            async for e in read_logs(str(log), follow=True, stop_event=stop):
                got.append(e.data)

        task = asyncio.create_task(reader())
        await asyncio.sleep(0.15)
        with open(log, "ab") as f:
            f.write(line(1, "stdout", "F", "second"))
        await asyncio.sleep(0.25)
        # rotation: a new file replaces the old one (conmon's reopen)
        (tmp_path / "new.log").write_bytes(line(2, "stderr", "F", "third"))
        (tmp_path / "new.log").rename(log)
        await asyncio.sleep(0.25)
        with open(log, "ab") as f:
            f.write(line(3, "stdout", "P", "last, no newline"))
        stop.set()
        await asyncio.wait_for(task, 5)
        return got

    assert asyncio.run(run()) == [b"first\n", b"second\n", b"third\n", b"last, no newline"]
