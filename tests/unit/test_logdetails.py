"""``logs --details`` attributes: moby's ExtraAttributes and its escaping, without a daemon."""

from dockyard.daemon.containers.logdetails import details_prefix, extra_attributes


def test_labels_and_env_by_name_and_regex():
    config = {"Labels": {"team": "a", "tier": "web", "other": "x"}, "Env": ["STAGE=dev", "PATH=/bin", "BAD"]}
    hc = {"LogConfig": {"Type": "json-file", "Config": {"labels": "team,missing", "labels-regex": "^ti",
                                                          "env": "STAGE", "env-regex": "^PA"}}}
    assert extra_attributes(config, hc) == {"team": "a", "tier": "web", "STAGE": "dev", "PATH": "/bin"}


def test_no_log_options_no_attributes():
    assert extra_attributes({"Labels": {"a": "b"}, "Env": ["A=1"]}, {}) == {}
    assert details_prefix({}) == b" "


def test_prefix_sorted_and_query_escaped():
    assert details_prefix({"b": "x y", "a": "1&2=3"}) == b"a=1%262%3D3,b=x+y "
