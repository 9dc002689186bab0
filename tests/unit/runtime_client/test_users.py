"""resolve_user: -u name / uid / name:group / uid:gid against the container's files."""

from __future__ import annotations

import os
import pathlib

import pytest

from dockyard.errors import InvalidParameter
from dockyard.spec.users import ResolvedUser, lookup_user, resolve_user, secure_join

PASSWD = """root:x:0:0:root:/root:/bin/sh
# comment
app:x:1000:1001:App:/home/app:/bin/sh
broken line
svc:x:2000:2000::/srv:/bin/false
"""
GROUP = """root:x:0:
staff:x:50:app,svc
appgrp:x:1001:
extra:x:60:app
"""


@pytest.mark.parametrize("user,want", [
    ("", ResolvedUser(0, 0, [0], "/root")),
    ("root", ResolvedUser(0, 0, [0], "/root")),
    ("app", ResolvedUser(1000, 1001, [1001, 50, 60], "/home/app")),
    ("1000", ResolvedUser(1000, 1001, [1001, 50, 60], "/home/app")),
    ("4242", ResolvedUser(4242, 0, [0], "/")),
    ("app:staff", ResolvedUser(1000, 50, [50], "/home/app")),
    ("app:77", ResolvedUser(1000, 77, [77], "/home/app")),
    ("4242:4343", ResolvedUser(4242, 4343, [4343], "/")),
    ("svc", ResolvedUser(2000, 2000, [2000, 50], "/srv")),
])
def test_lookup(user: str, want: ResolvedUser) -> None:
    assert lookup_user(user, PASSWD, GROUP) == want


def test_errors() -> None:
    with pytest.raises(InvalidParameter, match="unable to find user foo: no matching entries in passwd file"):
        lookup_user("foo", PASSWD, GROUP)
    with pytest.raises(InvalidParameter, match="unable to find group nogrp: no matching entries in group file"):
        lookup_user("app:nogrp", PASSWD, GROUP)
    with pytest.raises(InvalidParameter, match="unable to find user foo"):
        lookup_user("foo", None, None)
    with pytest.raises(InvalidParameter, match="range"):
        lookup_user("99999999999", PASSWD, GROUP)


def test_numeric_without_files() -> None:
    assert lookup_user("5:6", None, None) == ResolvedUser(5, 6, [6], "/")


def test_group_add() -> None:
    assert lookup_user("app", PASSWD, GROUP, ["appgrp", "99"]).additional_gids == [1001, 50, 60, 1001, 99]


def test_resolve_from_rootfs(tmp_path: pathlib.Path) -> None:
    etc = tmp_path / "rootfs" / "etc"
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(PASSWD)
    (etc / "group").write_text(GROUP)
    assert resolve_user(str(tmp_path / "rootfs"), "app").uid == 1000


def test_symlinks_stay_inside_rootfs(tmp_path: pathlib.Path) -> None:
    """An /etc/passwd symlink to an absolute path resolves inside the rootfs, never on the host."""
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    host_file = tmp_path / "hostpasswd"
    host_file.write_text("evil:x:666:666::/:/bin/sh\n")
    (root / "data" / "pw").write_text("inside:x:7:7::/in:/bin/sh\n")
    os.symlink(str(host_file), root / "etc" / "passwd")  # absolute: must be taken inside rootfs
    with pytest.raises(InvalidParameter, match="unable to find user evil"):
        resolve_user(str(root), "evil")
    os.unlink(root / "etc" / "passwd")
    os.symlink("../../../../../data/pw", root / "etc" / "passwd")  # .. clamps at the rootfs
    assert resolve_user(str(root), "inside") == ResolvedUser(7, 7, [7], "/in")
    assert secure_join(str(root), "/../../etc/passwd") == str(root / "data" / "pw")


def test_symlink_loop(tmp_path: pathlib.Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    os.symlink("/etc/passwd", root / "etc" / "passwd")
    with pytest.raises(InvalidParameter, match="too many levels of symbolic links"):
        resolve_user(str(root), "x")
