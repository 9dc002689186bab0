"""Windows process containers through the engine: the Linux ``docker`` CLI against
dockyardd on Windows CPython under Wine, running containers on job objects.

The image is the embeddable CPython itself (``docker import`` of its files),
so every container is ``python -c ...``; a marker rides in each command line
so that the host can check that nothing is left behind."""

from __future__ import annotations

import json
import pathlib
import subprocess
import tarfile
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.windows import wine as winelib
from tests.integration.windows.conftest import host_pids_with, settled_count
from tests.integration.windows.test_daemon import WinDaemon

IMAGE = "winpy:ctr"
TICKER = "import time\nfor i in range(3000):\n print('tick', i, flush=True); time.sleep(0.1)"


@pytest.fixture(scope="module")
def engine(wine: winelib.Wine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinDaemon]:
    wine.add_wheels("daemon-wheels", winelib.DAEMON_WHEELS)
    root = tmp_path_factory.mktemp("winengine")
    d = WinDaemon(wine, root)
    d.start()
    tar = root / "py.tar"
    with tarfile.open(tar, "w") as tf:
        tf.add(wine.python_dir, arcname=".")
    r = d.docker("import", str(tar), IMAGE)
    assert r.returncode == 0, r.stderr + d.log()
    d.marker = f"dywin-{uuid.uuid4().hex[:10]}"  # type: ignore[attr-defined]
    yield d
    ids = d.docker("ps", "-aq").stdout.split()
    if ids:
        d.docker("rm", "-f", *ids)
    d.kill()
    left = settled_count(d.marker, 0, timeout=10)  # type: ignore[attr-defined]
    assert left == 0, f"container processes left behind: {host_pids_with(d.marker)}"  # type: ignore[attr-defined]


def py(engine: WinDaemon, code: str) -> list[str]:
    """``python -c CODE MARKER``: the arguments after the image."""
    return ["python", "-c", code, engine.marker]  # type: ignore[attr-defined]


def ok(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 0, r.stderr
    return r.stdout


def wait_for(predicate, timeout: float = 30, what: str = "") -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def test_run_in_the_foreground_keeps_stdout_stderr_and_exit_code(engine: WinDaemon) -> None:
    code = ("import os, sys; print('out', os.getcwd() == os.environ['CONTAINER_SANDBOX_MOUNT_POINT']);"
            "print('err', file=sys.stderr); sys.exit(3)")
    r = engine.docker("run", "--rm", "--name", "fg", IMAGE, *py(engine, code))
    assert r.returncode == 3, r.stderr
    assert r.stdout.split() == ["out", "True"]  # the folder is the process's cwd and its sandbox mount point
    assert r.stderr.strip() == "err"
    assert "fg" not in engine.docker("ps", "-a").stdout  # --rm


def test_a_program_that_is_not_there_is_127(engine: WinDaemon) -> None:
    r = engine.docker("run", "--name", "missing", IMAGE, "no-such-program.exe")
    assert r.returncode == 127 and "executable file not found" in r.stderr, r.stderr
    info = json.loads(ok(engine.docker("inspect", "missing")))[0]
    assert info["State"]["ExitCode"] == 127 and "executable file not found" in info["State"]["Error"]
    ok(engine.docker("rm", "missing"))


def test_create_start_wait_logs_inspect_rm(engine: WinDaemon) -> None:
    code = "import sys; print('to stdout'); print('to stderr', file=sys.stderr); sys.exit(0)"
    cid = ok(engine.docker("create", "--name", "cycle", IMAGE, *py(engine, code))).strip()
    info = json.loads(ok(engine.docker("inspect", cid)))[0]
    assert info["State"]["Status"] == "created" and info["Platform"] == "windows"
    assert info["Driver"] == "windowsfilter" and info["GraphDriver"]["Name"] == "windowsfilter"
    ok(engine.docker("start", "cycle"))
    assert ok(engine.docker("wait", "cycle")).strip() == "0"
    r = engine.docker("logs", "cycle")
    assert r.stdout.strip() == "to stdout" and r.stderr.strip() == "to stderr"
    folder = pathlib.Path(info["GraphDriver"]["Data"]["dir"].replace("Z:", "").replace("\\", "/"))
    assert (folder / "python.exe").is_file()  # the layers were copied into the container's folder
    info = json.loads(ok(engine.docker("inspect", "cycle")))[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 0
    ok(engine.docker("rename", "cycle", "cycled"))
    ok(engine.docker("rm", "cycled"))
    assert not folder.exists()


def test_detached_container_ps_logs_top_stats_and_stop(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "ticker", IMAGE, *py(engine, TICKER)))
    assert "ticker" in ok(engine.docker("ps"))
    follow = subprocess.Popen(["docker", "logs", "-f", "ticker"], env=engine.docker_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline().strip() == "tick 0"
        top = engine.docker("top", "ticker")
        lines = ok(top).splitlines()
        assert lines[0].split()[:2] == ["Name", "PID"]
        assert any(line.split()[0] == "python.exe" for line in lines[1:]), lines
        stats = json.loads(ok(engine.docker("stats", "--no-stream", "--format", "{{json .}}", "ticker")))
        assert stats["Name"] == "ticker" and stats["PIDs"] == "1"  # the job's active process count
        started = time.monotonic()
        ok(engine.docker("stop", "-t", "2", "ticker"))
        assert 2 <= time.monotonic() - started < 10  # the grace period, then the job is terminated
        follow.wait(timeout=30)  # logs -f ends with the container
        assert follow.returncode == 0
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.wait()
    info = json.loads(ok(engine.docker("inspect", "ticker")))[0]
    assert info["State"]["ExitCode"] == 143 and not info["State"]["Running"]
    assert "tick 1" in ok(engine.docker("logs", "ticker"))
    ok(engine.docker("rm", "ticker"))
    assert settled_count(engine.marker, 0) == 0  # type: ignore[attr-defined]


def test_docker_py_runs_a_windows_container(engine: WinDaemon) -> None:
    import docker

    client = docker.DockerClient(base_url=f"tcp://127.0.0.1:{engine.port}", timeout=60)
    try:
        out = client.containers.run(IMAGE, py(engine, "print('from docker-py')"), remove=True)
        assert out.strip() == b"from docker-py"
        with pytest.raises(docker.errors.ContainerError) as err:
            client.containers.run(IMAGE, py(engine, "import sys; sys.exit(5)"), remove=True)
        assert err.value.exit_status == 5
    finally:
        client.close()


def test_a_restart_policy_starts_the_job_again(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "flaky", "--restart", "on-failure:2", IMAGE,
                     *py(engine, "import sys; print('attempt'); sys.exit(1)")))

    def done() -> bool:
        state = json.loads(ok(engine.docker("inspect", "flaky")))[0]
        return state["RestartCount"] == 2 and state["State"]["Status"] == "exited"

    wait_for(done, timeout=60, what="two restarts")
    assert ok(engine.docker("logs", "flaky")).split() == ["attempt"] * 3
    ok(engine.docker("rm", "flaky"))


def test_restart_and_attach_to_a_running_container(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "again", IMAGE, *py(engine, TICKER)))
    ok(engine.docker("restart", "-t", "1", "again"))  # a new job in the same folder
    info = json.loads(ok(engine.docker("inspect", "again")))[0]
    assert info["State"]["Running"] and info["RestartCount"] == 0
    attach = subprocess.Popen(["docker", "attach", "again"], env=engine.docker_env(), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    try:
        assert attach.stdout is not None
        assert attach.stdout.readline().startswith("tick ")  # the live output, from where the attach began
        ok(engine.docker("kill", "again"))
        attach.wait(timeout=30)  # the attach ends with the container
    finally:
        if attach.poll() is None:
            attach.kill()
            attach.wait()
    ok(engine.docker("rm", "again"))


def test_kill_ends_the_job_with_137(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "victim", IMAGE, *py(engine, "import time; time.sleep(120)")))
    ok(engine.docker("kill", "victim"))
    assert ok(engine.docker("wait", "victim")).strip() == "137"
    ok(engine.docker("rm", "victim"))


def test_memory_limit_reaches_the_job_and_cpus_are_refused_by_wine(engine: WinDaemon) -> None:
    cid = ok(engine.docker("create", "-m", "64m", IMAGE, *py(engine, "print('limited')"))).strip()
    ok(engine.docker("start", "-a", cid))
    info = json.loads(ok(engine.docker("inspect", cid)))[0]
    assert info["HostConfig"]["Memory"] == 64 * 1024 * 1024
    config = json.loads((engine.data_root / "containers" / cid / "config.json").read_text())
    assert config["windows"]["resources"] == {"memory": {"limit": 64 * 1024 * 1024}}
    ok(engine.docker("rm", cid))
    # --cpus maps to CPU rate control, which Wine 8 refuses: the start fails naming the field
    r = engine.docker("run", "--rm", "--cpus", "1", IMAGE, *py(engine, "print(1)"))
    assert r.returncode == 125 and "windows.resources.cpu.maximum" in r.stderr, r.stderr


@pytest.mark.parametrize("args, flag", [
    (["--cap-add", "NET_ADMIN"], "--cap-add"), (["--security-opt", "seccomp=unconfined"], "--security-opt"),
    (["--pid", "host"], "--pid"), (["--privileged"], "--privileged"), (["--device", "/dev/null"], "--device"),
    (["--network", "bridge"], "--network"), (["--network", "none"], "--network"), (["-p", "8080:80"], "--publish"),
    (["-v", "C:\\data:C:\\data"], "--volume"), (["-t"], "--tty"), (["-i"], "--interactive"),
    (["--user", "someone"], "--user"), (["--read-only"], "--read-only"), (["--ulimit", "nofile=10"], "--ulimit"),
    (["--cpuset-cpus", "0"], "--cpuset-cpus"), (["--log-driver", "none"], "--log-driver"),
])
def test_linux_only_options_are_refused(engine: WinDaemon, args: list[str], flag: str) -> None:
    before = engine.docker("ps", "-aq").stdout
    r = engine.docker("create", *args, IMAGE, "python")
    assert r.returncode != 0
    assert f"{flag} is not supported for Windows process containers" in r.stderr
    assert engine.docker("ps", "-aq").stdout == before  # nothing made


def test_image_operations_the_engine_cannot_do_are_400(engine: WinDaemon) -> None:
    cid = ok(engine.docker("create", IMAGE, *py(engine, "print(1)"))).strip()
    for args, what in ((["pull", "busybox"], "pull"), (["push", IMAGE], "push"), (["commit", cid], "commit"),
                       (["pause", cid], "pause"), (["update", "-m", "32m", cid], "update")):
        r = engine.docker(*args)
        assert r.returncode != 0 and f"{what} is not supported" in r.stderr, (args, r.stderr)
    for args, what in ((["build", "-"], "build"), (["exec", cid, "python"], "exec"),
                       (["cp", f"{cid}:/x", "-"], "copying files (docker cp)"), (["network", "ls"], "networks"),
                       (["volume", "create"], "volumes"), (["export", cid], "export"), (["diff", cid], "diff")):
        r = engine.docker(*args)
        assert r.returncode != 0 and f"{what} is not supported by dockyard's Windows engine" in r.stderr, (args, r.stderr)
    for method, path in (("POST", "/images/create?fromImage=busybox&tag=latest"), ("POST", f"/commit?container={cid}"),
                         ("POST", f"/images/{IMAGE}/push"), ("POST", f"/containers/{cid}/pause")):
        assert engine.request(method, path)[0] == 400, path
    ok(engine.docker("rm", cid))


def test_a_running_container_survives_a_daemon_restart(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "survivor", IMAGE, *py(engine, TICKER)))
    wait_for(lambda: "tick 2" in engine.docker("logs", "survivor").stdout, what="ticks")
    assert engine.stop() == 0, engine.log()
    assert settled_count(engine.marker, 1) >= 1  # type: ignore[attr-defined]  # still running without the engine
    engine.start()
    info = json.loads(ok(engine.docker("inspect", "survivor")))[0]
    assert info["State"]["Running"], info["State"]
    count = len(engine.docker("logs", "survivor").stdout.splitlines())
    wait_for(lambda: len(engine.docker("logs", "survivor").stdout.splitlines()) > count, what="new ticks")
    waiter = subprocess.Popen(["docker", "wait", "survivor"], env=engine.docker_env(), text=True,
                              stdout=subprocess.PIPE)
    ok(engine.docker("stop", "-t", "1", "survivor"))
    assert waiter.communicate(timeout=30)[0].strip() == "143"
    ok(engine.docker("rm", "survivor"))


def test_a_process_that_ends_within_the_stop_grace_period_keeps_its_exit_code(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "finisher", IMAGE,
                     *py(engine, "import sys, time; print('up', flush=True); time.sleep(2); sys.exit(5)")))
    wait_for(lambda: "up" in engine.docker("logs", "finisher").stdout, what="start")
    started = time.monotonic()
    ok(engine.docker("stop", "-t", "60", "finisher"))
    assert time.monotonic() - started < 30  # returned when the process ended, not after 60 s
    info = json.loads(ok(engine.docker("inspect", "finisher")))[0]
    assert info["State"]["ExitCode"] == 5 and not info["State"]["Running"]
    ok(engine.docker("rm", "finisher"))


def test_an_exit_while_the_daemon_is_down_is_collected_at_start(engine: WinDaemon) -> None:
    ok(engine.docker("run", "-d", "--name", "shortlived", IMAGE,
                     *py(engine, "import sys, time; print('bye', flush=True); time.sleep(3); sys.exit(6)")))
    assert engine.stop() == 0, engine.log()
    assert settled_count(engine.marker, 0, timeout=30) == 0  # type: ignore[attr-defined]  # it ended meanwhile
    engine.start()
    info = json.loads(ok(engine.docker("inspect", "shortlived")))[0]
    assert info["State"]["Status"] == "exited" and info["State"]["ExitCode"] == 6, info["State"]
    assert ok(engine.docker("wait", "shortlived")).strip() == "6"
    assert ok(engine.docker("logs", "shortlived")).strip() == "bye"
    ok(engine.docker("rm", "shortlived"))
