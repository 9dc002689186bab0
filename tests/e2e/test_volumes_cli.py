"""Named and anonymous volumes with the real docker CLI: volume commands, -v, --mount, copy-up."""

from __future__ import annotations

import json
import os
import secrets

import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def uniq(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(3)}"


def ok(d, *args, **kw) -> str:
    return docker(d, *args, check=True, **kw).stdout


def fail(d, *args) -> str:
    p = docker(d, *args)
    assert p.returncode != 0, p.stdout
    return p.stderr


def test_volume_create_ls_inspect_rm(d):
    name = uniq("vol")
    assert ok(d, "volume", "create", "--label", "team=db", "--label", "x", name).strip() == name
    info = json.loads(ok(d, "volume", "inspect", name))[0]
    assert info["Name"] == name and info["Driver"] == "local" and info["Scope"] == "local"
    assert info["Labels"] == {"team": "db", "x": ""} and info["Options"] is None
    assert info["Mountpoint"] == os.path.join(d.data_root, "volumes", name, "_data")
    assert os.path.isdir(info["Mountpoint"]) and info["CreatedAt"].endswith("Z")
    generated = ok(d, "volume", "create").strip()
    assert len(generated) == 64
    assert name in ok(d, "volume", "ls", "-q").split()
    assert ok(d, "volume", "ls", "-q", "--filter", "label=team=db").split() == [name]
    assert ok(d, "volume", "ls", "-q", "--filter", f"name={name}").split() == [name]
    assert name in ok(d, "volume", "ls", "-q", "--filter", "driver=local").split()
    assert ok(d, "volume", "ls", "--format", "{{.Name}} {{.Driver}}", "-f", "label=team").strip() == f"{name} local"
    assert name in ok(d, "volume", "ls", "-q", "-f", "dangling=true").split()
    ok(d, "volume", "rm", name, generated)
    assert name not in ok(d, "volume", "ls", "-q").split()
    assert not os.path.exists(info["Mountpoint"])
    assert "get nosuch: no such volume" in fail(d, "volume", "inspect", "nosuch")
    assert "no such volume" in fail(d, "volume", "rm", "nosuch")
    ok(d, "volume", "rm", "-f", "nosuch")


@pytest.mark.parametrize("name,message", [
    ("a/b", '"a/b" includes invalid characters for a local volume name'),
    ("..", "includes invalid characters"),
    ("x", "volume name is too short"),
])
def test_volume_bad_names_refused(d, name, message):
    assert message in fail(d, "volume", "create", name)
    # (the CLI turns a relative "..:/data" into a bind of an absolute path: ask the API itself)
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"],
                                                            "HostConfig": {"Binds": [f"{name}:/data"]}})
    assert status == 400 and message in body["message"]


def test_volume_options_and_errors(d):
    name = uniq("tmpv")
    ok(d, "volume", "create", "-o", "type=tmpfs", "-o", "device=tmpfs", "-o", "o=size=4m", name)
    assert json.loads(ok(d, "volume", "inspect", name))[0]["Options"] == {
        "type": "tmpfs", "device": "tmpfs", "o": "size=4m"}
    out = ok(d, "run", "--rm", "-v", f"{name}:/t", "busybox", "sh", "-c", "grep ' /t ' /proc/mounts; df -k /t")
    assert "tmpfs /t tmpfs" in out and "4096" in out
    assert 'invalid option: "foo"' in fail(d, "volume", "create", "-o", "foo=1", uniq("bad"))
    assert 'missing required option: "device"' in fail(d, "volume", "create", "-o", "type=tmpfs", uniq("bad"))
    assert 'plugin "nope" not found' in fail(d, "volume", "create", "-d", "nope", uniq("bad"))
    src = f"/tmp/{uniq('bindsrc')}"
    os.makedirs(src)
    try:
        with open(f"{src}/hello", "w") as f:
            f.write("from host\n")
        bname = uniq("bindv")
        ok(d, "volume", "create", "-o", "type=none", "-o", "o=bind", "-o", f"device={src}", bname)
        assert ok(d, "run", "--rm", "-v", f"{bname}:/b", "busybox", "cat", "/b/hello") == "from host\n"
        ok(d, "volume", "rm", bname)
        assert os.path.exists(f"{src}/hello")  # the bound host directory is not the volume's to delete
    finally:
        os.system(f"rm -rf {src}")
    ok(d, "volume", "rm", name)


def test_named_volume_shared_between_containers(d):
    name = uniq("shared")
    ok(d, "run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "echo 42 > /data/answer")
    assert ok(d, "run", "--rm", "-v", f"{name}:/x:ro", "busybox", "cat", "/x/answer") == "42\n"
    err = docker(d, "run", "--rm", "-v", f"{name}:/x:ro", "busybox", "sh", "-c", "echo no > /x/answer")
    assert err.returncode != 0 and "Read-only file system" in err.stderr
    assert name in ok(d, "volume", "ls", "-q")  # --rm never removes a named volume
    ok(d, "volume", "rm", name)


def test_rm_refused_in_use_and_prune(d):
    name, keep = uniq("inuse"), uniq("keep")
    cid = ok(d, "create", "-v", f"{name}:/data", "-v", "/anon", "busybox", "true").strip()
    mounts = json.loads(ok(d, "inspect", cid))[0]["Mounts"]
    anon = next(m["Name"] for m in mounts if m["Destination"] == "/anon")
    assert f"remove {name}: volume is in use - [{cid}]" in fail(d, "volume", "rm", name)
    assert "volume is in use" in fail(d, "volume", "rm", "-f", name)
    ok(d, "volume", "create", "--label", "keep=1", keep)
    pruned = ok(d, "volume", "prune", "-f")
    assert name not in pruned and anon not in pruned and keep not in pruned  # in use / named
    ok(d, "rm", cid)  # without -v the anonymous volume stays
    assert anon in ok(d, "volume", "ls", "-q", "-f", "dangling=true")
    assert json.loads(ok(d, "volume", "inspect", anon))[0]["Labels"] == {"com.docker.volume.anonymous": ""}
    pruned = ok(d, "volume", "prune", "-f")
    assert anon in pruned and name not in pruned and "Total reclaimed space" in pruned
    pruned = ok(d, "volume", "prune", "-af", "--filter", "label!=keep")
    assert name in pruned and keep not in pruned
    ok(d, "volume", "rm", keep)


def test_rm_v_and_auto_remove_take_anonymous_only(d):
    name = uniq("named")
    cid = ok(d, "create", "-v", f"{name}:/n", "-v", "/anon", "busybox", "true").strip()
    anon = next(m["Name"] for m in json.loads(ok(d, "inspect", cid))[0]["Mounts"] if m["Destination"] == "/anon")
    ok(d, "rm", "-v", cid)
    vols = ok(d, "volume", "ls", "-q").split()
    assert name in vols and anon not in vols
    ok(d, "run", "--rm", "--name", "autorm", "-v", "/anon2", "-v", f"{name}:/n", "busybox", "true")
    assert ok(d, "volume", "ls", "-q").split().count(name) == 1
    assert len(ok(d, "volume", "ls", "-q").split()) == len(vols) - 0  # /anon2 went with the container
    ok(d, "volume", "rm", name)


def test_image_volume_copy_up_keeps_owners_modes_symlinks(d):
    base = uniq("cubase")
    ok(d, "run", "--name", base, "busybox", "sh", "-c",
       "mkdir -p /srv/d && echo x > /srv/d/f && ln -s d/f /srv/link && chown -R 1234:99 /srv && "
       "chmod 0750 /srv/d && chmod 0711 /srv && chmod 0604 /srv/d/f")
    image = uniq("vimg")
    ok(d, "commit", "-c", "VOLUME /srv", base, image)
    ok(d, "rm", base)
    assert json.loads(ok(d, "image", "inspect", image))[0]["Config"]["Volumes"] == {"/srv": {}}
    script = "stat -c '%n %u %g %a %F' /srv /srv/d /srv/d/f /srv/link; readlink /srv/link; cat /srv/link"
    want = ["/srv 1234 99 711 directory", "/srv/d 1234 99 750 directory", "/srv/d/f 1234 99 604 regular file",
            "/srv/link 1234 99 777 symbolic link", "d/f", "x"]
    name = uniq("cu")
    assert ok(d, "run", "--rm", "-v", f"{name}:/srv", image, "sh", "-c", script).splitlines() == want
    # an anonymous volume from the image's VOLUME is filled too
    cid = ok(d, "create", image, "sh", "-c", script).strip()
    mounts = json.loads(ok(d, "inspect", cid))[0]["Mounts"]
    assert [(m["Type"], m["Destination"], m["Mode"], m["RW"]) for m in mounts] == [("volume", "/srv", "", True)]
    assert ok(d, "start", "-a", cid).splitlines() == want
    ok(d, "rm", "-v", cid)
    # a volume with content is not overwritten; nocopy leaves it empty
    ok(d, "run", "--rm", "-v", f"{name}:/srv", "busybox", "sh", "-c", "rm -rf /srv/* && echo mine > /srv/own")
    assert ok(d, "run", "--rm", "-v", f"{name}:/srv", image, "ls", "/srv").split() == ["own"]
    empty = uniq("nocopy")
    assert ok(d, "run", "--rm", "-v", f"{empty}:/srv:nocopy", image, "ls", "-A", "/srv") == ""
    assert ok(d, "run", "--rm", "--mount", f"type=volume,source={uniq('nc')},target=/srv,volume-nocopy",
              image, "ls", "-A", "/srv") == ""
    ok(d, "volume", "prune", "-af")
    ok(d, "rmi", image)


def test_mount_flag_types_and_inspect(d, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    vol = uniq("mv")
    cid = ok(d, "run", "-d", "--mount", f"type=volume,source={vol},target=/v,readonly",
             # private: a slave/shared propagation needs a shared host mount (see test_run_parity.py)
             "--mount", f"type=bind,source={host},target=/b,bind-propagation=private",
             "--mount", "type=tmpfs,target=/t,tmpfs-size=2m,tmpfs-mode=1770",
             "--mount", f"type=volume,source={uniq('opt')},target=/o,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
             "busybox", "sh", "-c", "grep -E ' /(v|b|t|o) ' /proc/mounts; stat -c %a /t; touch /b/made; sleep 30").strip()
    try:
        ok(d, "wait", "--help")  # keep CLI warm; the container keeps running
        mounts = {m["Destination"]: m for m in json.loads(ok(d, "inspect", cid))[0]["Mounts"]}
        assert mounts["/v"] == {"Type": "volume", "Name": vol, "Source": os.path.join(d.data_root, "volumes", vol, "_data"),
                                "Destination": "/v", "Driver": "local", "Mode": "z", "RW": False, "Propagation": ""}
        assert mounts["/b"] == {"Type": "bind", "Source": str(host), "Destination": "/b", "Mode": "", "RW": True,
                                "Propagation": "private"}
        assert mounts["/t"] == {"Type": "tmpfs", "Source": "", "Destination": "/t", "Mode": "", "RW": True,
                                "Propagation": ""}
        hc = json.loads(ok(d, "inspect", cid))[0]["HostConfig"]
        assert {m["Type"] for m in hc["Mounts"]} == {"volume", "bind", "tmpfs"}
        for _ in range(50):
            if (host / "made").exists():
                break
            import time
            time.sleep(0.1)
        logs = ok(d, "logs", cid)
        assert " /v " in logs and "ro," in logs.split(" /v ")[1].split("\n")[0]
        assert "tmpfs /t tmpfs" in logs and "1770" in logs and "tmpfs /o tmpfs" in logs
        assert (host / "made").exists()
    finally:
        ok(d, "rm", "-f", cid)
    err = fail(d, "run", "--rm", "--mount", "type=bind,source=/nonexistent-dy,target=/x", "busybox", "true")
    assert 'invalid mount config for type "bind": bind source path does not exist: /nonexistent-dy' in err
    made = tmp_path / "made-by-v"
    ok(d, "run", "--rm", "-v", f"{made}:/x", "busybox", "true")
    assert made.is_dir()  # -v creates a missing host directory, as Docker
    assert "field Source must not be specified" in fail(d, "run", "--rm", "--mount", "type=tmpfs,source=a,target=/x",
                                                        "busybox", "true")
    assert "Duplicate mount point: /x" in fail(d, "run", "--rm", "-v", "a1:/x", "-v", "a2:/x", "busybox", "true")
    # a 404 makes the CLI try a pull first (as against dockerd): ask the API itself
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {
        "VolumeDriver": "foo", "Binds": ["zz:/x"]}})
    assert status == 404 and body["message"] == 'error looking up volume plugin foo: plugin "foo" not found'
    # without volumes the driver is never looked up: stored, as dockerd (docker-py's test_create_with_volume_driver)
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {
        "VolumeDriver": "foo"}})
    assert status == 201, body
    assert d.request("GET", f"/containers/{body['Id']}/json")[1]["HostConfig"]["VolumeDriver"] == "foo"
    d.request("DELETE", f"/containers/{body['Id']}")


def test_volumes_from(d):
    name = uniq("vf")
    src = ok(d, "create", "--name", uniq("src"), "-v", f"{name}:/data", "-v", "/anon", "busybox", "true").strip()
    ok(d, "run", "--rm", "--volumes-from", src, "busybox", "sh", "-c", "echo v > /data/f && echo a > /anon/g")
    assert ok(d, "run", "--rm", "--volumes-from", src, "busybox", "cat", "/data/f", "/anon/g") == "v\na\n"
    p = docker(d, "run", "--rm", "--volumes-from", f"{src}:ro", "busybox", "touch", "/data/x")
    assert p.returncode != 0 and "Read-only file system" in p.stderr
    user = ok(d, "create", "--volumes-from", f"{src}:ro", "busybox", "true").strip()
    mounts = {m["Destination"]: m for m in json.loads(ok(d, "inspect", user))[0]["Mounts"]}
    assert mounts["/data"]["Name"] == name and mounts["/data"]["RW"] is False
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {
        "VolumesFrom": ["nosuchctr"]}})
    # dockerd answers 400 (seen against Debian's 20.10), so the CLI does not try a pull first
    assert status == 400 and body["message"] == "No such container: nosuchctr"
    ok(d, "rm", "-v", user)
    ok(d, "rm", "-v", src)
    ok(d, "volume", "rm", name)


def test_system_df_lists_volumes(d):
    name = uniq("df")
    cid = ok(d, "create", "-v", f"{name}:/data", "busybox", "true").strip()
    ok(d, "run", "--rm", "-v", f"{name}:/data", "busybox", "sh", "-c", "head -c 100000 /dev/zero > /data/z")
    out = ok(d, "system", "df", "-v")
    line = next(ln for ln in out.splitlines() if ln.startswith(name))
    assert line.split()[1] == "1" and line.split()[2] in ("100kB", "100.0kB")
    status, body = d.request("GET", "/system/df?type=volume")
    vol = next(v for v in body["Volumes"] if v["Name"] == name)
    assert vol["UsageData"] == {"Size": 100000, "RefCount": 1}
    ok(d, "rm", cid)
    ok(d, "volume", "rm", name)


def test_mount_create_mountpoint_subpath_tmpfs_options(d, tmp_path):
    made = tmp_path / "created" / "here"
    # (BindOptions.CreateMountpoint has no --mount key in the CLI: the API itself)
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["touch", "/b/x"], "HostConfig": {
        "Mounts": [{"Type": "bind", "Source": str(made), "Target": "/b", "BindOptions": {"CreateMountpoint": True}}]}})
    assert status == 201, body
    ok(d, "start", "-a", body["Id"])
    assert (made / "x").exists()
    ok(d, "rm", body["Id"])
    vol = uniq("sub")
    ok(d, "run", "--rm", "-v", f"{vol}:/v", "busybox", "sh", "-c", "mkdir -p /v/a/b && echo deep > /v/a/b/f")
    assert ok(d, "run", "--rm", "--mount", f"type=volume,source={vol},target=/s,volume-subpath=a/b", "busybox",
              "cat", "/s/f") == "deep\n"
    err = fail(d, "run", "--rm", "--mount", f"type=volume,source={vol},target=/s,volume-subpath=nope", "busybox", "true")
    assert "cannot access path" in err and "nope" in err
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["true"], "HostConfig": {
        "Mounts": [{"Type": "volume", "Source": vol, "Target": "/s", "VolumeOptions": {"Subpath": "../x"}}]}})
    assert status == 400 and "subpath must be a relative path within the volume" in body["message"]
    status, body = d.request("POST", "/containers/create", {"Image": "busybox", "Cmd": ["sh", "-c", "grep ' /t ' /proc/mounts"],
                                                            "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t",
                                                                                       "TmpfsOptions": {"Options": [["exec"]]}}]}})
    assert status == 201, body
    ok(d, "start", body["Id"])
    ok(d, "wait", body["Id"])
    line = ok(d, "logs", body["Id"])
    assert "tmpfs /t tmpfs" in line and "noexec" not in line
    ok(d, "rm", body["Id"])
    ok(d, "volume", "rm", vol)
