"""The attach pump's rules (detach keys, half-close, client gone) and the attach hub, with fakes."""

from __future__ import annotations

import asyncio

from dockyard.api import stdio
from dockyard.api.streams import FrameDecoder
from dockyard.daemon.attach_hub import AttachHub


class FakeClient:
    """The client's side of a hijacked stream."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent = bytearray()
        self._closed = asyncio.Event()

    async def read(self) -> bytes:
        return await self.inbox.get()

    async def write(self, data: bytes) -> None:
        if self._closed.is_set():
            raise ConnectionResetError("gone")
        self.sent += data

    async def wait_closed(self) -> None:
        await self._closed.wait()

    def go_away(self) -> None:
        self._closed.set()
        self.inbox.put_nowait(b"")


class FakeContainer:
    """A container's stdio as conmon's attachment shows it."""

    def __init__(self) -> None:
        self.output: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self.stdin = bytearray()
        self.stdin_closed = False
        self.closed = False

    async def read(self) -> tuple[int, bytes] | None:
        if self.closed:
            return None
        return await self.output.get()

    async def write(self, data: bytes) -> None:
        if self.stdin_closed:
            raise BrokenPipeError("stdin closed")
        self.stdin += data

    def close_stdin(self) -> None:
        self.stdin_closed = True

    def close(self) -> None:
        self.closed = True


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_half_close_without_tty_drains_output() -> None:
    async def go() -> None:
        client, ctr = FakeClient(), FakeContainer()
        task = asyncio.ensure_future(stdio.pump(client, ctr, tty=False, stdin=True, stdout=True, stderr=True,
                                                detach_keys=b"\x10\x11", close_stdin=True))
        client.inbox.put_nowait(b"hi\x10\x11\n")  # no TTY: the keys are data
        client.inbox.put_nowait(b"")
        await asyncio.sleep(0.01)
        assert ctr.stdin == b"hi\x10\x11\n" and ctr.stdin_closed
        ctr.output.put_nowait((1, b"out"))
        ctr.output.put_nowait((2, b"err"))
        ctr.output.put_nowait(None)
        assert await task == stdio.EXITED
        assert FrameDecoder().feed(bytes(client.sent)) == [(1, b"out"), (2, b"err")]
        assert ctr.closed
    run(go())


def test_tty_detach_keys_end_attach_and_never_reach_container() -> None:
    async def go() -> None:
        client, ctr = FakeClient(), FakeContainer()
        task = asyncio.ensure_future(stdio.pump(client, ctr, tty=True, stdin=True, stdout=True, stderr=True,
                                                detach_keys=b"\x10\x11", close_stdin=True))
        ctr.output.put_nowait((1, b"$ "))
        client.inbox.put_nowait(b"ls\r\x10")
        client.inbox.put_nowait(b"\x11ignored")
        assert await task == stdio.DETACHED
        assert ctr.stdin == b"ls\r" and not ctr.stdin_closed and ctr.closed
        assert client.sent == b"$ "  # raw with a TTY
    run(go())


def test_tty_client_eof_ends_attach_without_closing_stdin() -> None:
    async def go() -> None:
        client, ctr = FakeClient(), FakeContainer()
        task = asyncio.ensure_future(stdio.pump(client, ctr, tty=True, stdin=True, stdout=True, stderr=True,
                                                close_stdin=True))
        client.inbox.put_nowait(b"")
        assert await task == stdio.ENDED
        assert not ctr.stdin_closed
    run(go())


def test_client_gone_ends_attach_and_filters_streams() -> None:
    async def go() -> None:
        client, ctr = FakeClient(), FakeContainer()
        task = asyncio.ensure_future(stdio.pump(client, ctr, tty=False, stdin=False, stdout=True, stderr=False))
        ctr.output.put_nowait((2, b"hidden"))
        ctr.output.put_nowait((1, b"shown"))
        await asyncio.sleep(0.01)
        client.go_away()
        assert await task == stdio.CLIENT_GONE
        assert FrameDecoder().feed(bytes(client.sent)) == [(1, b"shown")]
    run(go())


def test_hub_fans_out_and_paces_to_the_slowest() -> None:
    async def go() -> None:
        ctr = FakeContainer()
        hub = AttachHub(ctr)
        a, b = hub.subscribe(), hub.subscribe()
        for i in range(20):
            ctr.output.put_nowait((1, b"%d" % i))
        await asyncio.sleep(0.01)
        # b has not read: the hub stops at b's small buffer instead of queueing everything
        assert ctr.output.qsize() > 0
        got_a = [await a.read() for _ in range(8)]
        assert [d for _, d in got_a] == [b"%d" % i for i in range(8)]
        b.close()  # a client leaving unblocks the hub
        ctr.output.put_nowait(None)
        rest = []
        while (item := await a.read()) is not None:
            rest.append(item[1])
        assert rest == [b"%d" % i for i in range(8, 20)]
        assert hub.done and ctr.closed
        late = hub.subscribe()
        assert await late.read() is None
    run(go())


def test_hub_shares_stdin_and_its_close() -> None:
    async def go() -> None:
        ctr = FakeContainer()
        hub = AttachHub(ctr)
        a, b = hub.subscribe(), hub.subscribe()
        await a.write(b"from a ")
        await b.write(b"from b")
        assert ctr.stdin == b"from a from b"
        a.close_stdin()
        assert ctr.stdin_closed
        a.close()
        ctr.output.put_nowait(None)
        assert await b.read() is None
    run(go())
