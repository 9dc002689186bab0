"""`docker run`/`create` flag variants that answered differently from dockerd (bench/conformance_run_scenarios.py).

Each test names what dockerd does; the real docker CLI drives a real dockyardd.
"""

from __future__ import annotations

import json

import pytest

from tests.support.daemon import docker


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def inspect(d, name: str, fmt: str) -> str:
    return docker(d, "inspect", "--format", fmt, name, check=True).stdout.strip()


@pytest.fixture
def names(d):
    made: list[str] = []
    yield made
    if made:
        docker(d, "rm", "-f", *made)


def test_working_dir_is_stored_clean(d, names):
    """dockerd stores filepath.Clean of -w: ``/tmp/`` is ``/tmp``, ``/tmp/../etc`` is ``/etc``."""
    for n, (given, want) in enumerate((("/tmp/", "/tmp"), ("/tmp/../etc", "/etc"), ("//x//y/", "/x/y"))):
        name = f"rp-wd{n}"
        names.append(name)
        docker(d, "create", "--network", "none", "--name", name, "-w", given, "busybox", "pwd", check=True)
        assert inspect(d, name, "{{.Config.WorkingDir}}") == want
        assert docker(d, "start", "-a", name).stdout.strip() == want


def test_empty_entrypoint_is_null_and_takes_no_image_cmd(d, names):
    """``--entrypoint ''``: inspect shows Entrypoint null; the image's CMD is not used (no command → refused)."""
    names += ["rp-ep", "rp-ep-base"]
    docker(d, "create", "--name", "rp-ep-base", "busybox", "true", check=True)
    docker(d, "commit", "-c", 'CMD ["echo", "imagecmd"]', "-c", 'ENTRYPOINT ["echo", "ep"]', "rp-ep-base",
           "rp-epimg", check=True)
    try:
        docker(d, "create", "--network", "none", "--name", "rp-ep", "--entrypoint", "", "rp-epimg", "echo", "hi",
               check=True)
        assert inspect(d, "rp-ep", "{{json .Config.Entrypoint}} {{json .Config.Cmd}} {{.Path}} {{json .Args}}") \
            == 'null ["echo","hi"] echo ["hi"]'
        assert docker(d, "start", "-a", "rp-ep").stdout == "hi\n"
        p = docker(d, "run", "--rm", "--network", "none", "--entrypoint", "", "rp-epimg")
        assert p.returncode == 125 and "Error response from daemon: No command specified" in p.stderr, p.stderr
    finally:
        docker(d, "rm", "-f", "rp-ep")
        docker(d, "rmi", "rp-epimg")


def test_volumes_from_unknown_container_is_refused_without_a_pull(d):
    p = docker(d, "run", "--rm", "--network", "none", "--volumes-from", "nosuchcontainer", "busybox", "true")
    assert p.returncode == 125
    assert "Unable to find image" not in p.stderr
    assert "Error response from daemon: No such container: nosuchcontainer" in p.stderr


@pytest.mark.parametrize("argv,message", [
    pytest.param(["-v", "/tmp:/x:nocopy"], "invalid volume specification: '/tmp:/x:nocopy': invalid mount config "
                 'for type "bind": field VolumeOptions must not be specified', id="bind-nocopy"),
    pytest.param(["--tmpfs", "/x", "-v", "/tmp:/x"], "Duplicate mount point: /x", id="tmpfs-and-bind"),
    pytest.param(["--tmpfs", "rel"], "invalid mount path: 'rel' mount path must be absolute", id="tmpfs-relative"),
    pytest.param(["--security-opt", "no-new-privileges:bogus"], 'invalid --security-opt 2: "no-new-privileges:bogus"',
                 id="nnp-bogus"),
    pytest.param(["--ip", "10.0.0.2"], "user specified IP address is supported on user defined networks only",
                 id="ip-on-none"),
    pytest.param(["--log-opt", "mode=bogus"], "logger: logging mode not supported: bogus", id="log-mode"),
])
def test_create_refuses_as_dockerd(d, argv, message):
    p = docker(d, "create", "--network", "none", "--name", "rp-refused", *argv, "busybox", "true")
    assert p.returncode == 1, p.stdout
    assert p.stderr.strip() == f"Error response from daemon: {message}"
    assert docker(d, "inspect", "rp-refused").returncode == 1  # nothing made


def test_no_new_privileges_takes_go_booleans(d):
    for value, want in (("true", "1"), ("1", "1"), ("T", "1"), ("false", "0"), ("0", "0")):
        p = docker(d, "run", "--rm", "--network", "none", "--security-opt", f"no-new-privileges={value}",
                   "busybox", "sh", "-c", "grep NoNewPrivs /proc/self/status")
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == ["NoNewPrivs:", want], value


@pytest.mark.parametrize("argv", [["--privileged"], ["--ipc", "host"], ["--pid", "host"]])
def test_host_sharing_containers_get_label_disable(d, names, argv):
    """moby's generateSecurityOpt: SecurityOpt gains ``label=disable`` (after the user's own)."""
    names.append("rp-label")
    docker(d, "create", "--network", "none", "--name", "rp-label", "--security-opt", "no-new-privileges", *argv,
           "busybox", "true", check=True)
    assert json.loads(inspect(d, "rp-label", "{{json .HostConfig.SecurityOpt}}")) == \
        ["no-new-privileges", "label=disable"]


@pytest.mark.parametrize("opts,message", [
    (["max-file=0"], "max-file cannot be less than 1"),
    (["max-size=0"], "max-size must be a positive number"),
    (["max-size=bogus"], "invalid size: 'bogus'"),
    (["compress=true"], "compress cannot be true when max-file is less than 2 or max-size is not set"),
    (["compress=true", "max-size=10k"], "compress cannot be true when max-file is less than 2 or max-size is not set"),
], ids=["max-file", "max-size", "size-bogus", "compress", "compress-one-file"])
def test_log_opt_values_fail_the_start(d, names, opts, message):
    """dockerd checks the values when the log driver starts: create succeeds, start fails, nothing runs."""
    names.append("rp-log")
    argv = [a for o in opts for a in ("--log-opt", o)]
    docker(d, "create", "--network", "none", "--name", "rp-log", *argv, "busybox", "true", check=True)
    p = docker(d, "start", "rp-log")
    assert p.returncode == 1
    assert f"Error response from daemon: failed to initialize logging driver: {message}" in p.stderr
    assert inspect(d, "rp-log", "{{.State.Running}}") == "false"


def test_log_opts_that_rotate_still_run(d):
    p = docker(d, "run", "--rm", "--network", "none", "--log-opt", "max-size=10k", "--log-opt", "max-file=2",
               "--log-opt", "compress=true", "busybox", "echo", "ok")
    assert p.returncode == 0 and p.stdout == "ok\n", p.stderr


def test_stop_signal_may_name_a_realtime_signal(d, names):
    """``--stop-signal RTMIN+3`` (signal 37) is accepted and is what ``docker stop`` sends."""
    names.append("rp-rt")
    docker(d, "run", "-d", "--network", "none", "--name", "rp-rt", "--stop-signal", "RTMIN+3", "busybox", "sh",
           "-c", "trap 'exit 7' 37; while true; do sleep 0.1; done", check=True)
    assert inspect(d, "rp-rt", "{{.Config.StopSignal}}") == "RTMIN+3"
    docker(d, "stop", "-t", "20", "rp-rt", check=True)
    assert inspect(d, "rp-rt", "{{.State.ExitCode}}") == "7"


def test_oom_kill_disable_without_memory_limit_warns(d, names):
    names.append("rp-oom")
    p = docker(d, "create", "--network", "none", "--name", "rp-oom", "--oom-kill-disable", "busybox", "true")
    if p.returncode != 0 and "does not support OomKillDisable" in p.stderr:
        pytest.skip("this kernel cannot disable the OOM killer (memory.oom_control absent)")
    assert p.returncode == 0, p.stderr
    assert ("WARNING: OOM killer is disabled for the container, but no memory limit is set, this can result in "
            "the system running out of resources.") in p.stderr
    names.append("rp-oom2")
    p = docker(d, "create", "--network", "none", "--name", "rp-oom2", "--oom-kill-disable", "-m", "64m",
               "busybox", "true")
    assert p.returncode == 0 and "WARNING" not in p.stderr, p.stderr


@pytest.mark.parametrize("mode,flag,kind", [
    ("rshared", ["-v", "{src}:/x:rshared"], "shared"),
    ("rslave", ["--mount", "type=bind,src={src},dst=/x,bind-propagation=rslave"], "shared or slave"),
])
def test_bind_propagation_needs_a_propagating_source(d, names, tmp_path, mode, flag, kind):
    """dockerd refuses the start when the source's host mount is private (the propagation would not be there)."""
    from dockyard.spec.propagation import source_mount

    src = str(tmp_path)
    with open("/proc/self/mountinfo") as f:
        point, fields = source_mount(src, f.read())
    if any(x.startswith(("shared:", "master:") if mode == "rslave" else ("shared:",)) for x in fields):
        pytest.skip(f"{point} is a {fields} mount here: the propagation is possible")
    names.append("rp-prop")
    docker(d, "create", "--network", "none", "--name", "rp-prop", *[a.format(src=src) for a in flag], "busybox",
           "true", check=True)
    p = docker(d, "start", "rp-prop")
    assert p.returncode == 1
    assert f"Error response from daemon: path {src} is mounted on {point} but it is not a {kind} mount" in p.stderr


def test_unknown_group_words_as_dockerd(d):
    """--group-add is looked up by dockerd itself ("Unable …"), -u's group by runc ("unable …")."""
    p = docker(d, "run", "--rm", "--network", "none", "--group-add", "nosuchgroup", "busybox", "true")
    assert "Error response from daemon: Unable to find group nosuchgroup: no matching entries in group file" \
        in p.stderr, p.stderr
    p = docker(d, "run", "--rm", "--network", "none", "-u", "root:nosuchgroup", "busybox", "true")
    assert "unable to find group nosuchgroup: no matching entries in group file" in p.stderr, p.stderr


def test_hostname_with_host_uts_is_refused(d):
    p = docker(d, "create", "--network", "none", "--name", "rp-uts", "--uts", "host", "-h", "x", "busybox", "true")
    assert p.returncode == 1
    assert p.stderr.strip() == "Error response from daemon: conflicting options: hostname and the UTS mode"
    assert docker(d, "inspect", "rp-uts").returncode == 1


def test_port_on_all_addresses_conflicts_with_one_address(d, names):
    """A host port one container publishes on 127.0.0.1 is not free on 0.0.0.0 for another (dockerd: the start
    fails), whichever way round and however 0.0.0.0 is written."""
    from tests.support.registry import free_port

    port = free_port()
    names += ["rp-p1", "rp-p2", "rp-p3"]
    docker(d, "run", "-d", "--name", "rp-p1", "-p", f"127.0.0.1:{port}:80", "busybox", "sleep", "1000", check=True)
    for name, spec in (("rp-p2", f"0.0.0.0:{port}:80"), ("rp-p3", f"{port}:80")):
        p = docker(d, "run", "-d", "--name", name, "-p", spec, "busybox", "sleep", "1000")
        assert p.returncode == 125, spec
        assert f"Bind for 0.0.0.0:{port} failed: port is already allocated" in p.stderr, p.stderr


@pytest.mark.parametrize("flag", [["--tmpfs", "/x:ro"], ["--mount", "type=tmpfs,dst=/x,readonly"]])
def test_read_only_tmpfs_is_a_read_only_mount_of_a_writable_tmpfs(d, flag):
    """As runc: the mount is read-only, its superblock is not (mountinfo: ``ro,…`` then ``- tmpfs tmpfs rw``)."""
    p = docker(d, "run", "--rm", "--network", "none", *flag, "busybox", "sh", "-c",
               "grep ' /x ' /proc/self/mountinfo; touch /x/f")
    line = p.stdout.strip()
    mount_opts, _, super_part = line.partition(" - ")
    assert mount_opts.split()[5].split(",")[0] == "ro", line
    assert super_part.split()[2].split(",")[0] == "rw", line
    assert "Read-only file system" in p.stderr


def test_a_container_whose_first_start_failed_is_still_created(d, names, tmp_path):
    """dockerd: Status follows StartedAt, so a never-started container stays ``created`` (ps: Created) with its
    exit code and error, FinishedAt zero; one that ran before is ``exited``."""
    names += ["rp-never", "rp-ran"]
    docker(d, "create", "--network", "none", "--name", "rp-never", "busybox", "nosuchcmd", check=True)
    assert docker(d, "start", "rp-never").returncode == 1
    state = json.loads(inspect(d, "rp-never", "{{json .State}}"))
    assert (state["Status"], state["ExitCode"], state["StartedAt"], state["FinishedAt"]) == \
        ("created", 127, "0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z")
    assert 'exec: "nosuchcmd": executable file not found in $PATH' in state["Error"]
    ps = docker(d, "ps", "-a", "--filter", "name=rp-never", "--format", "{{.Status}}", check=True).stdout.strip()
    assert ps == "Created"
    created = docker(d, "ps", "-a", "-q", "--filter", "status=created", "--filter", "name=rp-never", check=True)
    assert created.stdout.strip()
    src = tmp_path / "src"
    src.mkdir()
    docker(d, "run", "--network", "none", "--name", "rp-ran", "--mount", f"type=bind,src={src},dst=/x", "busybox",
           "true", check=True)
    finished = inspect(d, "rp-ran", "{{.State.FinishedAt}}")
    src.rmdir()
    p = docker(d, "start", "rp-ran")  # its bind source is gone: checked before the start, the state untouched
    assert p.returncode == 1
    assert (f'Error response from daemon: invalid mount config for type "bind": bind source path does not exist: '
            f"{src}") in p.stderr
    state = json.loads(inspect(d, "rp-ran", "{{json .State}}"))
    assert (state["Status"], state["ExitCode"], state["Error"], state["FinishedAt"]) == ("exited", 0, "", finished)


def test_a_failed_start_is_no_die_event(d, names):
    """dockerd logs create and attach for ``docker run nosuchcmd``, but no die: no process ran."""
    import time

    names.append("rp-nodie")
    since = int(time.time())
    assert docker(d, "run", "--network", "none", "--name", "rp-nodie", "busybox", "nosuchcmd").returncode == 127
    p = docker(d, "events", "--since", str(since), "--until", str(int(time.time()) + 1), "--filter",
               "container=rp-nodie", "--format", "{{.Action}}", check=True)
    assert p.stdout.split() == ["create", "attach"]
