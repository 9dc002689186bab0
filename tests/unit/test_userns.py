"""userns-remap's subordinate id ranges and maps (dockyard.daemon.userns), sans-I/O."""

from __future__ import annotations

from dockyard.daemon.userns import IDMap, Remap, next_free_start, parse_subid, to_maps
from dockyard.spec.bundle import SpecInput, build_spec

SUBUID = "# comment\nalice:100000:65536\ndockremap:165536:65536\n1001:300000:1000\ndockremap:400000:10\n"


def test_parse_and_map_ranges():
    assert parse_subid(SUBUID, "dockremap", 999) == [(165536, 65536), (400000, 10)]
    assert parse_subid(SUBUID, "bob", 1001) == [(300000, 1000)]  # by number too
    assert parse_subid(SUBUID, "nobody", None) == []
    assert to_maps([(165536, 65536), (400000, 10)]) == [IDMap(0, 165536, 65536), IDMap(65536, 400000, 10)]
    assert next_free_start(SUBUID, "") == 400010
    assert next_free_start("", "") == 100000


def test_remap_ids():
    r = Remap("dockremap", to_maps([(165536, 65536)]), to_maps([(200000, 65536)]))
    assert (r.root_uid, r.root_gid, r.map_uid(1000), r.map_uid(70000)) == (165536, 200000, 166536, 65534)


def test_spec_gets_a_user_namespace_with_the_maps():
    maps = [{"containerID": 0, "hostID": 100000, "size": 65536}]
    s = build_spec(SpecInput("c1", {"Cmd": ["sh"]}, {}, {}, "/r", uid_maps=maps, gid_maps=maps))
    assert {"type": "user"} in s["linux"]["namespaces"]
    assert s["linux"]["uidMappings"] == maps == s["linux"]["gidMappings"]
    s = build_spec(SpecInput("c1", {"Cmd": ["sh"]}, {}, {}, "/r"))
    assert {"type": "user"} not in s["linux"]["namespaces"] and "uidMappings" not in s["linux"]
