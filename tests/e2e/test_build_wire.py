"""The /build stream byte for byte as Debian's dockerd 20.10 (classic builder) writes it.

The transcripts in ``data/build-dockerd-20.10-*.jsonl`` were recorded from a
private dockerd on the same Dockerfiles (IDs replaced by ``ID``): the same
JSON objects, key order, Go's ``\\u003c``-style escapes and CRLF line ends.
"""

from __future__ import annotations

import io
import json
import pathlib
import re
import tarfile
from typing import Any

import pytest

from tests.support.daemon import UnixHTTPConnection

DATA = pathlib.Path(__file__).parent / "data"

MULTI = """FROM busybox
LABEL a=b
RUN echo "<out> & more"; echo err >&2
COPY Dockerfile /df
WORKDIR /w
FROM scratch
COPY --from=0 /df /
"""
FAILING = "FROM busybox\nENV A=1\nRUN exit 3\n"


def _context(dockerfile: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        ti = tarfile.TarInfo("Dockerfile")
        ti.size = len(dockerfile)
        tf.addfile(ti, io.BytesIO(dockerfile.encode()))
    return buf.getvalue()


def _post(d, query: str, body: bytes) -> bytes:
    conn = UnixHTTPConnection(d.socket, timeout=120)
    conn.request("POST", f"/v1.41/build?{query}", body=body, headers={"Content-Type": "application/x-tar"})
    data = conn.getresponse().read()
    conn.close()
    return re.sub(rb"[0-9a-f]{12,64}", b"ID", data)


def _expected(name: str) -> bytes:
    return (DATA / name).read_bytes().replace(b"Successfully tagged cmp:latest", b"Successfully tagged dytest-wire:latest")


@pytest.mark.parametrize("query,transcript,dockerfile", [
    ("t=dytest-wire&nocache=1&buildargs=%7B%22X%22%3A%221%22%7D", "build-dockerd-20.10-nocache.jsonl", MULTI),
])
def test_stream_matches_dockerd(dockyard_daemon, busybox_image, query, transcript, dockerfile):
    body = _context(dockerfile)
    assert _post(dockyard_daemon, query, body) == _expected(transcript)
    assert _post(dockyard_daemon, "t=dytest-wire", body) == _expected("build-dockerd-20.10-cached.jsonl")


def test_failing_and_quiet_failing_stream_match_dockerd(dockyard_daemon, busybox_image):
    body = _context(FAILING)
    got = _post(dockyard_daemon, "nocache=1", body) + _post(dockyard_daemon, "q=1&nocache=1", body)
    assert got == _expected("build-dockerd-20.10-failing.jsonl")


@pytest.mark.parametrize("dockerfile,query,transcript", [
    ('FROM busybox\nENTRYPOINT echo hi\nCMD ["a"]\nSTOPSIGNAL 9\nSHELL ["/bin/sh","-xc"]\nRUN echo shell\n',
     "nocache=1", "build-dockerd-20.10-entry.jsonl"),
    ("FROM busybox AS a\nRUN echo a > /a\nFROM a\nCOPY --from=a /a /b\nARG X\nENV Y=$X\n",
     "nocache=1&buildargs=%7B%22X%22%3A%223%22%7D&target=", "build-dockerd-20.10-multi.jsonl"),
])
def test_more_streams_match_dockerd(dockyard_daemon, busybox_image, dockerfile, query, transcript):
    got = _post(dockyard_daemon, query, _context(dockerfile))
    assert _step_output_unordered(got) == _step_output_unordered(_expected(transcript))


def _step_output_unordered(stream: bytes) -> list[Any]:
    """The stream with each RUN step's output as (its stdout, its stderr): a step that writes to
    both at once (``sh -x``) is read from two pipes, in either order and in pieces of any size
    (dockerd's too); what each pipe said, in its own order, is what must match."""
    out: list[Any] = []
    block: list[bytes] | None = None

    def pipes(lines: list[bytes]) -> tuple[str, str]:
        texts = [json.loads(line)["stream"] for line in lines]
        red, reset = "\x1b[91m", "\x1b[0m"
        err = "".join(t[len(red):-len(reset)] for t in texts if t.startswith(red) and t.endswith(reset))
        return "".join(t for t in texts if not t.startswith(red)), err

    for line in stream.splitlines():
        if block is not None and b"Removing intermediate container" in line:
            out.append(pipes(block))
            block = None
        if block is not None:
            block.append(line)
            continue
        out.append(line)
        if b"Running in ID" in line:
            block = []
    return out if block is None else [*out, pipes(block)]


def test_onbuild_trigger_stream_matches_dockerd(dockyard_daemon, busybox_image):
    parent = "FROM busybox\nONBUILD RUN echo trig\nONBUILD ENV T=1\n"
    _post(dockyard_daemon, "t=obparent", _context(parent))
    body = _context("FROM obparent\nRUN echo child\n")
    assert _post(dockyard_daemon, "nocache=1", body) == _expected("build-dockerd-20.10-onbuild.jsonl")
    _post(dockyard_daemon, "", body)
    assert _post(dockyard_daemon, "", body) == _expected("build-dockerd-20.10-onbuild-cached.jsonl")
