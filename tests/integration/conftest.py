"""Fixtures of the daemon-level integration tests."""

from __future__ import annotations

import pytest

from tests.support.daemon import busybox_daemon


@pytest.fixture
def fresh(busybox_tar):
    """A daemon of this test's own, with busybox imported (for tests that crash or restart it)."""
    with busybox_daemon(busybox_tar) as d:
        yield d
