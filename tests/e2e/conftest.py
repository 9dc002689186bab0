"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.registry import Registry, new_registry


@pytest.fixture(scope="module")
def registry() -> Iterator[Registry]:
    """An anonymous Debian docker-registry on a loopback port, for one test module."""
    r = new_registry()
    r.start()
    yield r
    r.cleanup()
