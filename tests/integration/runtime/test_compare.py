"""The same bundle under crun, runc and dockyard-runtime: the container must see the same world."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.timeout(120)

PROBE = ("echo pid=$$; hostname; id; pwd; ls /proc/self/fd | tr '\\n' ' '; echo; "
         "grep -E '^(Cap|NoNewPrivs|Seccomp:|Sig(Ign|Blk))' /proc/self/status; "
         "ulimit -n; ls /dev | sort | tr '\\n' ' '; echo; "
         "wc -c < /proc/keys; ls /sys/firmware | wc -l; "
         "awk '{print $2, $3}' /proc/mounts | grep -v '^/sys/fs/cgroup/' | sort")


def _normalise(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines()]


@pytest.mark.parametrize("other_name", ["crun", "runc"])
def test_same_view_as_reference_runtime(rt, crun, runc, make_bundle, other_name):
    other = {"crun": crun, "runc": runc}[other_name]
    bundle = make_bundle(["sh", "-c", PROBE], hostname="samebox",
                         process__rlimits=[{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 512}])
    ours = rt.run(bundle)
    theirs = other.run(bundle)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.returncode == 0, ours.stderr
    mine, ref = _normalise(ours.stdout), _normalise(theirs.stdout)
    # the reference runtimes differ from each other on the cgroup mount layout only, filtered above;
    # runc adds /dev/core -> /proc/kcore even where the kernel has no kcore; crun and we do not
    ref = [line.replace("core fd ", "fd ") for line in ref]
    # masked files are /dev/null bind mounts: runc's /dev/null is the host's (devtmpfs), ours and crun's
    # a node made in the container's /dev tmpfs
    ref = [line.replace(" devtmpfs", " tmpfs") if line.startswith("/proc/") else line for line in ref]
    assert mine == ref
