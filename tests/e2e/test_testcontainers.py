"""testcontainers-python (PyPI ``testcontainers``) against dockyard: start, wait for a log line, logs, stop.

Ryuk (the reaper container) is disabled: it needs port mappings. The connection
mode is pinned to ``docker_host`` because this test may itself run inside a
container (``/.dockerenv``), where testcontainers would otherwise look up the
``bridge`` network's gateway, which dockyard does not have yet.
"""

from __future__ import annotations

import pytest

from tests.support.daemon import docker

import testcontainers  # noqa: E402,F401 - a dependency ([test] extra): missing is a failure, not a skip


@pytest.fixture
def tc_env(dockyard_daemon, busybox_image, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", dockyard_daemon.docker_host)
    monkeypatch.setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
    monkeypatch.setenv("TESTCONTAINERS_CONNECTION_MODE", "docker_host")
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.config import ConnectionMode

    monkeypatch.setattr(testcontainers_config, "ryuk_disabled", True)
    monkeypatch.setattr(testcontainers_config, "connection_mode_override", ConnectionMode.docker_host)
    return dockyard_daemon


def test_start_wait_logs_stop(tc_env):
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = (DockerContainer("busybox:latest")
                 .with_command(["sh", "-c", "echo ready; echo $GREETING >&2; sleep 30"])
                 .with_env("GREETING", "hello")
                 .with_kwargs(network_mode="none")
                 .waiting_for(LogMessageWaitStrategy("ready")))
    with container:
        cid = container.get_wrapped_container().id
        state = tc_env.request("GET", f"/containers/{cid}/json")[1]["State"]
        assert state["Running"] is True
        assert container.get_container_host_ip() == "localhost"
        stdout, stderr = container.get_logs()
        assert stdout == b"ready\n"
        assert stderr == b"hello\n"
    # Leaving the block stops and removes the container (force, with volumes).
    assert tc_env.request("GET", f"/containers/{cid}/json")[0] == 404
    assert cid[:12] not in docker(tc_env, "ps", "-aq", "--no-trunc", check=True).stdout
