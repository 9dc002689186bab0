"""Volumes as docker-compose (1.29, docker-py underneath) and `docker events` see them."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from tests.support.daemon import docker

COMPOSE = os.environ.get("DOCKYARD_COMPOSE", "/opt/dockyard/compose-venv/bin/docker-compose")


@pytest.fixture
def d(dockyard_daemon, busybox_image):
    return dockyard_daemon


def compose(d, tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    env = d.env()
    env["COMPOSE_PROJECT_NAME"] = "dyvol"
    p = subprocess.run([COMPOSE, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return p


def test_compose_named_volume_outlives_down(d, tmp_path):
    if not os.path.exists(COMPOSE):
        pytest.fail(f"docker-compose 1.29 is not installed at {COMPOSE}: run scripts/compose-venv.sh")
    spec = {"version": "3.7",
            "services": {"db": {"image": "busybox", "network_mode": "none", "volumes": ["dbdata:/var/lib/db"],
                                "command": ["sh", "-c", "cat /var/lib/db/row 2>/dev/null; echo row-$$ >> /var/lib/db/row"]}},
            "volumes": {"dbdata": {"labels": {"tier": "db"}}}}
    (tmp_path / "docker-compose.yml").write_text(json.dumps(spec))
    try:
        compose(d, tmp_path, "up", "--no-color")
        info = json.loads(docker(d, "volume", "inspect", "dyvol_dbdata", check=True).stdout)[0]
        assert info["Labels"]["com.docker.compose.project"] == "dyvol" and info["Labels"]["tier"] == "db"
        compose(d, tmp_path, "down")
        assert "dyvol_dbdata" in docker(d, "volume", "ls", "-q", check=True).stdout
        out = compose(d, tmp_path, "up", "--no-color").stdout
        assert "row-" in out  # the second run read what the first wrote
    finally:
        compose(d, tmp_path, "down", "-v")
    assert "dyvol_dbdata" not in docker(d, "volume", "ls", "-q", check=True).stdout


def test_volume_events(d):
    since = str(time.time())
    docker(d, "volume", "create", "evvol", check=True)
    docker(d, "run", "--rm", "-v", "evvol:/x", "busybox", "true", check=True)
    docker(d, "volume", "rm", "evvol", check=True)
    until = str(time.time() + 1)
    out = docker(d, "events", "--since", since, "--until", until, "--filter", "type=volume",
                 "--format", "{{.Action}} {{.Actor.ID}} {{index .Actor.Attributes \"driver\"}}", check=True).stdout
    # as dockerd: the container's use of the existing volume logs a create too (bench/conformance_diff.py)
    assert out.splitlines() == ["create evvol local", "create evvol local", "mount evvol local",
                                "unmount evvol local", "destroy evvol local"]


def test_cp_archive_mode_takes_the_container_user(d, tmp_path):
    (tmp_path / "f").write_text("x")
    os.chown(tmp_path / "f", 4242, 4242)
    cid = docker(d, "run", "-d", "-u", "1000:1000", "busybox", "sleep", "100", check=True).stdout.strip()
    try:
        docker(d, "cp", str(tmp_path / "f"), f"{cid}:/tmp/kept", check=True)
        docker(d, "cp", "-a", str(tmp_path / "f"), f"{cid}:/tmp/owned", check=True)
        out = docker(d, "exec", cid, "stat", "-c", "%n %u %g", "/tmp/kept", "/tmp/owned", check=True).stdout
        assert out.splitlines() == ["/tmp/kept 4242 4242", "/tmp/owned 1000 1000"]
    finally:
        docker(d, "rm", "-f", cid)
