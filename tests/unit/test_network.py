"""The sans-I/O parts of networking: IPAM, the nftables table, /etc files, DNS files, names."""

from __future__ import annotations

import ipaddress

import pytest

from dockyard import errors
from dockyard.daemon.config import load
from dockyard.network import etcfiles, firewall, ipam
from dockyard.network.dns import Record, find_record, render_links, render_network
from dockyard.network.linux import link_stem, veth_name


def test_user_config_and_errors():
    cfg = ipam.user_config("10.5.0.0/16", "10.5.0.254", "10.5.3.0/24")
    assert cfg.to_docker() == {"Subnet": "10.5.0.0/16", "Gateway": "10.5.0.254", "IPRange": "10.5.3.0/24"}
    assert ipam.user_config("10.6.1.7/24").to_docker() == {"Subnet": "10.6.1.0/24", "Gateway": "10.6.1.1"}
    with pytest.raises(errors.Forbidden, match="no matching subnet for gateway 10.7.0.1"):
        ipam.user_config("10.5.0.0/16", "10.7.0.1")
    with pytest.raises(errors.InvalidParameter, match="invalid CIDR address: nope"):
        ipam.user_config("nope")
    with pytest.raises(errors.InvalidParameter, match="not a subset"):
        ipam.user_config("10.5.0.0/16", "", "10.9.0.0/24")


def test_overlap_is_refused_with_dockers_text():
    with pytest.raises(errors.Forbidden, match="Pool overlaps with other one on this address space"):
        ipam.check_overlap(ipaddress.IPv4Network("10.1.2.0/24"), [ipaddress.IPv4Network("10.1.0.0/16")])
    ipam.check_overlap(ipaddress.IPv4Network("10.2.0.0/24"), [ipaddress.IPv4Network("10.1.0.0/16")])


def test_pick_subnet_skips_what_is_taken():
    taken = [ipaddress.IPv4Network("172.17.0.0/16"), ipaddress.IPv4Network("172.18.5.0/24")]
    assert str(ipam.pick_subnet(ipam.DEFAULT_POOLS, taken)) == "172.19.0.0/16"
    assert str(ipam.pick_subnet([("10.10.0.0/16", 24)], [ipaddress.IPv4Network("10.10.0.0/23")])) == "10.10.2.0/24"
    with pytest.raises(errors.Forbidden, match="could not find an available"):
        ipam.pick_subnet([("10.10.0.0/24", 24)], [ipaddress.IPv4Network("10.10.0.0/16")])


def test_allocate_lowest_free_in_range_and_static():
    cfg = ipam.user_config("10.5.0.0/24")
    a = ipaddress.IPv4Address
    assert ipam.allocate(cfg, []) == a("10.5.0.2")  # .1 is the gateway
    assert ipam.allocate(cfg, [a("10.5.0.2")]) == a("10.5.0.3")
    assert ipam.allocate(ipam.user_config("10.5.0.0/16", "", "10.5.9.0/24"), []) == a("10.5.9.1")
    assert ipam.allocate(cfg, [], "10.5.0.77") == a("10.5.0.77")
    with pytest.raises(errors.Conflict, match="Address already in use"):
        ipam.allocate(cfg, [a("10.5.0.77")], "10.5.0.77")
    with pytest.raises(errors.InvalidParameter, match="no configured subnet or ip-range contain the IP address"):
        ipam.allocate(cfg, [], "10.6.0.2")
    small = ipam.user_config("10.8.0.0/30")
    assert ipam.allocate(small, []) == a("10.8.0.2")
    with pytest.raises(errors.Forbidden, match="no available IPv4 addresses"):
        ipam.allocate(small, [a("10.8.0.2")])


def test_mac_is_dockers():
    assert ipam.mac_for(ipaddress.IPv4Address("172.17.0.2")) == "02:42:ac:11:00:02"


def test_render_table_nat_ports_isolation():
    script = firewall.render("dytest-x", [firewall.BridgeRules("dyb0", "172.17.0.0/16"),
                                          firewall.BridgeRules("dyb1", "10.1.0.0/24", internal=True)],
                             [firewall.PortRule("", 8080, "tcp", "172.17.0.2", 80),
                              firewall.PortRule("127.0.0.1", 5353, "udp", "172.17.0.3", 53)])
    lines = [ln.strip() for ln in script.splitlines()]
    # replaced as a whole, in one transaction
    assert lines[:3] == ["table ip dytest-x {}", "delete table ip dytest-x", "table ip dytest-x {"]
    assert "tcp dport 8080 dnat to 172.17.0.2:80" in lines
    assert "ip daddr 127.0.0.1 udp dport 5353 dnat to 172.17.0.3:53" in lines
    assert lines.count("fib daddr type local jump ports") == 2  # prerouting and output
    assert 'ip saddr 172.17.0.0/16 oifname != "dyb0" masquerade' in lines
    assert not any("10.1.0.0/24 oifname !=" in ln for ln in lines)  # internal: no NAT out
    assert 'iifname "dyb1" oifname != "dyb1" drop' in lines
    assert 'oifname "dyb0" ip saddr 127.0.0.0/8 masquerade' in lines
    assert 'oifname "dyb0" ip saddr 172.17.0.0/16 ct status dnat masquerade' in lines  # hairpin
    assert 'oifname "dyb0" iifname != "dyb0" iifname { "dyb0", "dyb1" } ct status & dnat == 0 drop' in lines


def test_render_without_bridges_removes_the_table():
    assert firewall.render("p", [], []) == "table ip p {}\ndelete table ip p\n"


def test_hosts_file_order():
    text = etcfiles.hosts_file(etcfiles.DEFAULT_HOSTS,
                               etcfiles.extra_host_lines(["foo:10.0.0.9", "gw:host-gateway", "bar=10.0.0.8"],
                                                         "172.17.0.1"),
                               [("172.17.0.3", ["db", "0123456789ab", "mydb"])],
                               [("172.17.0.2", ["box.example.org", "box"])])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[-5:] == ["10.0.0.9\tfoo", "172.17.0.1\tgw", "10.0.0.8\tbar", "172.17.0.3\tdb 0123456789ab mydb",
                          "172.17.0.2\tbox.example.org box"]


HOST_RESOLV = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.53\nsearch lan\noptions edns0\n"


def test_resolv_conf_from_host_and_options():
    assert etcfiles.resolv_conf(HOST_RESOLV, None, None, None) == \
        "nameserver 10.0.0.53\nsearch lan\noptions edns0\n"
    assert etcfiles.resolv_conf(HOST_RESOLV, ["1.1.1.1"], ["corp"], ["ndots:2"]) == \
        "nameserver 1.1.1.1\nsearch corp\noptions ndots:2\n"
    # only loopback resolvers on the host: Docker's fallback
    assert etcfiles.resolv_conf("nameserver 127.0.0.1\n", None, None, None).startswith("nameserver 8.8.8.8\n")
    # a user network: the embedded resolver alone (it forwards to --dns, as Docker's 127.0.0.11)
    assert etcfiles.resolv_conf(HOST_RESOLV, None, None, None, "10.9.0.1").startswith("nameserver 10.9.0.1\n")
    assert etcfiles.resolv_conf(HOST_RESOLV, ["1.1.1.1"], None, None, "10.9.0.1") == \
        "nameserver 10.9.0.1\nsearch lan\noptions edns0\n"


def test_aardvark_file():
    text = render_network("10.9.0.1", [Record("abc", "10.9.0.2", ("web", "abc"[:12], "www", "web"))])
    assert text == "10.9.0.1\nabc 10.9.0.2  web,abc,www\n"
    text = render_network("10.9.0.1", [Record("abc", "10.9.0.2", ("web",), "fd00:9::2")])
    assert text == "10.9.0.1\nabc 10.9.0.2 fd00:9::2 web\n"  # id, IPv4, IPv6, names: aardvark's columns
    # the upstream servers of a container's other names; names that would break a line left out
    text = render_network("10.9.0.1", [Record("abc", "10.9.0.2", ("Web", "a b", "x,y"), "", ("10.1.1.1", "fd00::53"))])
    assert text == "10.9.0.1\nabc 10.9.0.2  web 10.1.1.1,fd00::53\n"


def test_aardvark_links_file():
    """--link on a user network: a pseudo-network the linking container belongs to (no address of its own)."""
    target = Record("t" * 64, "10.9.0.3", ("upstream", "tttttttttttt"), "fd00:9::3")
    assert find_record([target], "UPSTREAM") is target and find_record([target], "other") is None
    assert find_record([target], "t" * 64) is target and find_record([target], "ttt") is None
    text = render_links("l" * 64, [("bar", target), ("bad name", target)])
    assert text == f"240.0.0.1\n{'l' * 64}   \n{'l' * 12}-link0 10.9.0.3 fd00:9::3 bar\n"


def test_interface_names_carry_the_prefix_and_fit():
    assert link_stem("dockyard") == "dockyard"
    stem = link_stem("dytest-1a2b3c")
    assert len(stem) == 8 and stem.startswith("dyt") and stem != link_stem("dytest-1a2b3d")
    name = veth_name(stem, "c" * 64, "n" * 64)
    assert name.startswith(stem + "v") and len(name) <= 15


def test_daemon_json_network_keys(tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text('{"bip": "10.77.0.1/24", "mtu": 1400, '
                    '"default-address-pools": [{"base": "10.80.0.0/16", "size": 24}]}')
    cfg = load(str(path), {})
    assert cfg.bip == "10.77.0.1/24" and cfg.mtu == 1400 and cfg.default_address_pools == [("10.80.0.0/16", 24)]
    path.write_text('{"bip": "10.77.0.0/24"}')
    with pytest.raises(errors.InvalidParameter, match="invalid bip"):
        load(str(path), {})
    path.write_text('{"ipv6": true, "fixed-cidr-v6": "fd00:1::/64", "dns": ["10.1.1.1"], "dns-search": ["corp"], '
                    '"dns-opts": ["ndots:2"]}')
    cfg = load(str(path), {})
    assert (cfg.ipv6, cfg.fixed_cidr_v6, cfg.dns, cfg.dns_search, cfg.dns_opts) == \
        (True, "fd00:1::/64", ["10.1.1.1"], ["corp"], ["ndots:2"])
    for text, err in (('{"ipv6": true}', "no subnet is configured"), ('{"fixed-cidr-v6": "10.1.0.0/16"}',
                      "invalid fixed-cidr-v6"), ('{"dns": ["nope"]}', "nope is not an ip address")):
        path.write_text(text)
        with pytest.raises(errors.InvalidParameter, match=err):
            load(str(path), {})


def test_ipv6_pools_and_the_default_bridges_mac_address():
    pools = [("10.80.0.0/16", 24), ("fd00:5::/48", 64)]
    assert str(ipam.pick_subnet(pools, [])) == "10.80.0.0/24"
    assert str(ipam.pick_subnet(pools, [ipaddress.ip_network("fd00:5::/64")], version=6)) == "fd00:5:0:1::/64"
    with pytest.raises(errors.NotFound, match="non-overlapping IPv6 address pool"):
        ipam.pick_subnet([("10.80.0.0/16", 24)], [], version=6)
    assert str(ipam.mac_v6(ipaddress.ip_network("fd00:dead:beef::/64"), "02:42:ac:1e:fa:02")) == \
        "fd00:dead:beef::242:ac1e:fa02"  # what dockerd 20.10 gave the same MAC
    assert ipam.mac_v6(ipaddress.ip_network("fd00:dead:beef::/96"), "02:42:ac:1e:fa:02") is None


def test_ipv6_configs_allocate_and_split():
    cfg = ipam.user_config("2001:db8:389::/64", "2001:db8:389::ffff", "2001:db8:389::0/96")
    assert cfg.v6 and cfg.to_docker() == {"Subnet": "2001:db8:389::/64", "Gateway": "2001:db8:389::ffff",
                                          "IPRange": "2001:db8:389::/96"}
    assert ipam.IPAMConfig.from_docker(cfg.to_docker()) == cfg
    assert ipam.user_config("fd00:1::/64").gateway == ipaddress.IPv6Address("fd00:1::1")
    # lowest free in the range, the gateway and taken ones skipped; a static one checked
    gw_first = ipam.user_config("fd00:2::/64")
    assert str(ipam.allocate(gw_first, [])) == "fd00:2::2"
    assert str(ipam.allocate(gw_first, [ipaddress.IPv6Address("fd00:2::2")])) == "fd00:2::3"
    assert str(ipam.allocate(cfg, [], "2001:db8:389::f00d")) == "2001:db8:389::f00d"
    with pytest.raises(errors.Conflict, match="Address already in use"):
        ipam.allocate(cfg, [ipaddress.IPv6Address("2001:db8:389::f00d")], "2001:db8:389::f00d")
    with pytest.raises(errors.InvalidParameter, match="no configured subnet"):
        ipam.allocate(cfg, [], "2001:db8:1::1")
    with pytest.raises(errors.InvalidParameter, match="not a subset"):
        ipam.user_config("2001:db8:389::/64", "", "10.0.0.0/24")
    with pytest.raises(errors.Forbidden, match="no matching subnet for gateway"):
        ipam.user_config("2001:db8:389::/64", "2001:db8:1::1")
    with pytest.raises(errors.InvalidParameter, match="too small"):
        ipam.user_config("2001:db8::/127")
    full = ipam.user_config("fd00:3::/126")
    assert str(ipam.allocate(full, [])) == "fd00:3::2"
    with pytest.raises(errors.Forbidden, match="no available IPv6 addresses"):
        ipam.allocate(full, [ipaddress.IPv6Address("fd00:3::2"), ipaddress.IPv6Address("fd00:3::3")])
    assert str(ipam.allocate(full, [ipaddress.IPv6Address("fd00:3::2")])) == "fd00:3::3"  # no broadcast in v6
    v4, v6 = ipam.split_configs([{"Subnet": "172.20.0.0/16", "Gateway": "172.20.0.1"}, cfg.to_docker()])
    assert v4 == {"Subnet": "172.20.0.0/16", "Gateway": "172.20.0.1"} and v6 == cfg.to_docker()
    assert ipam.split_configs([]) == (None, None)
    # the families never overlap each other
    ipam.check_overlap(ipaddress.ip_network("fd00::/8"), [ipaddress.IPv4Network("10.0.0.0/8")])
    with pytest.raises(errors.Forbidden, match="Pool overlaps"):
        ipam.check_overlap(ipaddress.ip_network("fd00:1::/64"), [ipaddress.ip_network("fd00::/16")])
    with pytest.raises(errors.InvalidParameter, match="IPv6"):
        ipam.parse_addr("2001:db8::1")


def test_dockerd_flags_for_ipv6_and_dns(tmp_path):
    """--ipv6, --fixed-cidr-v6, --dns, --dns-search, --dns-opt: dockerd's flags, the daemon.json keys' values."""
    from dockyard.dockyardd import overrides_from_args, parse_args

    args = parse_args(["--ipv6", "--fixed-cidr-v6", "fd00:7::/64", "--dns", "10.1.1.1", "--dns", "10.1.1.2",
                       "--dns-search", "corp", "--dns-opt", "ndots:3"])
    cfg = load(None, overrides_from_args(args), default_file=str(tmp_path / "none.json"))
    assert (cfg.ipv6, cfg.fixed_cidr_v6, cfg.dns, cfg.dns_search, cfg.dns_opts) == \
        (True, "fd00:7::/64", ["10.1.1.1", "10.1.1.2"], ["corp"], ["ndots:3"])
    cfg = load(None, overrides_from_args(parse_args([])), default_file=str(tmp_path / "none.json"))
    assert (cfg.ipv6, cfg.dns) == (False, [])
