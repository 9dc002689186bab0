"""DNS wire helpers and the choice of the question that tells a new aardvark file from the old one."""

from __future__ import annotations

import socket
import struct

import pytest

from dockyard.network import dnswire
from dockyard.network.dns import NO_LISTEN, Probe, Record, probe, render_links, render_network, served_names
from tests.support.dnsserver import answer


def test_query_and_reply_round_trip_through_the_test_server():
    q = dnswire.query(0x1234, "Web.")
    assert dnswire.parse_question(q) == (0x1234, "web", dnswire.TYPE_A, len(q))
    assert dnswire.parse_reply(answer(q, {"web": "10.9.0.2"})) == (0x1234, 0, ["10.9.0.2"])
    assert dnswire.parse_reply(answer(q, {})) == (0x1234, dnswire.RCODE_NXDOMAIN, [])


def test_reply_with_several_records_and_an_uncompressed_name():
    q = dnswire.query(7, "www")
    _qid, _name, _qtype, end = dnswire.parse_question(q)
    rr_a = b"\x03www\x00" + struct.pack("!HHIH", 1, 1, 60, 4) + socket.inet_aton("10.9.0.2")
    rr_a2 = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("10.9.0.3")
    rr_aaaa = struct.pack("!HHHIH", 0xC00C, 28, 1, 60, 16) + b"\x00" * 16
    reply = struct.pack("!HHHHHH", 7, 0x8180, 1, 3, 0, 0) + q[12:end] + rr_a + rr_a2 + rr_aaaa
    assert dnswire.parse_reply(reply) == (7, 0, ["10.9.0.2", "10.9.0.3"])


@pytest.mark.parametrize("bad", [b"", b"\x00\x07\x81\x80", dnswire.query(1, "web"),
                                 struct.pack("!HHHHHH", 1, 0x8180, 0, 1, 0, 0) + b"\xc0\x0c\x00\x01"])
def test_malformed_replies_are_value_errors(bad):
    with pytest.raises(ValueError):
        dnswire.parse_reply(bad)


def _net(*records: Record) -> str:
    return render_network("10.9.0.1", list(records))


WEB = Record("a" * 64, "10.9.0.2", ("web", "a" * 12, "www"))
DB = Record("b" * 64, "10.9.0.3", ("db", "b" * 12, "www"), "fd00::3", ("10.1.1.1",))


def test_served_names_reads_the_file_as_aardvark():
    listen, names = served_names(_net(WEB, DB))
    assert listen == "10.9.0.1"
    assert names == {"web": {"10.9.0.2"}, "a" * 12: {"10.9.0.2"}, "www": {"10.9.0.2", "10.9.0.3"},
                     "db": {"10.9.0.3"}, "b" * 12: {"10.9.0.3"}}
    assert served_names("") == ("", {})


def test_probe_asks_a_name_that_must_now_resolve():
    p = probe(_net(WEB), _net(WEB, DB))
    assert p is not None and p.listen == "10.9.0.1" and not p.gone
    assert p.name in {"db", "b" * 12, "www"} and p.want == served_names(_net(WEB, DB))[1][p.name]
    assert probe("", _net(WEB)) == Probe("10.9.0.1", "a" * 12, frozenset({"10.9.0.2"}))  # a new file


def test_probe_after_a_removal_asks_for_nxdomain_of_a_single_label():
    dotted = Record("c" * 64, "10.9.0.4", ("web.corp",))
    assert probe(_net(WEB, dotted), _net(WEB)) is None  # a dotted unknown name is forwarded: not asked
    p = probe(_net(WEB, DB), _net(WEB))
    assert p is not None and p.want == {"10.9.0.2"} and p.name == "www"  # www still resolves, to web only
    p = probe(_net(WEB), "")
    assert p == Probe("10.9.0.1", "a" * 12, frozenset(), gone=True)


def test_no_probe_without_a_changed_answer_or_an_address():
    assert probe(_net(WEB), _net(WEB)) is None
    changed_upstream = Record(WEB.container_id, WEB.ipv4, WEB.names, "", ("10.1.1.1",))
    assert probe(_net(WEB), _net(changed_upstream)) is None
    links = render_links("l" * 64, [("alias", WEB)])
    assert links.startswith(NO_LISTEN) and probe("", links) is None


def test_probe_passes_over_names_no_question_can_carry():
    odd = Record("c" * 64, "10.9.0.4", ("x" * 64, "web.", "wéb", "a..b", "ok.name"))
    assert probe("", _net(odd)) == Probe("10.9.0.1", "ok.name", frozenset({"10.9.0.4"}))
    assert probe("", _net(Record("c" * 64, "10.9.0.4", ("x" * 64,)))) is None
