"""Divergences from dockerd found by bench/conformance_diff.py that belong to no feature issue.

Each test pins what dockerd answers (the CLI's output, the API's status code,
text or JSON shape) where dockyard answered otherwise; the side-by-side runs
are in bench/conformance_diff.py's network, volume, images, system, events and
runtime groups.
"""

from __future__ import annotations

import json
import os
import secrets
import time

import pytest

from tests.support.daemon import docker


@pytest.fixture
def tag() -> str:
    return "pa" + secrets.token_hex(3)


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def cleanup(d, *names: str, networks: tuple[str, ...] = (), volumes: tuple[str, ...] = ()) -> None:
    docker(d, "rm", "-f", *names)
    for n in networks:
        docker(d, "network", "rm", n)
    for v in volumes:
        docker(d, "volume", "rm", "-f", v)


# -- containers: list, logs, top, stats -----------------------------------------------------------

def test_ps_command_quotes_an_argument_holding_a_space(d, tag):
    """dockerd's list wraps an argument with a space in single quotes (``"sh -c 'echo a; echo b'"``)."""
    name = f"{tag}-q"
    try:
        docker(d, "create", "--network", "none", "--name", name, "busybox", "sh", "-c", "echo a; echo b", check=True)
        out = docker(d, "ps", "-a", "--no-trunc", "--filter", f"name={name}", "--format", "{{.Command}}",
                     check=True).stdout.strip()
        assert out == "\"sh -c 'echo a; echo b'\""
        status, body = d.request("GET", f'/containers/json?all=1&filters={{"name":["{name}"]}}')
        assert status == 200 and body[0]["Command"] == "sh -c 'echo a; echo b'"
    finally:
        cleanup(d, name)


def test_logs_details_prints_the_log_attributes(d, tag):
    """``logs --details``: the attributes picked by the labels/env log options, then a space, then the line."""
    plain, rich = f"{tag}-plain", f"{tag}-rich"
    try:
        docker(d, "run", "--network", "none", "--name", plain, "busybox", "echo", "hi", check=True)
        docker(d, "run", "--network", "none", "--name", rich, "--label", "team=a b", "-e", "STAGE=dev",
               "--log-opt", "labels=team", "--log-opt", "env=STAGE", "busybox", "echo", "hi", check=True)
        assert docker(d, "logs", "--details", plain, check=True).stdout == " hi\n"
        assert docker(d, "logs", "--details", rich, check=True).stdout == "STAGE=dev,team=a+b hi\n"
        assert docker(d, "logs", rich, check=True).stdout == "hi\n"
    finally:
        cleanup(d, plain, rich)


def test_top_error_is_ps_first_line(d, tag):
    """A ps that refuses its arguments: ``ps: <first line of its complaint>``, not its usage text."""
    name = f"{tag}-top"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        p = docker(d, "top", name, "-o", "bogus")
        assert p.returncode == 1
        assert p.stderr.strip() == 'Error response from daemon: ps: error: unknown user-defined format specifier ' \
                                   '"bogus"'
        status, body = d.request("GET", f"/containers/{name}/top?ps_args=bogus")
        assert status == 500 and body["message"] == "ps: error: unsupported option (BSD syntax)"
    finally:
        cleanup(d, name)


@pytest.mark.skipif(os.path.exists("/sys/fs/cgroup/cgroup.controllers"), reason="cgroup v2 host: lists are null")
def test_stats_blkio_lists_on_cgroup_v1(d, tag):
    """On cgroup v1 dockerd fills every blkio list, ``[]`` when empty (clients iterate them)."""
    name = f"{tag}-st"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        status, body = d.request("GET", f"/containers/{name}/stats?stream=false")
        assert status == 200
        assert {k: type(v) for k, v in body["blkio_stats"].items()} == {
            k: list for k in ("io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                              "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                              "io_time_recursive", "sectors_recursive")}
    finally:
        cleanup(d, name)


# -- events -----------------------------------------------------------------------------------

def test_events_since_after_until_is_refused(d):
    now = int(time.time())
    p = docker(d, "events", "--since", str(now), "--until", "0")
    assert p.returncode == 1
    assert p.stderr.strip() == f"Error response from daemon: `since` time ({now}) cannot be after `until` time (0)"
    status, body = d.request("GET", f"/events?since={now}&until={now - 10}")
    assert status == 400 and "cannot be after `until` time" in body["message"]


def test_prunes_are_events(d, tag):
    """dockerd logs one ``prune`` event per container, volume and network prune (volumes/containers: reclaimed)."""
    since = time.time()
    for kind in ("container", "volume", "network"):
        docker(d, kind, "prune", "-f", "--filter", f"label={tag}", check=True)
    out = docker(d, "events", "--since", f"{since:.3f}", "--until", str(int(time.time()) + 1), "--filter",
                 "event=prune", "--format", "{{.Type}} {{json .Actor.Attributes}}", check=True).stdout.splitlines()
    assert out == ['container {"reclaimed":"0"}', 'volume {"reclaimed":"0"}', "network {}"]
    status, items = d.request("GET", f"/events?since={since:.3f}&until={int(time.time()) + 1}"
                                     '&filters={"event":["prune"],"type":["container"]}')
    first = items if isinstance(items, dict) else json.loads(items.splitlines()[0])
    assert status == 200 and first["Action"] == "prune" and "id" not in first  # moby: id omitempty


# -- networks ---------------------------------------------------------------------------------

def test_network_connect_of_a_none_mode_container(d, tag):
    """``--network none`` cannot join another network (dockerd's words, 400); joining none again is a no-op."""
    name, net = f"{tag}-none", f"{tag}-net"
    try:
        docker(d, "network", "create", net, check=True)
        docker(d, "create", "--network", "none", "--name", name, "busybox", "true", check=True)
        p = docker(d, "network", "connect", net, name)
        assert p.returncode == 1
        assert p.stderr.strip() == ("Error response from daemon: container cannot be connected to multiple networks "
                                    "with one of the networks in private (none) mode")
        status, _ = d.request("POST", f"/networks/{net}/connect", {"Container": name})
        assert status == 400
        assert docker(d, "network", "connect", "none", name).returncode == 0
    finally:
        cleanup(d, name, networks=(net,))


def test_network_connect_disconnect_of_a_stopped_container(d, tag):
    """A stopped container: connecting twice keeps the config; disconnecting from a network it is not on
    answers dockerd's 'is not connected to the network' (a 500 there)."""
    name, net = f"{tag}-br", f"{tag}-net"
    since = time.time()
    try:
        docker(d, "network", "create", net, check=True)
        docker(d, "create", "--name", name, "busybox", "true", check=True)
        docker(d, "network", "connect", net, name, check=True)
        assert docker(d, "network", "connect", net, name).returncode == 0
        docker(d, "network", "disconnect", net, name, check=True)
        events = docker(d, "events", "--since", f"{since:.3f}", "--until", str(int(time.time()) + 1), "--filter",
                        f"network={net}", "--format", "{{.Action}}", check=True).stdout.split()
        assert events == ["create", "disconnect"]  # as dockerd: no connect event until a start
        p = docker(d, "network", "disconnect", net, name)
        assert p.returncode == 1
        cid = docker(d, "inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
        assert p.stderr.strip() == f"Error response from daemon: container {cid} is not connected to the network {net}"
        status, _ = d.request("POST", f"/networks/{net}/disconnect", {"Container": name})
        assert status == 500
    finally:
        cleanup(d, name, networks=(net,))


# -- volumes ----------------------------------------------------------------------------------

def test_volume_create_unknown_driver_names_the_volume(d, tag):
    p = docker(d, "volume", "create", "--driver", "nosuchdriver", f"{tag}-v")
    assert p.returncode == 1
    assert p.stderr.strip() == (f"Error response from daemon: create {tag}-v: error looking up volume plugin "
                                'nosuchdriver: plugin "nosuchdriver" not found')


def test_volume_create_of_an_existing_volume_is_an_event(d, tag):
    """dockerd logs ``create`` for every create that succeeds (a container naming the volume too)."""
    vol, name = f"{tag}-vol", f"{tag}-vc"
    since = time.time()
    try:
        docker(d, "volume", "create", vol, check=True)
        docker(d, "volume", "create", vol, check=True)
        docker(d, "create", "--network", "none", "--name", name, "-v", f"{vol}:/data", "busybox", "true", check=True)
        out = docker(d, "events", "--since", f"{since:.3f}", "--until", str(int(time.time()) + 1), "--filter",
                     f"volume={vol}", "--filter", "event=create", "--format", "{{.Action}}", check=True).stdout
        assert out.split() == ["create"] * 3
    finally:
        cleanup(d, name, volumes=(vol,))


def test_volume_prune_of_nothing_is_an_empty_list(d, tag):
    status, body = d.request("POST", f'/volumes/prune?filters={{"label":["{tag}"]}}')
    assert status == 200 and body == {"VolumesDeleted": [], "SpaceReclaimed": 0}


# -- system df --------------------------------------------------------------------------------

def test_system_df_counts_a_shared_layer_once(d, tag):
    """An image committed from busybox shares its layer: LayersSize counts it once, SharedSize shows it."""
    name, image = f"{tag}-c", f"{tag}-img:1"
    try:
        docker(d, "run", "--network", "none", "--name", name, "busybox", "true", check=True)
        docker(d, "commit", name, image, check=True)
        status, body = d.request("GET", "/system/df")
        assert status == 200
        by_tag = {t: img for img in body["Images"] for t in img.get("RepoTags") or []}
        base, child = by_tag["busybox:latest"], by_tag[image]
        assert base["SharedSize"] == base["Size"] and child["SharedSize"] >= base["Size"]
        # the base layer is counted once: the images' Sizes add up to more than the layers
        assert body["LayersSize"] <= sum(img["Size"] for img in body["Images"]) - base["Size"]
    finally:
        cleanup(d, name)
        docker(d, "rmi", image)


# -- import / load / cp of something that is not a tar ----------------------------------------

def test_not_a_tar_is_worded_as_dockerd(d, tag, tmp_path):
    """dockerd's untar helper's words (the issue asks for ``load`` errors as dockerd's)."""
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"this is not a tar archive\n" * 40)
    want = "Error processing tar file(exit status 1): archive/tar: invalid tar header"
    p = docker(d, "load", "-i", str(garbage))
    assert p.returncode == 1 and p.stderr.strip() == want
    p = docker(d, "import", str(garbage), f"{tag}-imp")
    assert p.returncode == 1 and p.stderr.strip() == f"Error response from daemon: {want}"


@pytest.mark.parametrize("rm", [[], ["--rm"]], ids=["keep", "rm"])
def test_run_with_a_file_as_working_dir(d, tag, rm):
    """dockerd's words for a working directory that is a file; the failed start's answer is all the
    CLI prints (no error line from the attach stream, no "Error waiting for container" with --rm)."""
    p = docker(d, "run", *rm, "--name", f"{tag}-wd", "--network", "none", "-w", "/etc/passwd", "busybox", "true")
    assert p.returncode == 125
    assert p.stderr == ("docker: Error response from daemon: Cannot mkdir: /etc/passwd is not a directory\n\n"
                        "Run 'docker run --help' for more information\n")
    cleanup(d, f"{tag}-wd")


def test_image_size_counts_symlinks_as_dockerd(d, busybox_tar, tmp_path):
    """dockerd's layer size walks the unpacked layer: every non-directory's lstat size once per inode,
    so busybox's applet symlinks count (the SIZE column of ``docker images``)."""
    import tarfile

    with tarfile.open(busybox_tar) as tf:
        tf.extractall(tmp_path / "root", filter="tar")
    want, seen = 0, set()
    for dirpath, dirnames, filenames in os.walk(tmp_path / "root"):
        for name in dirnames + filenames:
            st = os.lstat(os.path.join(dirpath, name))
            if not os.path.isdir(os.path.join(dirpath, name)) or os.path.islink(os.path.join(dirpath, name)):
                if st.st_ino not in seen:
                    seen.add(st.st_ino)
                    want += st.st_size
    size = docker(d, "image", "inspect", "--format", "{{.Size}}", "busybox", check=True).stdout.strip()
    assert int(size) == want


def test_none_network_endpoint_events(d, tag):
    """dockerd connects a ``--network none`` container to the none network on start (an EndpointID,
    a ``network connect`` event of type null) and disconnects it when it stops."""
    name = f"{tag}-nn"
    since = time.time()
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        fmt = "{{.NetworkSettings.Networks.none.EndpointID}}"
        assert len(docker(d, "inspect", "--format", fmt, name, check=True).stdout.strip()) == 64
        listed = json.loads(docker(d, "network", "inspect", "--format", "{{json .Containers}}", "none",
                                   check=True).stdout)
        cid = docker(d, "inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
        assert listed[cid]["Name"] == name and listed[cid]["IPv4Address"] == ""  # network inspect lists it
        docker(d, "stop", "-t", "0", name, check=True)
        assert docker(d, "inspect", "--format", fmt, name, check=True).stdout.strip() == ""
        out = docker(d, "events", "--since", f"{since:.3f}", "--until", str(int(time.time()) + 1), "--filter",
                     "type=network", "--format", "{{.Action}} {{json .Actor.Attributes}}",
                     check=True).stdout.splitlines()
        attrs = json.dumps({"container": cid, "name": "none", "type": "null"}, separators=(",", ":"))
        assert [line for line in out if cid in line] == [f"connect {attrs}", f"disconnect {attrs}"]
    finally:
        cleanup(d, name)


def test_missing_program_is_quoted_as_runc_does(d, tag):
    """runc's words: ``exec: "prog": executable file not found in $PATH`` (Go's %q quoting)."""
    name = f"{tag}-run"
    try:
        p = docker(d, "run", "--name", name, "--network", "none", "busybox", "nosuchcmd")
        assert p.returncode == 127
        assert 'exec: "nosuchcmd": executable file not found in $PATH' in p.stderr
        docker(d, "run", "-d", "--name", f"{tag}-ex", "--network", "none", "busybox", "sleep", "100", check=True)
        p = docker(d, "exec", f"{tag}-ex", "nosuchcmd")
        assert 'exec: "nosuchcmd": executable file not found in $PATH' in p.stdout + p.stderr
    finally:
        cleanup(d, name, f"{tag}-ex")


@pytest.mark.parametrize("key", ["before", "since"])
def test_ps_before_since_unknown_container(d, key):
    p = docker(d, "ps", "-a", "--filter", f"{key}=nosuchcontainer")
    assert p.returncode == 1 and p.stderr.strip() == "Error response from daemon: no such container nosuchcontainer"
    status, _ = d.request("GET", f'/containers/json?filters={{"{key}":["nosuchcontainer"]}}')
    assert status == 404


@pytest.mark.parametrize("kind", ["container", "network"])
def test_prune_with_an_unknown_filter_is_refused_and_prunes_nothing(d, tag, kind):
    """A filter the prune does not know is an error (it used to be ignored: everything was pruned)."""
    keep = f"{tag}-keep"
    if kind == "container":
        docker(d, "create", "--network", "none", "--name", keep, "busybox", "true", check=True)
    else:
        docker(d, "network", "create", keep, check=True)
    try:
        p = docker(d, kind, "prune", "-f", "--filter", "bogus=1")
        assert p.returncode == 1 and p.stderr.strip() == "Error response from daemon: invalid filter 'bogus'"
        status, _ = d.request("POST", f'/{kind}s/prune?filters={{"bogus":["1"]}}')
        assert status == 400
        assert docker(d, kind, "inspect", keep).returncode == 0
    finally:
        if kind == "container":
            cleanup(d, keep)
        else:
            cleanup(d, networks=(keep,))


def test_kill_unknown_container_is_wrapped(d):
    p = docker(d, "kill", "nosuchcontainer")
    assert p.returncode == 1
    assert p.stderr.strip() == ("Error response from daemon: Cannot kill container: nosuchcontainer: "
                                "No such container: nosuchcontainer")
    assert d.request("POST", "/containers/nosuchcontainer/kill")[0] == 404


def test_exec_in_a_missing_workdir_is_worded_as_runc(d, tag):
    name = f"{tag}-wd2"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        p = docker(d, "exec", "-w", "/nosuchdir", name, "true")
        assert p.returncode != 0
        assert 'chdir to cwd ("/nosuchdir") set in config.json failed: no such file or directory' in \
            p.stdout + p.stderr
    finally:
        cleanup(d, name)


def test_create_checks_capability_names(d, tag):
    p = docker(d, "create", "--network", "none", "--name", f"{tag}-cap", "--cap-add", "BOGUS", "busybox", "true")
    assert p.returncode == 1
    assert p.stderr.strip() == 'Error response from daemon: invalid CapAdd: unknown capability: "CAP_BOGUS"'
    p = docker(d, "create", "--network", "none", "--name", f"{tag}-cap", "--cap-drop", "nope", "busybox", "true")
    assert p.stderr.strip() == 'Error response from daemon: invalid CapDrop: unknown capability: "CAP_NOPE"'
    assert docker(d, "inspect", f"{tag}-cap").returncode == 1  # nothing created


def test_create_platform_of_another_architecture(d, tag):
    """``--platform`` is checked against the local image (never ignored): another one is moby's NotFound."""
    import platform as host

    other = "linux/arm64" if host.machine() == "x86_64" else "linux/amd64"
    status, body = d.request("POST", f"/containers/create?name={tag}-pf&platform={other}",
                             {"Image": "busybox", "Cmd": ["true"]})
    assert status == 404
    assert body["message"].startswith(f"image with reference busybox was found but does not match the specified "
                                      f"platform: wanted {other}, actual: linux/")
    assert docker(d, "create", "--network", "none", "--platform", other, "busybox", "true").returncode != 0
    assert docker(d, "inspect", f"{tag}-pf").returncode == 1
    own = "linux/amd64" if host.machine() == "x86_64" else "linux/arm64"
    status, body = d.request("POST", f"/containers/create?name={tag}-pf&platform={own}",
                             {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}})
    assert status == 201, body
    cleanup(d, f"{tag}-pf")


def test_create_pid_of_an_unknown_container(d, tag):
    p = docker(d, "create", "--network", "none", "--name", f"{tag}-pid", "--pid", "container:nosuchcontainer",
               "busybox", "true")
    assert p.returncode == 1 and p.stderr.strip() == "Error response from daemon: No such container: nosuchcontainer"
    assert docker(d, "inspect", f"{tag}-pid").returncode == 1
    status, _ = d.request("POST", "/containers/create", {"Image": "busybox", "HostConfig": {
        "PidMode": "container:nosuchcontainer"}})
    assert status == 400


def test_port_already_allocated_names_the_endpoint_and_its_id(d, tag):
    import re
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    names = [f"{tag}-p1", f"{tag}-p2"]
    try:
        docker(d, "run", "-d", "--name", names[0], "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "30",
               check=True)
        p = docker(d, "run", "-d", "--name", names[1], "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "30")
        assert p.returncode == 125
        assert re.search(rf"driver failed programming external connectivity on endpoint {names[1]} \([0-9a-f]{{64}}\): "
                         rf"Bind for 127.0.0.1:{port} failed: port is already allocated", p.stderr), p.stderr
    finally:
        cleanup(d, *names)
