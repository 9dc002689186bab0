"""aardvark-dns updates are synchronous: ``Aardvark.update`` returns once the change is served.

The real aardvark-dns (Debian's 1.4) on a loopback address and a port of the
test's own, no daemon around it.  A "slow" aardvark is one this test stopped
(SIGSTOP, by the PID of the process it started) and lets go after a while.
"""

from __future__ import annotations

import logging
import secrets
import socket
import time

import pytest

from dockyard.network import dns
from dockyard.network.dns import Aardvark, Record, find_aardvark, render_network
from tests.support.dnsserver import ask, bound_socket, frozen

pytestmark = pytest.mark.skipif(find_aardvark() is None, reason="aardvark-dns is not installed")

NX = (3, [])


@pytest.fixture
def aardvark(tmp_path):
    ip = f"127.54.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        port = s.getsockname()[1]
    a = Aardvark(str(tmp_path / "aardvark"), find_aardvark(), port)
    a.ip = ip  # type: ignore[attr-defined]
    yield a
    a.stop()


def net(a: Aardvark, *records: Record) -> dict[str, str]:
    return {"n1": render_network(a.ip, list(records))}  # type: ignore[attr-defined]


WEB = Record("a" * 64, "10.9.0.2", ("web", "a" * 12))
DB = Record("b" * 64, "10.9.0.3", ("db", "b" * 12, "www"))


def test_served_on_return_even_when_aardvark_is_slow(aardvark):
    aardvark.update(net(aardvark, WEB))  # starts it: bound and answering on return
    assert ask(aardvark.ip, "web", aardvark.port) == (0, ["10.9.0.2"])
    pid = aardvark._pid()
    with frozen(pid, 0.6):
        t0 = time.monotonic()
        aardvark.update(net(aardvark, WEB, DB))
        took = time.monotonic() - t0
    assert took > 0.4  # it waited for aardvark to come back...
    for name in ("db", "www", "b" * 12):  # ...and every name of the new line is served, asked once
        assert ask(aardvark.ip, name, aardvark.port) == (0, ["10.9.0.3"])
    with frozen(pid, 0.6):
        aardvark.update(net(aardvark, WEB))  # a removal too
    assert ask(aardvark.ip, "db", aardvark.port) == NX
    assert ask(aardvark.ip, "web", aardvark.port) == (0, ["10.9.0.2"])
    assert aardvark._pid() == pid  # reloaded, not restarted


def test_nothing_changed_no_reload(aardvark):
    """A reload makes aardvark 1.4 refuse queries for a moment: an update that changes nothing sends none."""
    aardvark.update(net(aardvark, WEB))
    before = bound_socket(aardvark.ip, aardvark.port)
    assert before is not None
    aardvark.update(net(aardvark, WEB))
    time.sleep(0.3)
    assert bound_socket(aardvark.ip, aardvark.port) == before
    aardvark.update(net(aardvark, WEB, DB))
    assert bound_socket(aardvark.ip, aardvark.port) not in (before, None)  # the proof that a reload shows


def test_a_stuck_aardvark_costs_at_most_the_timeout(aardvark, monkeypatch, caplog):
    monkeypatch.setattr(dns, "SERVE_TIMEOUT", 0.5)
    aardvark.update(net(aardvark, WEB))
    extra = Record("c" * 64, "10.9.0.4", ("extra",))
    with frozen(aardvark._pid(), 2.0), caplog.at_level(logging.WARNING, "dockyard.networks"):
        t0 = time.monotonic()
        aardvark.update(net(aardvark, WEB, DB))
        took = time.monotonic() - t0
        assert 0.4 < took < 1.5
        assert caplog.text.count("did not answer") == 1 and "within 0.5s" in caplog.text, caplog.text
        t0 = time.monotonic()
        aardvark.update(net(aardvark, WEB, DB, extra))  # still stuck: a short wait, no second warning
        assert time.monotonic() - t0 < dns.UNANSWERED_TIMEOUT + 0.2
        assert caplog.text.count("did not answer") == 1
    deadline = time.monotonic() + 5  # served once it came back and reloaded
    while ask(aardvark.ip, "db", aardvark.port, timeout=0.2) != (0, ["10.9.0.3"]):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    aardvark.update(net(aardvark, WEB, extra))  # answered again: the full wait is back
    assert ask(aardvark.ip, "db", aardvark.port) == NX
    with frozen(aardvark._pid(), 1.0), caplog.at_level(logging.WARNING, "dockyard.networks"):
        t0 = time.monotonic()
        aardvark.update(net(aardvark, WEB))
        assert time.monotonic() - t0 > 0.4 and caplog.text.count("did not answer") == 2


def test_last_network_gone_stops_it(aardvark):
    aardvark.update(net(aardvark, WEB))
    pid = aardvark._pid()
    aardvark.update({})
    deadline = time.monotonic() + 5
    while aardvark._pid() == pid and time.monotonic() < deadline:
        time.sleep(0.02)
    assert aardvark._pid() is None
