"""-v / --mount / --volumes-from parsing into mount points, and the local driver's name and option rules."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.spec.mounts import oci_mount
from dockyard.volume import local
from dockyard.volume.mountpoints import (host_mount_points, inherited, parse_bind, parse_mount,
                                         parse_volumes_from, public)


def test_bind_named_and_anonymous():
    b = parse_bind("/host/dir:/data:ro,rslave")
    assert (b["Type"], b["Source"], b["Destination"], b["RW"], b["Propagation"], b["Mode"]) == \
        ("bind", "/host/dir", "/data", False, "rslave", "ro,rslave")
    assert b["CreateSource"] and not b["CopyData"]
    v = parse_bind("myvol:/data/")
    assert (v["Type"], v["Name"], v["Destination"], v["Mode"], v["RW"], v["CopyData"]) == \
        ("volume", "myvol", "/data", "z", True, True)
    assert parse_bind("myvol:/data:nocopy")["CopyData"] is False
    assert parse_bind("myvol:/data:ro")["RW"] is False
    a = parse_bind("/anon")
    assert a["Type"] == "volume" and a["Name"] == "" and a["Mode"] == ""


@pytest.mark.parametrize("spec,message", [
    ("/a:/b:bogus", "invalid mode: bogus"),
    ("/a:/b:ro,rw", "invalid mode: ro,rw"),
    ("/data:ro", "invalid volume specification: '/data:ro'"),
    ("a:b:c:d", "invalid volume specification"),
    ("/a:rel", "mount path must be absolute"),
    ("/a:/", "destination can't be '/'"),
    ("vol:/x:rshared", "propagation is only valid for bind mounts"),
])
def test_bind_errors(spec, message):
    with pytest.raises(InvalidParameter, match=message):
        parse_bind(spec)


def test_mount_types():
    exists = lambda p: p == "/exists"  # noqa: E731
    b = parse_mount({"Type": "bind", "Source": "/exists", "Target": "/b", "ReadOnly": True,
                     "BindOptions": {"Propagation": "rshared"}}, exists)
    assert (b["RW"], b["Propagation"], b["CreateSource"]) == (False, "rshared", False)
    v = parse_mount({"Type": "volume", "Source": "v", "Target": "/v",
                     "VolumeOptions": {"NoCopy": True, "DriverConfig": {"Options": {"type": "tmpfs"}}}}, exists)
    assert (v["Name"], v["CopyData"], v["DriverOpts"], v["Driver"]) == ("v", False, {"type": "tmpfs"}, "local")
    t = parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1 << 20, "Mode": 0o1770}},
                    exists)
    assert public(t) == {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True,
                         "Propagation": ""}
    o = oci_mount(t, exists, lambda p: None)
    assert o["type"] == "tmpfs" and "size=1024k" in o["options"] and "mode=1770" in o["options"]


@pytest.mark.parametrize("m,message", [
    ({"Type": "bind", "Source": "/nope", "Target": "/x"}, "bind source path does not exist: /nope"),
    ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
    ({"Type": "tmpfs", "Source": "a", "Target": "/x"}, "field Source must not be specified"),
    ({"Type": "volume", "Target": "/x", "BindOptions": {"Propagation": "shared"}},
     "field BindOptions must not be specified"),
    ({"Type": "volume", "Target": ""}, "field Target must not be empty"),
    ({"Type": "npipe", "Target": "/x"}, "mount type npipe is not supported by dockyard yet"),
    ({"Type": "weird", "Target": "/x"}, "mount type unknown"),
])
def test_mount_errors(m, message):
    with pytest.raises(InvalidParameter, match=message):
        parse_mount(m, lambda p: False)


def test_duplicates_and_volumes_from():
    with pytest.raises(InvalidParameter, match="Duplicate mount point: /x"):
        host_mount_points({"Binds": ["a1:/x"], "Mounts": [{"Type": "volume", "Target": "/x/"}]}, lambda p: True)
    assert parse_volumes_from("other:ro") == ("other", "ro")
    assert parse_volumes_from("other") == ("other", "")
    with pytest.raises(InvalidParameter, match="invalid mode: rx"):
        parse_volumes_from("other:rx")
    ro = inherited(parse_bind("/h:/d"), "ro")
    assert ro["RW"] is False and ro["Mode"] == "ro" and not ro["CopyData"]


@pytest.mark.parametrize("name,message", [
    ("a/b", "includes invalid characters"), ("..", "includes invalid characters"),
    ("../x", "includes invalid characters"), ("x", "too short"), ("-ab", "includes invalid characters"),
])
def test_volume_names(name, message):
    with pytest.raises(InvalidParameter, match=message):
        local.check_name(name)
    local.check_name("db_data-1.0")


def test_volume_options():
    local.check_opts({"type": "tmpfs", "device": "tmpfs", "o": "size=1m"})
    for opts, message in (({"foo": "1"}, 'invalid option: "foo"'), ({"type": "tmpfs"}, 'missing required option: "device"'),
                          ({"o": "bind"}, "missing required option"), ({"size": "1g"}, "no quota support")):
        with pytest.raises(InvalidParameter, match=message):
            local.check_opts(opts)


def test_create_mountpoint_tmpfs_options_subpath():
    b = parse_mount({"Type": "bind", "Source": "/not/yet", "Target": "/b", "BindOptions": {"CreateMountpoint": True}},
                    lambda p: False)
    made: list[str] = []
    assert oci_mount(b, lambda p: False, made.append)["source"] == "/not/yet" and made == ["/not/yet"]
    t = parse_mount({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": [["exec"], ["nr_inodes", "99"]]}},
                    lambda p: True)
    opts = oci_mount(t, lambda p: True, lambda p: None)["options"]
    assert "noexec" not in opts and "exec" in opts and "nr_inodes=99" in opts
    v = parse_mount({"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"Subpath": "a/b"}},
                    lambda p: True)
    assert v["Subpath"] == "a/b" and v["CopyData"] is False
    for bad in ("/abs", "../up", "a/../../b"):
        with pytest.raises(InvalidParameter, match="subpath must be a relative path"):
            parse_mount({"Type": "volume", "Source": "v", "Target": "/v", "VolumeOptions": {"Subpath": bad}},
                        lambda p: True)
