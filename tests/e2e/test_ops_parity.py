"""The commands that act on existing containers, as dockerd answers them (found by conformance_diff --only ops).

Each test pins, with the real docker CLI, what dockerd does where dockyard did
otherwise; the side-by-side rows are in bench/conformance_ops_scenarios.py.
"""

from __future__ import annotations

import os
import secrets
import subprocess

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
