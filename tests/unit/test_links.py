"""Legacy links' environment (network/links.py), as moby's links.Link.ToEnv writes it."""

from __future__ import annotations

from dockyard.network.links import link_env, parse_link


def test_parse_link_forms() -> None:
    assert parse_link("db:mydb") == ("db", "mydb")
    assert parse_link("/db:/web/mydb") == ("db", "mydb")
    assert parse_link("db") == ("db", "db")


def test_link_env() -> None:
    env = link_env("/web", "my-db", "172.17.0.5", {"5432/tcp": {}, "53/udp": {}},
                   ["FOO=1", "PATH=/bin", "HOME=/root", "BAR=a=b"])
    assert env == [
        "MY_DB_NAME=/web/my-db",
        "MY_DB_PORT=udp://172.17.0.5:53",
        "MY_DB_PORT_53_UDP=udp://172.17.0.5:53", "MY_DB_PORT_53_UDP_ADDR=172.17.0.5",
        "MY_DB_PORT_53_UDP_PORT=53", "MY_DB_PORT_53_UDP_PROTO=udp",
        "MY_DB_PORT_5432_TCP=tcp://172.17.0.5:5432", "MY_DB_PORT_5432_TCP_ADDR=172.17.0.5",
        "MY_DB_PORT_5432_TCP_PORT=5432", "MY_DB_PORT_5432_TCP_PROTO=tcp",
        "MY_DB_ENV_FOO=1", "MY_DB_ENV_BAR=a=b",
    ]
