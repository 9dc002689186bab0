"""spec/propagation.py: which host mount holds a bind source, and whether it can propagate."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.spec.propagation import check_propagation, source_mount

MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 22 0:25 / /tmp rw,nosuid shared:5 - tmpfs tmpfs rw
31 22 0:26 / /mnt/slave rw master:7 - tmpfs tmpfs rw
32 22 0:27 / /mnt/with\\040space rw shared:9 - tmpfs tmpfs rw
33 30 0:28 / /tmp/priv rw - tmpfs tmpfs rw
"""


@pytest.mark.parametrize("path,point,fields", [
    ("/srv/x", "/", []),
    ("/tmp", "/tmp", ["shared:5"]),
    ("/tmp/a/b", "/tmp", ["shared:5"]),
    ("/tmpx", "/", []),
    ("/tmp/priv/y", "/tmp/priv", []),
    ("/mnt/slave/q", "/mnt/slave", ["master:7"]),
    ("/mnt/with space/z", "/mnt/with space", ["shared:9"]),
])
def test_source_mount_is_the_longest_prefix(path, point, fields):
    assert source_mount(path, MOUNTINFO) == (point, fields)


def test_shared_needs_a_shared_source():
    check_propagation("/tmp/a", "rshared", MOUNTINFO)
    with pytest.raises(InvalidParameter, match=r"^path /srv/x is mounted on / but it is not a shared mount$"):
        check_propagation("/srv/x", "shared", MOUNTINFO)
    with pytest.raises(InvalidParameter, match="mounted on /mnt/slave but it is not a shared mount"):
        check_propagation("/mnt/slave/a", "rshared", MOUNTINFO)


def test_slave_needs_a_shared_or_slave_source():
    check_propagation("/tmp/a", "rslave", MOUNTINFO)
    check_propagation("/mnt/slave/a", "slave", MOUNTINFO)
    with pytest.raises(InvalidParameter, match=r"^path /tmp/priv is mounted on /tmp/priv but it is not a shared "
                                               r"or slave mount$"):
        check_propagation("/tmp/priv", "rslave", MOUNTINFO)


@pytest.mark.parametrize("propagation", ["", "private", "rprivate"])
def test_private_propagations_need_nothing(propagation):
    check_propagation("/srv/x", propagation, MOUNTINFO)
