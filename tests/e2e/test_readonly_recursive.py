"""Read-only bind mounts are read-only all the way down, per API version as moby (issue 18).

API >= 1.44: ``-v /:/host:ro`` makes /host/proc, /host/sys... read-only too (the OCI ``rro``
option, mount_setattr(2)); ``--mount ...,bind-recursive=readonly|writable|disabled`` does what
it says; API < 1.44 keeps the old top-only read-only.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.support.daemon import docker

RUNTIMES = ["dockyard", "crun", "runc"]


@pytest.fixture
def tree(tmp_path):
    """A host directory with a writable tmpfs mounted inside it (unmounted afterwards)."""
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "robust-rro", str(src / "sub")], check=True)
    try:
        yield str(src)
    finally:
        subprocess.run(["umount", "-l", str(src / "sub")], check=False)


# busybox's `test -w` is always true for root: open for appending (writes nothing) instead
WRITABLE = 'w() { if ( : >> "$1" ) 2>/dev/null; then echo "$1=rw"; else echo "$1=ro"; fi; }; '
PROBE = WRITABLE + "for p in /h /h/sub; do w $p/.probe | sed s,/.probe,,; rm -f $p/.probe 2>/dev/null; done; " \
    "test -e /h/sub/.mounted && echo sub=mounted || echo sub=empty"


def _probe(d, image, *args, env=None):
    p = docker(d, "run", "--rm", *args, image, "sh", "-c", PROBE) if env is None else \
        subprocess.run(["docker", "run", "--rm", *args, image, "sh", "-c", PROBE],
                       env={**d.env(), **env}, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.split()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_root_bind_read_only_reaches_proc_and_sys(dockyard_daemon, busybox_image, runtime):
    p = docker(dockyard_daemon, "run", "--rm", "--runtime", runtime, "-v", "/:/host:ro", busybox_image,
               "sh", "-c", WRITABLE + "for p in /host/proc/sys/kernel/hostname /host/sys/fs/cgroup/cgroup.procs "
                                      "/host/sys/fs/cgroup/memory/cgroup.procs; do test -e $p && w $p; done; "
                                      "w /host/dev/.robust-probe; rm -f /host/dev/.robust-probe")
    assert p.returncode == 0, p.stderr
    seen = p.stdout.split()
    assert "/host/proc/sys/kernel/hostname=ro" in seen and "/host/dev/.robust-probe=ro" in seen, seen
    assert all(line.endswith("=ro") for line in seen), seen


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_bind_recursive_options(dockyard_daemon, busybox_image, tree, runtime):
    open(os.path.join(tree, "sub", ".mounted"), "w").close()
    d, rt = dockyard_daemon, ["--runtime", runtime]
    assert _probe(d, busybox_image, *rt, "-v", f"{tree}:/h:ro") == ["/h=ro", "/h/sub=ro", "sub=mounted"]
    m = f"type=bind,src={tree},dst=/h,readonly"
    assert _probe(d, busybox_image, *rt, "--mount", m) == ["/h=ro", "/h/sub=ro", "sub=mounted"]
    assert _probe(d, busybox_image, *rt, "--mount", m + ",bind-recursive=readonly,bind-propagation=rprivate") == \
        ["/h=ro", "/h/sub=ro", "sub=mounted"]
    assert _probe(d, busybox_image, *rt, "--mount", m + ",bind-recursive=writable") == \
        ["/h=ro", "/h/sub=rw", "sub=mounted"]
    if runtime != "crun":  # crun 1.8 binds recursively even when asked for a plain "bind"
        assert _probe(d, busybox_image, *rt, "--mount", m + ",bind-recursive=disabled") == \
            ["/h=ro", "/h/sub=ro", "sub=empty"]  # the bare directory under the tmpfs
    # the writable bind stays writable below too
    assert _probe(d, busybox_image, *rt, "-v", f"{tree}:/h") == ["/h=rw", "/h/sub=rw", "sub=mounted"]


def test_api_before_1_44_keeps_read_only_at_the_top(dockyard_daemon, busybox_image, tree):
    open(os.path.join(tree, "sub", ".mounted"), "w").close()
    old = {"DOCKER_API_VERSION": "1.43"}
    assert _probe(dockyard_daemon, busybox_image, "-v", f"{tree}:/h:ro", env=old) == \
        ["/h=ro", "/h/sub=rw", "sub=mounted"]
    p = subprocess.run(["docker", "run", "--rm", "--mount", f"type=bind,src={tree},dst=/h,readonly,"
                        "bind-recursive=readonly,bind-propagation=rprivate", busybox_image, "true"],
                       env={**dockyard_daemon.env(), **old}, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0


def test_contradictory_bind_recursive_is_a_400_at_create(dockyard_daemon, busybox_image, tree):
    # the docker CLI refuses this itself; a raw API client reaches the daemon
    status, body = dockyard_daemon.request("POST", "/v1.47/containers/create", {
        "Image": busybox_image, "Cmd": ["true"],
        "HostConfig": {"Mounts": [{"Type": "bind", "Source": tree, "Target": "/h",
                                   "BindOptions": {"ReadOnlyForceRecursive": True}}]}})
    assert status == 400
    assert "option 'ReadOnlyForceRecursive' requires 'ReadOnly' to be set" in body["message"]
    status, body = dockyard_daemon.request("POST", "/v1.43/containers/create", {
        "Image": busybox_image, "Cmd": ["true"],
        "HostConfig": {"Mounts": [{"Type": "bind", "Source": tree, "Target": "/h", "ReadOnly": True,
                                   "BindOptions": {"ReadOnlyForceRecursive": True,
                                                   "Propagation": "rprivate"}}]}})
    assert status == 400 and "needs API v1.44 or newer" in body["message"]
