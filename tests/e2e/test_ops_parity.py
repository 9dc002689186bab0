"""The commands that act on existing containers, as dockerd answers them (found by conformance_diff --only ops).

Each test pins, with the real docker CLI, what dockerd does where dockyard did
otherwise; the side-by-side rows are in bench/conformance_ops_scenarios.py.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time

import pytest

from tests.support.daemon import docker


@pytest.fixture
def tag() -> str:
    return "op" + secrets.token_hex(3)


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def test_logs_negative_tail_is_all(d, tag):
    """``--tail -1`` (any negative count) prints the whole log, as moby (it printed nothing)."""
    name = f"{tag}-logs"
    try:
        docker(d, "run", "--network", "none", "--name", name, "busybox", "sh", "-c", "echo 1; echo 2; echo 3",
               check=True)
        assert docker(d, "logs", "--tail", "-1", name, check=True).stdout == "1\n2\n3\n"
        assert docker(d, "logs", "--tail", "-5", name, check=True).stdout == "1\n2\n3\n"
        assert docker(d, "logs", "--tail", "1", name, check=True).stdout == "3\n"
    finally:
        docker(d, "rm", "-f", name)


def test_logs_of_the_none_driver_cannot_be_read(d, tag):
    """``--log-driver none``: ``docker logs`` fails as dockerd's (501), it does not print the output."""
    name = f"{tag}-nolog"
    try:
        docker(d, "run", "--network", "none", "--log-driver", "none", "--name", name, "busybox", "echo", "hi",
               check=True)
        for args in (["logs", name], ["logs", "-f", name]):
            p = docker(d, *args)
            assert p.returncode == 1 and p.stdout == ""
            assert p.stderr.strip() == "Error response from daemon: configured logging driver does not support " \
                                       "reading"
        status, body = d.request("GET", f"/containers/{name}/logs?stdout=1")
        assert status == 501 and body["message"] == "configured logging driver does not support reading"
    finally:
        docker(d, "rm", "-f", name)


def test_ps_exited_filter_does_not_imply_all(d, tag):
    """``ps --filter exited=0`` without ``-a`` lists nothing (moby: only ``status`` implies --all)."""
    name = f"{tag}-ex"
    try:
        docker(d, "run", "--network", "none", "--name", name, "busybox", "true", check=True)
        assert docker(d, "ps", "--filter", "exited=0", "--filter", f"name={name}", "-q", check=True).stdout == ""
        assert docker(d, "ps", "-a", "--filter", "exited=0", "--filter", f"name={name}", "--format",
                      "{{.Names}}", check=True).stdout == f"{name}\n"
        assert docker(d, "ps", "--filter", "status=exited", "--filter", f"name={name}", "--format",
                      "{{.Names}}", check=True).stdout == f"{name}\n"
    finally:
        docker(d, "rm", "-f", name)


def _tree(top: str) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, n), top))
    return sorted(out)


def test_cp_of_a_directory_with_a_trailing_slash(d, tag, tmp_path):
    """``docker cp ctr:/dir/ out/`` copies the directory as ``out`` (named after it, as moby: only ``/dir/.``
    is its contents), also through a symlink to a directory; it failed with 'cannot overwrite non-directory'."""
    name = f"{tag}-cp"
    try:
        docker(d, "run", "--network", "none", "--name", name, "busybox", "sh", "-c",
               "mkdir -p /d/sub /d/empty && echo a > /d/f && echo b > /d/sub/g && ln -s /d /dlink", check=True)
        for src, dest in (("/d/", "c1/"), ("/d/", "c2"), ("/dlink/", "c3")):
            p = docker(d, "cp", f"{name}:{src}", str(tmp_path / dest))
            assert p.returncode == 0, p.stderr
            assert _tree(str(tmp_path / dest.rstrip("/"))) == ["empty", "f", "sub", "sub/g"]
        (tmp_path / "c4").mkdir()
        docker(d, "cp", f"{name}:/d/", str(tmp_path / "c4"), check=True)
        assert _tree(str(tmp_path / "c4")) == ["d", "d/empty", "d/f", "d/sub", "d/sub/g"]
        tar = subprocess.run(["sh", "-c", f"docker cp {name}:/dlink/ - | tar -tf -"], env=d.env(),
                             capture_output=True, text=True, check=True).stdout.split()
        assert sorted(tar) == ["dlink/", "dlink/empty/", "dlink/f", "dlink/sub/", "dlink/sub/g"]
        status, _ = d.request("GET", f"/containers/{name}/archive?path=/d/.")
        assert status == 200
    finally:
        docker(d, "rm", "-f", name)


def test_container_prune_until_takes_dates_and_durations(d, tag):
    """``container prune --filter until=`` reads a date, an RFC 3339 time, a Go duration or unix seconds
    (moby's GetTimestamp); a date was refused as an invalid filter."""
    name = f"{tag}-pr"
    try:
        docker(d, "create", "--network", "none", "--name", name, "-l", f"{tag}=1", "busybox", "true", check=True)
        for until in ("2000-01-01T00:00:00Z", "2000-01-01", "1h30m", "946684800"):
            p = docker(d, "container", "prune", "-f", "--filter", f"until={until}", "--filter", f"label={tag}")
            assert p.returncode == 0, (until, p.stderr)
            assert p.stdout.strip() == "Total reclaimed space: 0B"
        p = docker(d, "container", "prune", "-f", "--filter", "until=bogus")
        assert p.returncode == 1
        assert p.stderr.strip() == 'Error response from daemon: failed to parse value as time or duration: "bogus"'
        p = docker(d, "container", "prune", "-f", "--filter", "until=2999-01-01T00:00:00Z", "--filter",
                   f"label={tag}")
        assert p.returncode == 0 and "Deleted Containers:" in p.stdout
        assert docker(d, "ps", "-aq", "--filter", f"name={name}").stdout == ""
    finally:
        docker(d, "rm", "-f", name)


def test_kill_signal_names_and_numbers_as_dockerd(d, tag):
    """``kill -s SIGRTMIN+3`` (systemd's stop signal) is sent; a number Linux lacks is dockerd's
    'The linux daemon does not support signal N' (both were 'Invalid signal')."""
    name = f"{tag}-sig"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c",
               "trap 'echo rt; exit 5' 37; trap 'echo usr2; exit 6' USR2; while true; do sleep 0.1; done",
               check=True)
        time.sleep(0.5)
        assert docker(d, "kill", "-s", "SIGRTMIN+3", name, check=True).stdout.strip() == name
        assert docker(d, "wait", name, check=True).stdout.strip() == "5"
        assert docker(d, "logs", name, check=True).stdout == "rt\n"
        docker(d, "start", name, check=True)
        time.sleep(0.5)
        for number in ("65", "32", "-1"):
            p = docker(d, "kill", "-s", number, name)
            shown = "18446744073709551615" if number == "-1" else number
            assert p.returncode == 1 and p.stderr.strip() == (
                f"Error response from daemon: Cannot kill container: {name}: The linux daemon does not support "
                f"signal {shown}")
        assert docker(d, "kill", "-s", "12", name, check=True).stdout.strip() == name
        assert docker(d, "wait", name, check=True).stdout.strip() == "6"
        p = docker(d, "kill", "-s", "RTMIN+16", name)
        assert p.returncode == 1 and "Invalid signal: RTMIN+16" in p.stderr
    finally:
        docker(d, "rm", "-f", name)


def test_update_pids_limit_unlimited_reads_zero(d, tag):
    """``update --pids-limit -1`` (or 0) shows PidsLimit 0 in inspect, as moby's update stores it (was null)."""
    name = f"{tag}-pids"
    try:
        docker(d, "run", "-d", "--network", "none", "--pids-limit", "20", "--name", name, "busybox", "sleep", "100",
               check=True)
        for value in ("-1", "0"):
            docker(d, "update", "--pids-limit", value, name, check=True)
            assert docker(d, "inspect", "--format", "{{json .HostConfig.PidsLimit}}", name,
                          check=True).stdout.strip() == "0"
        docker(d, "exec", name, "sh", "-c", "for i in $(seq 30); do sleep 5 & done", check=True)
    finally:
        docker(d, "rm", "-f", name)


def _layer_names(d, image: str, tmp_path) -> set[str]:
    """Every path in every layer of ``image`` (from ``docker save``)."""
    import tarfile

    out = tmp_path / "img.tar"
    docker(d, "save", "-o", str(out), image, check=True)
    names: set[str] = set()
    with tarfile.open(out) as outer:
        for member in outer.getmembers():
            if member.isfile() and (member.name.endswith("layer.tar") or member.name.startswith("blobs/")):
                try:
                    with tarfile.open(fileobj=outer.extractfile(member)) as layer:
                        names |= set(layer.getnames())
                except tarfile.ReadError:
                    continue
    return names


def test_dockerenv_is_in_every_container_and_in_no_image(d, tag, tmp_path):
    """``/.dockerenv`` (an empty 0755 file) is there in a container, as dockerd's init layer puts it: scripts
    test for it. ``docker diff`` and a commit leave it out, ``docker export`` has it."""
    name = f"{tag}-env"
    try:
        out = docker(d, "run", "--network", "none", "--name", name, "busybox", "stat", "-c", "%A %s %u:%g",
                     "/.dockerenv", check=True).stdout
        assert out == "-rwxr-xr-x 0 0:0\n"
        assert docker(d, "diff", name, check=True).stdout == ""
        listing = subprocess.run(["sh", "-c", f"docker export {name} | tar -tf -"], env=d.env(), capture_output=True,
                                 text=True, check=True).stdout.split()
        assert ".dockerenv" in listing
        docker(d, "commit", name, f"{tag}-img", check=True)
        assert not {n for n in _layer_names(d, f"{tag}-img", tmp_path) if n.lstrip("./") == ".dockerenv"}
        ctx = tmp_path / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM busybox\nRUN test -f /.dockerenv && echo x > /built\n")
        subprocess.run(["docker", "build", "-q", "-t", f"{tag}-built", str(ctx)],
                       env={**d.env(), "DOCKER_BUILDKIT": "0"}, capture_output=True, check=True)
        names = {n.lstrip("./") for n in _layer_names(d, f"{tag}-built", tmp_path)}
        assert "built" in names and ".dockerenv" not in names
    finally:
        docker(d, "rm", "-f", name)
        docker(d, "rmi", f"{tag}-img", f"{tag}-built")


def test_container_processes_lead_a_session_of_their_own(d, tag):
    """The container's process and each exec lead their own session and process group, as runc makes them
    (``docker top`` STAT ``Ss``): ``kill 0`` in the container signals only the container's group (the
    monitor outside got it too and passed it back: the trap ran twice)."""
    name = f"{tag}-sid"
    try:
        out = docker(d, "run", "--network", "none", "--name", name, "busybox", "sh", "-c",
                     "trap 'echo got' TERM; cut -d' ' -f1,5,6 /proc/1/stat; kill -TERM 0; sleep 0.5; echo end",
                     check=True).stdout
        assert out == "1 1 1\ngot\nend\n"
        docker(d, "rm", name, check=True)
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        pid, pgid, sid = docker(d, "exec", name, "sh", "-c", "cut -d' ' -f1,5,6 /proc/$$/stat",
                                check=True).stdout.split()
        assert pid == pgid == sid
        assert "Ss" in docker(d, "top", name, "aux", check=True).stdout
    finally:
        docker(d, "rm", "-f", name)


def test_kill_of_a_paused_container(d, tag):
    """``docker kill`` of a paused container kills it (it stayed paused, its SIGKILL pending in the frozen
    cgroup); another signal is delivered and the container resumed, as dockerd does for a container without
    a stop signal (it was refused: 'is paused. Unpause the container before stopping or killing')."""
    name = f"{tag}-pk"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c",
               "trap 'echo got' USR1; while true; do sleep 0.1; done", check=True)
        time.sleep(0.5)
        docker(d, "pause", name, check=True)
        assert docker(d, "kill", "-s", "USR1", name, check=True).stdout.strip() == name
        state = "{{.State.Status}} {{.State.Paused}} {{.State.ExitCode}}"
        assert docker(d, "inspect", "--format", state, name, check=True).stdout.strip() == "running false 0"
        time.sleep(0.5)
        assert docker(d, "logs", name, check=True).stdout == "got\n"
        docker(d, "pause", name, check=True)
        assert docker(d, "kill", name, check=True).stdout.strip() == name
        assert docker(d, "inspect", "--format", state, name, check=True).stdout.strip() == "exited false 137"
    finally:
        docker(d, "rm", "-f", name)


def test_ps_is_task_bad_value_is_worded_as_dockerd(d):
    p = docker(d, "ps", "-a", "--filter", "is-task=bogus")
    assert p.returncode == 1
    assert p.stderr.strip() == "Error response from daemon: Invalid filter 'is-task=[bogus]'"


def test_exec_events_name_the_command_as_moby(d, tag):
    """An exec event's action is the entrypoint, a space and the arguments: ``exec_create: hostname `` ends
    with a space when there are none (tools split on it)."""
    name = f"{tag}-exev"
    try:
        since = str(int(time.time()) - 1)
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        docker(d, "exec", name, "hostname", check=True)
        docker(d, "exec", name, "sh", "-c", "exit 0", check=True)
        out = docker(d, "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                     f"container={name}", "--filter", "event=exec_create", "--format", "[{{.Action}}]",
                     check=True).stdout
        assert out == "[exec_create: hostname ]\n[exec_create: sh -c exit 0]\n"
    finally:
        docker(d, "rm", "-f", name)


def test_update_restart_policy_of_an_autoremove_container_is_wrapped(d, tag):
    name = f"{tag}-arm"
    try:
        cid = docker(d, "create", "--network", "none", "--rm", "--name", name, "busybox", "true",
                     check=True).stdout.strip()
        p = docker(d, "update", "--restart", "always", name)
        assert p.returncode == 1
        assert p.stderr.strip() == f"Error response from daemon: Cannot update container {cid}: Restart policy " \
                                   "cannot be updated because AutoRemove is enabled for the container"
    finally:
        docker(d, "rm", "-f", name)


def test_pause_and_unpause_twice_at_once(d, tag):
    """``docker unpause X X`` (the CLI sends both at once): one resumes, the other is dockerd's 'Container ID
    is not paused' (the runtime's 'cannot resume … it is running' leaked when both passed the check)."""
    name = f"{tag}-pp"
    try:
        cid = docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100",
                     check=True).stdout.strip()
        for _ in range(3):
            p = docker(d, "pause", name, name)
            assert p.returncode == 1 and p.stdout.strip() == name
            assert p.stderr.strip() == f"Error response from daemon: Container {cid} is already paused"
            p = docker(d, "unpause", name, name)
            assert p.returncode == 1 and p.stdout.strip() == name
            assert p.stderr.strip() == f"Error response from daemon: Container {cid} is not paused"
    finally:
        docker(d, "rm", "-f", name)


def test_update_answers_null_warnings(d, tag):
    """``POST /containers/X/update`` answers ``{"Warnings": null}`` as dockerd (was an empty list)."""
    name = f"{tag}-upd"
    try:
        docker(d, "create", "--network", "none", "--name", name, "busybox", "true", check=True)
        assert d.request("POST", f"/containers/{name}/update", {}) == (200, {"Warnings": None})
    finally:
        docker(d, "rm", "-f", name)


def test_cp_of_a_file_onto_a_directory_is_worded_as_dockerd(d, tag, tmp_path):
    """``docker cp f ctr:/tmp/`` where ``/tmp/f`` is a directory (the CLI asks noOverwriteDirNonDir):
    dockerd's untar text naming the container's paths (it named them relative to the destination)."""
    name = f"{tag}-ow"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c",
               "mkdir -p /tmp/d; echo x > /tmp/f; sleep 100", check=True)
        (tmp_path / "d").write_text("file\n")
        (tmp_path / "f").mkdir()
        p = docker(d, "cp", str(tmp_path / "d"), f"{name}:/tmp/")
        assert p.returncode == 1
        assert p.stderr.strip().endswith('Error response from daemon: Error processing tar file(exit status 1): '
                                         'cannot overwrite directory "/tmp/d" with non-directory "/tmp"')
        p = docker(d, "cp", str(tmp_path / "f"), f"{name}:/tmp")
        assert p.returncode == 1
        assert p.stderr.strip().endswith('Error response from daemon: Error processing tar file(exit status 1): '
                                         'cannot overwrite non-directory "/tmp/f" with directory "/tmp"')
        assert docker(d, "exec", name, "sh", "-c", "test -d /tmp/d && cat /tmp/f", check=True).stdout == "x\n"
    finally:
        docker(d, "rm", "-f", name)


def test_none_log_driver_stores_nothing(d, tag):
    """``--log-driver none``: the output is not written anywhere (it was kept in the container's log file)
    and inspect's LogPath is empty, as dockerd's."""
    name = f"{tag}-nolog2"
    try:
        docker(d, "run", "--network", "none", "--log-driver", "none", "--name", name, "busybox", "sh", "-c",
               "echo secret-$((6*7))", check=True)
        assert docker(d, "inspect", "--format", "[{{.LogPath}}]", name, check=True).stdout.strip() == "[]"
        cid = docker(d, "inspect", "--format", "{{.Id}}", name, check=True).stdout.strip()
        found = subprocess.run(["grep", "-rl", "secret-42", d.data_root], capture_output=True, text=True).stdout
        assert cid not in found, found
        p = docker(d, "start", "-a", name)
        assert p.returncode == 0 and p.stdout == "secret-42\n"  # attached clients still get it
    finally:
        docker(d, "rm", "-f", name)


def test_export_is_an_octet_stream(d, tag):
    """``GET /containers/X/export`` is ``application/octet-stream`` as dockerd's (was application/x-tar)."""
    from tests.support.daemon import UnixHTTPConnection

    name = f"{tag}-exp"
    try:
        docker(d, "create", "--network", "none", "--name", name, "busybox", "true", check=True)
        conn = UnixHTTPConnection(d.socket)
        try:
            conn.request("GET", f"/containers/{name}/export")
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        assert resp.status == 200 and resp.getheader("Content-Type") == "application/octet-stream"
        assert len(body) > 1024
    finally:
        docker(d, "rm", "-f", name)


def test_rename_to_a_bad_name_is_worded_as_dockerd(d, tag):
    name = f"{tag}-rn"
    try:
        docker(d, "create", "--network", "none", "--name", name, "busybox", "true", check=True)
        p = docker(d, "rename", name, "bad/name")
        assert p.returncode == 1
        assert p.stderr.splitlines()[0] == "Error response from daemon: Error when allocating new name: Invalid " \
                                           "container name (/bad/name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    finally:
        docker(d, "rm", "-f", name)


def test_exec_with_a_relative_working_dir_fails_at_start(d, tag):
    """``exec -w rel``: created, then its start fails as runc's (126 "Cwd must be an absolute path"); it was a
    400 at create (exit 1)."""
    name = f"{tag}-wrel"
    try:
        docker(d, "run", "-d", "--network", "none", "--name", name, "busybox", "sleep", "100", check=True)
        p = docker(d, "exec", "-w", "rel", name, "pwd")
        assert p.returncode == 126
        assert "OCI runtime exec failed: Cwd must be an absolute path" in p.stdout + p.stderr
        status, body = d.request("POST", f"/containers/{name}/exec", {"Cmd": ["pwd"], "WorkingDir": "rel"})
        assert status == 201
        status, info = d.request("POST", f"/exec/{body['Id']}/start", {"Detach": True})
        assert (status, info) == (500, {"message": "OCI runtime exec failed: Cwd must be an absolute path"})
        assert d.request("GET", f"/exec/{body['Id']}/json")[1]["ExitCode"] == 126
    finally:
        docker(d, "rm", "-f", name)


def test_cp_events_as_moby(d, tag, tmp_path):
    """``archive-path`` is logged once the archive is found, even when the client stops reading early (it
    was lost), and neither it nor ``extract-to-dir`` carries a path attribute (moby's carry none)."""
    name = f"{tag}-cpev"
    try:
        since = str(int(time.time()) - 1)
        docker(d, "run", "--network", "none", "--name", name, "busybox", "true", check=True)
        subprocess.run(["sh", "-c", f"docker cp {name}:/bin - | head -c 10 >/dev/null"], env=d.env(), check=True)
        (tmp_path / "f").write_text("x")
        docker(d, "cp", str(tmp_path / "f"), f"{name}:/f", check=True)
        time.sleep(0.5)
        out = docker(d, "events", "--since", since, "--until", str(int(time.time()) + 1), "--filter",
                     f"container={name}", "--filter", "event=archive-path", "--filter", "event=extract-to-dir",
                     "--format", "{{.Action}} {{json .Actor.Attributes}}", check=True).stdout.splitlines()
        attrs = json.dumps({"image": "busybox", "name": name}, separators=(",", ":"))
        assert out == [f"archive-path {attrs}", f"extract-to-dir {attrs}"]
    finally:
        docker(d, "rm", "-f", name)
