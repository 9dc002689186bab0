"""containerfs without a daemon: path rules, Go file modes, tar in and out of a directory fd, changes."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import tarfile

import pytest

from dockyard.containerfs.changes import ADD, DELETE, MODIFY, changes
from dockyard.containerfs.extract import extract
from dockyard.containerfs.pathstat import GO_DIR, GO_SYMLINK, encode_header, go_file_mode, go_time
from dockyard.containerfs.resolve import open_in_root, resolved_path, split_container_path
from dockyard.containerfs.tarwrite import TarWriter
from dockyard.errors import InvalidParameter


@pytest.mark.parametrize("path,want", [
    ("/etc/hostname", ("/etc", "hostname")), ("etc", ("/", "etc")), ("/tmp/.", ("/tmp", ".")),
    ("/tmp/", ("/tmp", ".")), ("/", ("/", ".")), ("/a/..", ("/a/..", ".")),
])
def test_split(path, want):
    assert split_container_path(path) == want


def test_go_modes_and_header():
    assert go_file_mode(stat.S_IFDIR | 0o755) == GO_DIR | 0o755
    assert go_file_mode(stat.S_IFLNK | 0o777) == GO_SYMLINK | 0o777
    assert go_file_mode(stat.S_IFREG | 0o4755) == (1 << 23) | 0o755
    assert go_time(1_700_000_000_120_000_000) == "2023-11-14T22:13:20.12Z"
    assert json.loads(base64.b64decode(encode_header({"name": "x"}))) == {"name": "x"}


def test_resolution_stays_in_root(tmp_path):
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("inside\n")
    os.symlink("/", root / "up")
    os.symlink("../../../../etc", root / "dots")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for path in ("/up/etc/passwd", "/dots/passwd", "/../../etc/passwd"):
            f = open_in_root(fd, path, os.O_RDONLY)
            with os.fdopen(f) as fh:
                assert fh.read() == "inside\n"
        assert resolved_path(fd, "/up/up/dots") == "/etc"
    finally:
        os.close(fd)


def _tar(build) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        build(tf)
    return buf.getvalue()


def _extract_members(dest, members) -> int:
    """Extract a tar of (name, kind f|d|s, data or link target) into the directory ``dest``."""
    def build(tf):
        for name, kind, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "s":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tf.addfile(ti)
            elif kind == "d":
                ti.type = tarfile.DIRTYPE
                tf.addfile(ti)
            else:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))

    fd = os.open(dest, os.O_PATH | os.O_DIRECTORY)
    try:
        return extract(io.BytesIO(_tar(build)), fd)
    finally:
        os.close(fd)


def test_tar_round_trip_keeps_owner_mode_links(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"x" * 300_000)
    os.chown(src / "d" / "f", 1000, 2000)
    os.chmod(src / "d" / "f", 0o640)
    os.link(src / "d" / "f", src / "d" / "hard")
    os.symlink("f", src / "d" / "ln")
    os.mkfifo(src / "d" / "fifo")
    chunks: list[bytes] = []
    fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY)
    try:
        w = TarWriter(chunks.append)
        w.add_tree(fd, "d", "renamed")
        w.close()
    finally:
        os.close(fd)
    data = b"".join(chunks)
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        names = {m.name: m for m in tf.getmembers()}
    assert set(names) == {"renamed", "renamed/f", "renamed/hard", "renamed/ln", "renamed/fifo"}
    assert names["renamed/hard"].islnk() or names["renamed/f"].islnk()
    dest = tmp_path / "dest"
    dest.mkdir()
    dfd = os.open(dest, os.O_PATH | os.O_DIRECTORY)
    try:
        assert extract(io.BytesIO(data), dfd) == 5
    finally:
        os.close(dfd)
    st = os.stat(dest / "renamed" / "f")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), st.st_size, st.st_nlink) == (1000, 2000, 0o640, 300_000, 2)
    assert os.readlink(dest / "renamed" / "ln") == "f" and stat.S_ISFIFO(os.lstat(dest / "renamed" / "fifo").st_mode)


def test_extract_refuses_dotdot_and_keeps_links_inside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()

    def hostile(tf):
        link = tarfile.TarInfo("out")
        link.type, link.linkname = tarfile.SYMTYPE, str(outside)
        tf.addfile(link)
        f = tarfile.TarInfo("out/file")
        f.size = 1
        tf.addfile(f, io.BytesIO(b"x"))
        bad = tarfile.TarInfo("../escape")
        bad.size = 1
        tf.addfile(bad, io.BytesIO(b"x"))

    fd = os.open(dest, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(InvalidParameter, match="outside of the extraction point"):
            extract(io.BytesIO(_tar(hostile)), fd)
    finally:
        os.close(fd)
    assert not os.listdir(outside) and not (tmp_path / "escape").exists()
    assert (dest / str(outside).lstrip("/") / "file").read_bytes() == b"x"


def test_changes_from_upper(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for p in ("bin", "etc", "tmp"):
        (lower / p).mkdir(parents=True)
    (lower / "bin" / "arch").write_text("x")
    (lower / "etc" / "passwd").write_text("x")
    (upper / "bin").mkdir(parents=True)
    os.mknod(upper / "bin" / "arch", stat.S_IFCHR | 0o600, 0)
    (upper / "etc").mkdir()
    (upper / "etc" / "passwd").write_text("changed")
    (upper / "etc" / "hosts").write_text("init layer")
    (upper / "new").mkdir()
    got = [(c["Kind"], c["Path"]) for c in changes(str(upper), [str(lower)])]
    # a changed file does not list its (unchanged) directory; an added or deleted one does (moby)
    assert got == [(MODIFY, "/bin"), (DELETE, "/bin/arch"), (MODIFY, "/etc/passwd"), (ADD, "/new")]


def test_extract_parent_replaced_midway(tmp_path):
    """A member that replaces a directory earlier members went into: later ones follow the new entry."""
    dest = tmp_path / "dest"
    dest.mkdir()
    _extract_members(dest, [("a/x", "f", b"1"), ("a", "s", "b"), ("a/y", "f", b"2")])
    assert os.readlink(dest / "a") == "b" and (dest / "b" / "y").read_bytes() == b"2"


def test_changes_opaque_directory_is_listed_as_deleted(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc" / "old").write_text("x")
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "new").write_text("y")
    try:
        os.setxattr(upper / "etc", "trusted.overlay.opaque", b"y")
    except OSError as exc:
        pytest.skip(f"trusted xattrs not available here: {exc}")
    got = [(c["Kind"], c["Path"]) for c in changes(str(upper), [str(lower)])]
    assert got == [(DELETE, "/etc"), (ADD, "/etc/new")]


def test_extract_file_over_existing_names(tmp_path):
    """A file member is created O_EXCL first; a taken name (file, symlink to the host, directory) is
    cleared and the file made in its place, never written through the link; noOverwriteDirNonDir
    refuses the directory."""
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "file").write_text("old")
    (dest / "link").symlink_to(outside / "target")
    (dest / "dir").mkdir()
    (dest / "dir" / "inner").write_text("x")

    def build(tf):
        for name in ("file", "link", "dir"):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode = 3, 0o640
            tf.addfile(ti, io.BytesIO(b"new"))

    fd = os.open(dest, os.O_PATH | os.O_DIRECTORY)
    try:
        with pytest.raises(InvalidParameter, match="cannot overwrite directory"):
            extract(io.BytesIO(_tar(build)), fd, no_overwrite_dir_non_dir=True)
        extract(io.BytesIO(_tar(build)), fd)
    finally:
        os.close(fd)
    for name in ("file", "link", "dir"):
        st = os.lstat(dest / name)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640
        assert (dest / name).read_bytes() == b"new"
    assert not os.listdir(outside)


def test_extract_small_files_on_the_writer_keep_the_tar_order(tmp_path):
    """Files handed to the writer thread and the members after them act in the tar's order: a file
    then a directory of the same name, a name written twice (the last wins), a big file between."""
    dest = tmp_path / "dest"
    dest.mkdir()
    assert _extract_members(dest, [("d/a", "f", b"1"), ("d/a", "f", b"2"), ("d/b", "f", b"x"), ("d/b", "d", b""),
                                   ("d/b/c", "f", b"3"), ("d/big", "f", b"z" * (2 << 20)), ("d/e", "f", b"4")]) == 7
    d = dest / "d"
    assert (d / "a").read_bytes() == b"2" and (d / "b" / "c").read_bytes() == b"3"
    assert (d / "big").stat().st_size == 2 << 20 and (d / "e").read_bytes() == b"4"
