"""dockerd's -H and --tls* rules (dockyard.daemon.hosts), and their daemon.json keys."""

from __future__ import annotations

import json

import pytest

from dockyard.daemon import config, hosts
from dockyard.errors import InvalidParameter


@pytest.mark.parametrize("value, tls, expected", [
    ("unix:///run/x.sock", False, "unix:///run/x.sock"),
    ("/run/x.sock", False, "unix:///run/x.sock"),
    ("tcp://127.0.0.1:2375", False, "tcp://127.0.0.1:2375"),
    ("tcp://127.0.0.1", False, "tcp://127.0.0.1:2375"),
    ("tcp://127.0.0.1", True, "tcp://127.0.0.1:2376"),
    ("tcp://:4000", False, "tcp://localhost:4000"),
    ("tcp://[::1]:2376", True, "tcp://[::1]:2376"),
    ("127.0.0.1:2375", False, "tcp://127.0.0.1:2375"),
    ("npipe:////./pipe/dockyard_engine", False, "npipe:////./pipe/dockyard_engine"),
])
def test_parse_host(value, tls, expected):
    assert str(hosts.parse_host(value, tls)) == expected


@pytest.mark.parametrize("value, message", [
    ("tcp://127.0.0.1:99999", "invalid port"), ("tcp://h:2375/path", "path element"),
    ("fd://", "not supported"), ("ssh://x", "unsupported protocol"), ("unix://rel", "absolute"),
    ("tcp://::1:2375", "brackets"), ("", "empty"), ("npipe://pipe", "npipe:////./pipe/NAME"),
    ("npipe:////./pipe/a/b", "npipe:////./pipe/NAME"),
])
def test_parse_host_errors(value, message):
    with pytest.raises(InvalidParameter, match=message):
        hosts.parse_host(value)


def test_tls_switches_as_dockerd():
    exists = lambda p: True  # noqa: E731
    assert hosts.resolve_tls(None, None, None, None, None, "/c", exists) == hosts.TLSSettings()
    # --tls alone verifies clients unless --tlsverify=false (moby since v23)
    t = hosts.resolve_tls(True, None, None, None, None, "/c", exists)
    assert (t.enabled, t.verify, t.cacert, t.cert, t.key) == (True, True, "/c/ca.pem", "/c/cert.pem", "/c/key.pem")
    t = hosts.resolve_tls(True, False, None, None, None, "/c", exists)
    assert (t.enabled, t.verify, t.explicitly_insecure) == (True, False, True)
    t = hosts.resolve_tls(None, True, "/a", "/b", "/k", "/c", exists)
    assert (t.enabled, t.verify, t.cacert, t.cert, t.key) == (True, True, "/a", "/b", "/k")
    # a default cert that is missing is dropped, so the error names an empty path as dockerd's does
    t = hosts.resolve_tls(None, True, None, None, None, "/c", lambda p: False)
    assert (t.cert, t.key) == ("", "")
    assert hosts.resolve_tls(False, None, None, None, None).explicitly_insecure


def test_plain_tcp_off_loopback_is_refused_unless_explicitly_insecure():
    public = [hosts.parse_host("tcp://0.0.0.0:2375")]
    with pytest.raises(InvalidParameter, match="refusing to listen on tcp://0.0.0.0:2375 without TLS.*--tls=false"):
        hosts.check_listeners(public, hosts.TLSSettings())
    assert hosts.check_listeners(public, hosts.TLSSettings(explicitly_insecure=True))  # warned, allowed
    for loop in ("tcp://127.0.0.1:2375", "tcp://localhost:2375", "tcp://[::1]:2375", "tcp://127.8.0.1:1"):
        warnings = hosts.check_listeners([hosts.parse_host(loop)], hosts.TLSSettings())
        assert "insecure" in warnings[0]
    verified = hosts.TLSSettings(enabled=True, verify=True)
    assert hosts.check_listeners(public, verified) == []
    # TLS without client verification: warned, not refused (dockerd's checkTLSAuthOK)
    assert hosts.check_listeners(public, hosts.TLSSettings(enabled=True, verify=False))
    with pytest.raises(InvalidParameter, match="no hosts configured"):
        hosts.check_listeners([], verified)


def test_info_warnings():
    h = [hosts.parse_host("tcp://127.0.0.1:2375"), hosts.parse_host("/run/x.sock")]
    (w,) = hosts.tcp_warnings(h, hosts.TLSSettings())
    assert w.startswith("[DEPRECATION NOTICE]: API is accessible on http://127.0.0.1:2375 without encryption.")
    (w,) = hosts.tcp_warnings(h, hosts.TLSSettings(enabled=True))
    assert "https://127.0.0.1:2375 without TLS client verification" in w
    assert hosts.tcp_warnings(h, hosts.TLSSettings(enabled=True, verify=True)) == []


def test_daemon_json_tls_keys_and_group(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"hosts": ["tcp://127.0.0.1", "unix:///tmp/x.sock"], "tlsverify": True,
                                "tlscacert": "/p/ca.pem", "tlscert": "/p/c.pem", "tlskey": "/p/k.pem",
                                "group": "staff"}))
    cfg = config.load(str(path), {})
    assert cfg.hosts == ["tcp://127.0.0.1:2376", "unix:///tmp/x.sock"]
    assert (cfg.tls.enabled, cfg.tls.verify, cfg.tls.cacert, cfg.tls.cert) == (True, True, "/p/ca.pem", "/p/c.pem")
    assert cfg.group == "staff" and cfg.unix_sockets == ["/tmp/x.sock"]
    # --tls without -H listens on TCP 2376 as dockerd does
    path.write_text(json.dumps({"tls": True}))
    assert config.load(str(path), {}).hosts == ["tcp://localhost:2376"]
    path.write_text(json.dumps({"tls": "yes"}))
    with pytest.raises(InvalidParameter, match="invalid value for tls"):
        config.load(str(path), {})


def test_a_named_pipe_is_its_windows_name():
    assert hosts.parse_host("npipe:////./pipe/dockyard_engine").address == "\\\\.\\pipe\\dockyard_engine"
