"""Fixtures of the daemon-level integration tests."""

from __future__ import annotations

import pytest

from tests.support.daemon import docker, new_daemon


@pytest.fixture
def fresh(busybox_tar):
    """A daemon of this test's own, with busybox imported (for tests that crash or restart it)."""
    d = new_daemon()
    d.start()
    docker(d, "import", str(busybox_tar), "busybox:latest", check=True)
    try:
        yield d
    finally:
        d.cleanup()
