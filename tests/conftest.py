"""Fixtures shared by every test layer."""

from __future__ import annotations


import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "scripts"


def build_busybox_rootfs(dest: pathlib.Path) -> pathlib.Path:
    """Build a busybox-static rootfs at ``dest`` (see scripts/busybox-rootfs.sh)."""
    subprocess.run([str(SCRIPTS / "busybox-rootfs.sh"), str(dest)], check=True)
    return dest


@pytest.fixture(scope="session")
def busybox_rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A pristine busybox rootfs, built once per session; copy it before changing it."""
    return build_busybox_rootfs(tmp_path_factory.mktemp("bbtemplate") / "rootfs")


@pytest.fixture
def busybox_rootfs(busybox_rootfs_template: pathlib.Path, tmp_path: pathlib.Path) -> pathlib.Path:
    """A fresh, writable copy of the busybox rootfs for one test."""
    dest = tmp_path / "rootfs"
    shutil.copytree(busybox_rootfs_template, dest, symlinks=True)
    return dest


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The busybox rootfs as a tarball, for `docker import`."""
    out = tmp_path_factory.mktemp("bbtar") / "busybox.tar"
    subprocess.run([str(SCRIPTS / "busybox-rootfs.sh"), "--tar", str(out)], check=True)
    return out




@pytest.fixture(scope="session")
def dockyard_daemon():
    """One real dockyardd for the whole session (temporary socket, data root, cgroup parent)."""
    from tests.support.daemon import new_daemon

    d = new_daemon()
    d.start()
    try:
        yield d
    finally:
        d.cleanup()


@pytest.fixture(scope="session")
def busybox_image(dockyard_daemon, busybox_tar) -> str:
    """The busybox rootfs imported as `busybox:latest` into the session daemon."""
    from tests.support.daemon import docker

    docker(dockyard_daemon, "import", str(busybox_tar), "busybox:latest", check=True)
    return "busybox:latest"
