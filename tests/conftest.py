"""Fixtures shared by every test layer."""

from __future__ import annotations

import os
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


def _cgroup_parents() -> set[str]:
    """Top-level cgroup dirs that tests make: the runtimes' default parent and test daemons'."""
    found = set()
    root = pathlib.Path("/sys/fs/cgroup")
    for hierarchy in [root, *(p for p in root.iterdir() if p.is_dir())]:
        for name in ("dockyard", *(p.name for p in hierarchy.glob("dytest-*"))):
            if (hierarchy / name).is_dir():
                found.add(str(hierarchy / name))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_cgroup_parents_left():
    """Remove the empty cgroup parents tests leave: /dockyard, and the /dytest-* this session made.

    Runtimes create a container's cgroup under a shared parent and, like runc,
    leave the parent. Only empty directories are removed (rmdir), so a parent
    still in use by anything is untouched.
    """
    before = {p for p in _cgroup_parents() if not p.endswith("/dockyard")}
    yield
    # An empty /dockyard goes even if it was there before: runtimes re-create it on demand.
    # Only the parents themselves: a container cgroup below one may belong to another session
    # that is creating it right now (a leaked one is a test's failure to clean up, not ours).
    for path in sorted(_cgroup_parents() - before, key=len, reverse=True):
        try:
            os.rmdir(path)
        except OSError:
            pass
