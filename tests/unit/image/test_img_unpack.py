"""Layer tar extraction: path escapes refused or contained, whiteouts in overlay form, metadata kept."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile

import pytest

from dockyard.errors import InvalidParameter
from dockyard.image.unpack import apply_tar
from dockyard.securejoin import secure_join

@pytest.fixture(autouse=True)
def _root() -> None:
    """dockyard runs as root: a non-root run fails here rather than silently dropping these tests."""
    if os.geteuid() != 0:
        pytest.fail("needs root (mknod, chown, trusted xattrs): run the suite as root")


def make_tar(*entries: tuple) -> bytes:
    """entries: (name, kind, extra) with kind in file/dir/sym/link/chr/fifo."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, kind, *extra in entries:
            ti = tarfile.TarInfo(name)
            opts = extra[0] if extra else {}
            ti.mode = opts.get("mode", 0o644 if kind == "file" else 0o755)
            ti.uid, ti.gid = opts.get("uid", 0), opts.get("gid", 0)
            ti.mtime = opts.get("mtime", 1_000_000)
            ti.pax_headers = opts.get("pax", {})
            data = None
            if kind == "file":
                content = opts.get("data", b"")
                ti.size = len(content)
                data = io.BytesIO(content)
            elif kind == "dir":
                ti.type = tarfile.DIRTYPE
            elif kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, opts["target"]
            elif kind == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, opts["target"]
            elif kind == "chr":
                ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
            elif kind == "fifo":
                ti.type = tarfile.FIFOTYPE
            tf.addfile(ti, data)
    return buf.getvalue()


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    r.mkdir()
    return r


def apply(data: bytes, root) -> str:
    return apply_tar(io.BytesIO(data), str(root)).diff_id


def test_diff_id_is_sha256_of_the_whole_stream(root):
    data = make_tar(("a", "file", {"data": b"hello"}))
    assert apply(data, root) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert (root / "a").read_bytes() == b"hello"


@pytest.mark.parametrize("name", ["../escaped", "a/../../escaped", "./../escaped"])
def test_dotdot_escape_is_refused(root, tmp_path, name):
    data = make_tar((name, "file", {"data": b"x"}))
    with pytest.raises(InvalidParameter, match="outside of the layer"):
        apply(data, root)
    assert not (tmp_path / "escaped").exists()


def test_absolute_names_stay_inside_the_root(root):
    apply(make_tar(("/etc/dytest-evil", "file", {"data": b"x"}), ("/../../dytest-up", "file", {"data": b"y"})), root)
    assert (root / "etc" / "dytest-evil").read_bytes() == b"x"
    assert (root / "dytest-up").read_bytes() == b"y"
    assert not os.path.exists("/etc/dytest-evil") and not os.path.exists("/dytest-up")


def test_write_through_symlink_stays_inside(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    data = make_tar(("abs", "sym", {"target": str(outside)}),
                    ("abs/f1", "file", {"data": b"1"}),
                    ("rel", "sym", {"target": "../../../../../../" + str(outside).lstrip("/")}),
                    ("rel/f2", "file", {"data": b"2"}))
    apply(data, root)
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "f1").read_bytes() == b"1"
    assert (root / str(outside).lstrip("/") / "f2").read_bytes() == b"2"
    assert os.readlink(root / "abs") == str(outside)  # the link itself is kept as written


def test_hardlink_escape_refused(root):
    data = make_tar(("evil", "link", {"target": "../../etc/passwd"}))
    with pytest.raises(InvalidParameter):
        apply(data, root)


def test_hardlinks_symlinks_devices_fifos_owners_modes_xattrs(root):
    data = make_tar(("d", "dir", {"mode": 0o750, "uid": 1000, "gid": 1000}),
                    ("d/f", "file", {"data": b"abc", "mode": 0o4755, "uid": 1000, "gid": 100,
                                     "pax": {"SCHILY.xattr.user.dytest": "v1"}}),
                    ("d/h", "link", {"target": "d/f"}),
                    ("s", "sym", {"target": "d/f"}),
                    ("null", "chr", {"mode": 0o666}),
                    ("p", "fifo", {"mode": 0o600}))
    apply(data, root)
    st = os.lstat(root / "d")
    assert stat.S_IMODE(st.st_mode) == 0o750 and (st.st_uid, st.st_gid) == (1000, 1000)
    st = os.lstat(root / "d" / "f")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (1000, 100)
    assert st.st_mtime == 1_000_000
    assert os.getxattr(root / "d" / "f", "user.dytest") == b"v1"
    assert os.lstat(root / "d" / "h").st_ino == st.st_ino
    assert os.readlink(root / "s") == "d/f"
    dev = os.lstat(root / "null")
    assert stat.S_ISCHR(dev.st_mode) and os.major(dev.st_rdev) == 1 and os.minor(dev.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(root / "p").st_mode)
    assert os.lstat(root / "d").st_mtime == 1_000_000  # directory times set after their contents


def test_whiteouts_become_overlay_whiteouts(root):
    data = make_tar(("etc", "dir"), ("etc/.wh.passwd", "file"), ("opaque", "dir"),
                    ("opaque/.wh..wh..opq", "file"), ("opaque/kept", "file", {"data": b"k"}),
                    ("etc/.wh..wh.plnk", "file"))
    apply(data, root)
    wh = os.lstat(root / "etc" / "passwd")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == os.makedev(0, 0)
    assert not (root / "etc" / ".wh.passwd").exists()
    assert not (root / "etc" / ".wh..wh.plnk").exists()
    assert os.getxattr(root / "opaque", "trusted.overlay.opaque") == b"y"
    assert not (root / "opaque" / ".wh..wh..opq").exists()
    assert (root / "opaque" / "kept").read_bytes() == b"k"


def test_later_entries_replace_earlier_ones(root):
    data = make_tar(("x", "dir"), ("x/inner", "file"), ("x", "file", {"data": b"now a file"}),
                    ("y", "file", {"data": b"old"}), ("y", "file", {"data": b"new"}))
    apply(data, root)
    assert (root / "x").read_bytes() == b"now a file"
    assert (root / "y").read_bytes() == b"new"


@pytest.mark.parametrize("cut", [600, 1500])
def test_truncated_tar_is_a_clear_error(root, cut):
    data = make_tar(("big", "file", {"data": os.urandom(4096)}))
    with pytest.raises(InvalidParameter, match=r"Error processing tar file\(exit status 1\): "):
        apply(data[:cut], root)


def test_garbage_is_a_clear_error(root):
    with pytest.raises(InvalidParameter, match=r"Error processing tar file\(exit status 1\): "):
        apply(b"this is not a tar archive at all\n" * 40, root)


def test_empty_stream_is_an_empty_layer(root):
    assert apply(b"", root) == "sha256:" + hashlib.sha256(b"").hexdigest()
    assert list(root.iterdir()) == []


def test_resolve_in_root_clamps(tmp_path):
    os.symlink("/../../..", tmp_path / "up")
    assert secure_join(str(tmp_path), "up/x") == str(tmp_path / "x")
    assert secure_join(str(tmp_path), "../../a", follow_last=False) == str(tmp_path / "a")


def test_commit_diff_converts_overlay_whiteouts_back(tmp_path):
    from dockyard.image.commit import write_diff_tar

    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "gone", stat.S_IFCHR, os.makedev(0, 0))
    (upper / "opq").mkdir()
    os.setxattr(upper / "opq", "trusted.overlay.opaque", b"y")
    (upper / "opq" / "new").write_bytes(b"n")
    (upper / "etc" / "hosts").write_text("init layer file, left out")
    (upper / "f").write_bytes(b"data")
    os.link(upper / "f", upper / "hard")
    buf = io.BytesIO()
    write_diff_tar(str(upper), buf)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tf:
        members = {m.name: m for m in tf}
    assert set(members) == {"etc", "etc/.wh.gone", "opq", "opq/.wh..wh..opq", "opq/new", "f", "hard"}
    assert members["etc/.wh.gone"].isreg() and members["etc/.wh.gone"].size == 0
    assert members["hard"].islnk() and members["hard"].linkname == "f"
    assert not any(k.startswith("SCHILY.xattr.trusted.overlay") for k in members["opq"].pax_headers)
    # and back: unpacking the diff recreates the overlay form
    root = tmp_path / "again"
    root.mkdir()
    apply_tar(io.BytesIO(buf.getvalue()), str(root))
    assert os.lstat(root / "etc" / "gone").st_rdev == os.makedev(0, 0)
    assert os.getxattr(root / "opq", "trusted.overlay.opaque") == b"y"
