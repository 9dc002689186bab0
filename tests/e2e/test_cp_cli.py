"""docker cp, diff, export with the real docker CLI (and raw API calls where the CLI cannot say it)."""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import tarfile

import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def ok(d, *args, **kw) -> str:
    return docker(d, *args, check=True, **kw).stdout


def fail(d, *args, **kw) -> str:
    p = docker(d, *args, **kw)
    assert p.returncode != 0, p.stdout
    return p.stderr


@pytest.fixture
def running(d, tmp_path):
    bind = tmp_path / "bind"
    bind.mkdir()
    vol = f"cpv{secrets.token_hex(3)}"
    cid = ok(d, "run", "-d", "-v", f"{vol}:/vol", "-v", f"{bind}:/bind", "-v", f"{vol}:/rovol:ro", "busybox",
             "sleep", "1000").strip()
    yield cid, bind, vol
    ok(d, "rm", "-f", cid)
    docker(d, "volume", "rm", vol)


def make_tree(root) -> None:
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "f").write_text("file f\n")
    (root / "d" / "sub" / "g").write_text("file g\n")
    os.symlink("f", root / "d" / "ln")
    os.chown(root / "d" / "f", 1234, 4321)
    os.chmod(root / "d" / "f", 0o640)


@pytest.mark.parametrize("state", ["running", "stopped"])
def test_cp_in_and_out(d, running, tmp_path, state):
    cid, bind, vol = running
    if state == "stopped":
        ok(d, "stop", "-t", "0", cid)
    src = tmp_path / "src"
    src.mkdir()
    make_tree(src)
    ok(d, "cp", str(src / "d"), f"{cid}:/tmp/")            # a directory into an existing directory
    ok(d, "cp", str(src / "d"), f"{cid}:/tmp/renamed")     # ... to a new name
    ok(d, "cp", str(src / "d") + "/.", f"{cid}:/vol/")     # contents only, into a volume
    ok(d, "cp", str(src / "d" / "f"), f"{cid}:/bind/f2")   # a file into a bind mount, renamed
    ok(d, "cp", "-a", str(src / "d" / "f"), f"{cid}:/tmp/archived")
    out = tmp_path / "out"
    out.mkdir()
    ok(d, "cp", f"{cid}:/tmp/d", str(out))
    assert (out / "d" / "f").read_text() == "file f\n" and (out / "d" / "sub" / "g").read_text() == "file g\n"
    assert os.readlink(out / "d" / "ln") == "f"
    assert oct(os.stat(out / "d" / "f").st_mode & 0o777) == oct(0o640)
    ok(d, "cp", f"{cid}:/tmp/renamed/sub/g", str(out / "g-copy"))
    assert (out / "g-copy").read_text() == "file g\n"
    ok(d, "cp", f"{cid}:/vol/.", str(out / "volcopy"))
    assert sorted(os.listdir(out / "volcopy")) == ["f", "ln", "sub"]
    assert (bind / "f2").read_text() == "file f\n"  # reached the host directory behind the bind
    tar = docker(d, "cp", f"{cid}:/tmp/archived", "-")
    with tarfile.open(fileobj=io.BytesIO(tar.stdout.encode("latin-1") if isinstance(tar.stdout, str) else tar.stdout)) as tf:
        info = tf.getmember("archived")
    assert (info.uid, info.gid, info.mode) == (1234, 4321, 0o640)
    if state == "stopped":
        ok(d, "start", cid)
    listing = ok(d, "exec", cid, "sh", "-c",
                 "stat -c '%n %u %g %a' /tmp/d/f /tmp/renamed/sub/g /vol/f /rovol/sub/g; readlink /tmp/d/ln")
    assert listing.splitlines() == ["/tmp/d/f 1234 4321 640", "/tmp/renamed/sub/g 0 0 644", "/vol/f 1234 4321 640",
                                    "/rovol/sub/g 0 0 644", "f"]


def test_cp_stdin_stdout_and_follow(d, running, tmp_path):
    cid = running[0]
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        data = b"from a tar on stdin\n"
        ti = tarfile.TarInfo("piped/x.txt")
        ti.size = len(data)
        tf.addfile(ti, io.BytesIO(data))
    p = subprocess.run(["docker", "cp", "-", f"{cid}:/tmp"], input=buf.getvalue(), env=d.env(), capture_output=True)
    assert p.returncode == 0, p.stderr
    ok(d, "exec", cid, "ln", "-s", "/tmp/piped/x.txt", "/tmp/link")
    p = subprocess.run(["docker", "cp", f"{cid}:/tmp/piped", "-"], env=d.env(), capture_output=True)
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:
        assert tf.getnames() == ["piped", "piped/x.txt"]
        assert tf.extractfile("piped/x.txt").read() == b"from a tar on stdin\n"
    ok(d, "cp", f"{cid}:/tmp/link", str(tmp_path / "nofollow"))
    assert os.readlink(tmp_path / "nofollow") == "/tmp/piped/x.txt"
    ok(d, "cp", "-L", f"{cid}:/tmp/link", str(tmp_path / "follow"))
    assert (tmp_path / "follow").read_text() == "from a tar on stdin\n"


def test_cp_errors(d, running, tmp_path):
    cid = running[0]
    name = json.loads(ok(d, "inspect", cid))[0]["Name"].lstrip("/")
    assert f"Could not find the file /nope in container {name}" in fail(d, "cp", f"{cid}:/nope", str(tmp_path))
    (tmp_path / "f").write_text("x")
    assert "Could not find the file /nope in container" in fail(d, "cp", str(tmp_path / "f"), f"{cid}:/nope/x")
    assert "mounted volume is marked read-only" in fail(d, "cp", str(tmp_path / "f"), f"{cid}:/rovol/")
    status, body = _put(d, cid, "/etc/hostname", b"")
    assert status == 400 and body["message"] == "extraction point is not a directory"
    assert "No such container" in fail(d, "cp", f"nosuchctr:/etc", str(tmp_path))
    ro = ok(d, "run", "-d", "--read-only", "busybox", "sleep", "100").strip()
    try:
        assert "container rootfs is marked read-only" in fail(d, "cp", str(tmp_path / "f"), f"{ro}:/tmp/")
    finally:
        ok(d, "rm", "-f", ro)


def _tar(*members: tuple[str, str, str]) -> bytes:
    """(kind, name, data-or-linkname) members: kind f (file), s (symlink), h (hard link), d (dir)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for kind, name, data in members:
            ti = tarfile.TarInfo(name)
            if kind == "f":
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data.encode()))
                continue
            ti.type = {"s": tarfile.SYMTYPE, "h": tarfile.LNKTYPE, "d": tarfile.DIRTYPE}[kind]
            ti.linkname = data if kind in "sh" else ""
            tf.addfile(ti)
    return buf.getvalue()


def _put(d, cid: str, path: str, body: bytes) -> tuple[int, object]:
    from tests.support.daemon import UnixHTTPConnection

    conn = UnixHTTPConnection(d.socket)
    try:
        conn.request("PUT", f"/containers/{cid}/archive?path={path}", body=body,
                     headers={"Content-Type": "application/x-tar"})
        resp = conn.getresponse()
        raw = resp.read()
        return resp.status, (json.loads(raw) if raw else None)
    finally:
        conn.close()


def test_hostile_tar_writes_nothing_outside_the_target(d, running, tmp_path):
    cid, bind, _ = running
    ok(d, "exec", cid, "mkdir", "-p", "/tmp/target", "/tmp/outside")
    host_canary_dir = tmp_path / "host-canary"
    host_canary_dir.mkdir()
    # absolute names and escaping symlinks stay under the target
    status, _ = _put(d, cid, "/tmp/target", _tar(
        ("f", "/abs.txt", "absolute name\n"),
        ("s", "esc", "/"),                                  # a symlink to the container's /
        ("f", "esc/tmp/outside/through-link", "via link\n"),
        ("s", "hostesc", str(host_canary_dir)),             # a symlink to a host path
        ("f", "hostesc/pwned", "via host path\n"),
        ("s", "up", "../../.."),
        ("f", "up/up-pwned", "via dotdot link\n"),
        ("h", "hard", "/abs.txt"),
    ))
    assert status == 200
    listing = ok(d, "exec", cid, "sh", "-c", "cd /tmp/target && find . | sort; ls /tmp/outside; ls / | grep pwned || true")
    assert "./abs.txt" in listing and "./tmp/outside/through-link" in listing and "./hard" in listing
    assert f"./{str(host_canary_dir).lstrip('/')}/pwned" in listing  # the host path, made under the target
    assert "./up-pwned" in listing  # "../../.." from the target's root stays the target's root
    assert "through-link" not in ok(d, "exec", cid, "ls", "/tmp/outside")
    assert not os.listdir(host_canary_dir)
    assert not os.path.exists("/up-pwned") and not os.path.exists("/tmp/up-pwned")
    # a name with ../ is refused and writes nothing
    status, body = _put(d, cid, "/tmp/target", _tar(("f", "../../escape.txt", "x")))
    assert status == 400 and "outside of the extraction point" in body["message"]
    assert "escape" not in ok(d, "exec", cid, "ls", "/", "/tmp")
    assert not os.listdir(bind)


def test_diff_and_export(d, tmp_path):
    vol = f"dv{secrets.token_hex(3)}"
    cid = ok(d, "create", "-v", f"{vol}:/data", "busybox", "sh", "-c",
             "echo new > /etc/newfile; rm /bin/arch; mkdir /tmp/x; echo vol > /data/in-volume").strip()
    ok(d, "start", "-a", cid)
    assert ok(d, "diff", cid).splitlines() == ["C /bin", "D /bin/arch", "A /data", "C /etc", "A /etc/newfile",
                                                "C /tmp", "A /tmp/x"]
    p = subprocess.run(["docker", "export", cid], env=d.env(), capture_output=True)
    assert p.returncode == 0, p.stderr
    with tarfile.open(fileobj=io.BytesIO(p.stdout)) as tf:
        names = tf.getnames()
        assert "etc/newfile" in names and "bin/busybox" in names and "bin/arch" not in names
        assert "data" in names and "data/in-volume" not in names  # volumes are not in the container's fs
        assert tf.extractfile("etc/newfile").read() == b"new\n"
    ok(d, "export", "-o", str(tmp_path / "e.tar"), cid)
    assert tarfile.open(tmp_path / "e.tar").getnames() == names
    image = f"committed{secrets.token_hex(3)}"
    ok(d, "commit", cid, image)
    out = ok(d, "run", "--rm", image, "sh", "-c", "cat /etc/newfile; ls -A /data; ls /bin/arch 2>&1 || true")
    assert out.splitlines()[0] == "new" and "in-volume" not in out
    ok(d, "rm", cid)
    ok(d, "rmi", image)
    ok(d, "volume", "rm", vol)
