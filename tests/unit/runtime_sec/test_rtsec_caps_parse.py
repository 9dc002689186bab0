"""Capability names -> numbers (pure)."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.runtime.native import caps


def test_names_with_or_without_prefix_any_case() -> None:
    c = caps.parse_capabilities({"bounding": ["CAP_CHOWN", "NET_ADMIN", "sys_admin"],
                                 "effective": ["cap_kill"]})
    assert c.bounding == {0, 12, 21}
    assert c.effective == {5}
    assert c.permitted == c.inheritable == c.ambient == set()


def test_unknown_capability_is_named() -> None:
    with pytest.raises(InvalidParameter, match=r'^unknown capability "CAP_FOO"$'):
        caps.parse_capabilities({"bounding": ["CAP_CHOWN", "CAP_FOO"]})
    with pytest.raises(InvalidParameter, match='unknown capability "NOPE"'):
        caps.parse_capabilities({"ambient": ["NOPE"]})


def test_bad_shapes() -> None:
    with pytest.raises(InvalidParameter, match="unknown capability set"):
        caps.parse_capabilities({"bound": ["CAP_CHOWN"]})
    with pytest.raises(InvalidParameter, match="must be a list"):
        caps.parse_capabilities({"bounding": "CAP_CHOWN"})


def test_none_means_no_capabilities() -> None:
    assert caps.parse_capabilities(None) == caps.CapabilitySets()
    assert caps.parse_capabilities({"bounding": None}).bounding == set()


def test_default_and_all_lists() -> None:
    assert len(caps.DEFAULT_CAPABILITIES) == 14
    assert len(caps.parse_capabilities({"bounding": caps.DEFAULT_CAPABILITIES}).bounding) == 14
    assert "CAP_SYS_ADMIN" not in caps.DEFAULT_CAPABILITIES
    with open("/proc/sys/kernel/cap_last_cap") as f:
        assert len(caps.ALL_CAPABILITIES) == int(f.read()) + 1
    assert caps.ALL_CAPABILITIES[:2] == ["CAP_CHOWN", "CAP_DAC_OVERRIDE"]


def test_masks_match_proc_status_format() -> None:
    assert caps.to_mask({0, 1, 40}) == 0x10000000003
    assert caps.from_mask(0x10000000003) == {0, 1, 40}
    assert caps.cap_name(21) == "CAP_SYS_ADMIN"
    assert caps.cap_number("CAP_CHECKPOINT_RESTORE") == 40
