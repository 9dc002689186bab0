"""kill -9 of the daemon at random points of concurrent `run -d` and `rm -f` (issue 18).

After each restart every container process of this daemon belongs to a record and every
record's state is the kernel's; after `rm -f` of everything nothing of this daemon is left:
no conmon, container process, cgroup, mount, runtime state, monitor dir or bundle.
"""

from __future__ import annotations

import glob
import os
import random
import threading
import time

from tests.support.daemon import docker, new_daemon

ITERATIONS = int(os.environ.get("CRASH_ITERATIONS", "50"))
OPS = 20
ITERATION_S = 30  # one crash, restart and check: a few seconds; a hang fails the test
BUDGET_S = 600  # ~90 s on an idle 2-core machine (a loaded one starts each daemon in seconds)


def _run(d, name: str, runtime: str) -> None:
    try:
        status, body = d.request("POST", f"/containers/create?name={name}", {
            "Image": "busybox:latest", "Cmd": ["sleep", "300"], "HostConfig": {"Runtime": runtime}}, timeout=20)
        if status == 201:
            d.request("POST", f"/containers/{body['Id']}/start", timeout=20)
    except OSError:
        pass  # the daemon was killed under us


def _rm(d, ref: str) -> None:
    try:
        d.request("DELETE", f"/containers/{ref}?force=1", timeout=20)
    except OSError:
        pass


def _conmons(d) -> dict[str, int]:
    """Container id -> pid of each conmon of this daemon (found in /proc, not in its files)."""
    out = {}
    for path in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(path, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and d.exec_root.encode() in b" ".join(argv) \
                and b"-c" in argv and b"--exec" not in argv:
            out[argv[argv.index(b"-c") + 1].decode()] = int(path.split("/")[2])
    return out


def _cgroup_procs(d) -> dict[str, set[int]]:
    """Container id -> pids in its cgroup (the pids hierarchy on v1, the unified one on v2)."""
    base = "/sys/fs/cgroup/pids" if os.path.isdir("/sys/fs/cgroup/pids") else "/sys/fs/cgroup"
    out: dict[str, set[int]] = {}
    for path in glob.glob(os.path.join(base + d.cgroup_parent, "*", "cgroup.procs")):
        try:
            with open(path) as f:
                pids = {int(p) for p in f.read().split()}
        except OSError:
            continue
        out[os.path.basename(os.path.dirname(path))] = pids
    return out


def _runtime_states(d) -> set[str]:
    return {os.path.basename(p) for p in glob.glob(os.path.join(d.exec_root, "runtime", "*", "*"))
            if len(os.path.basename(p)) == 64}


def _check_consistent(d) -> dict[str, dict]:
    status, items = d.request("GET", "/containers/json?all=1")
    assert status == 200
    records = {}
    for item in items:
        status, c = d.request("GET", f"/containers/{item['Id']}/json")
        assert status == 200
        records[c["Id"]] = c["State"]
    conmons, procs, states = _conmons(d), _cgroup_procs(d), _runtime_states(d)
    for cid in set(conmons) | {k for k, v in procs.items() if v} | states:
        assert cid in records, f"{cid} runs (conmon/cgroup/runtime state) but has no record"
    for cid, st in records.items():
        if st["Running"]:
            assert st["Pid"] > 0 and os.path.exists(f"/proc/{st['Pid']}"), (cid, st)
            assert st["Pid"] in procs.get(cid, set()), (cid, st, procs.get(cid))
            assert cid in conmons, f"{cid} recorded running without its monitor"
        else:
            assert st["Status"] in ("created", "exited"), (cid, st)
            assert not procs.get(cid), f"{cid} recorded {st['Status']} but has processes {procs[cid]}"
            assert cid not in conmons, f"{cid} recorded {st['Status']} but its conmon runs"
            assert cid not in states, f"{cid} recorded {st['Status']} but the runtime still has it"
    return records


def _leftovers(d) -> list[str]:
    left = [f"conmon {cid}" for cid in _conmons(d)]
    left += [f"cgroup {cid}" for cid in _cgroup_procs(d)]
    left += d.leftovers()
    left += [f"runtime state {s}" for s in _runtime_states(d)]
    for pattern in ("exec/monitor/conmon/*", "exec/monitor/exits/*", "data/containers/*", "exec/*-net/netns/*"):
        left += glob.glob(os.path.join(d.root, pattern))
    return left


def test_kill9_during_concurrent_run_and_rm(fresh):
    d = fresh
    rng = random.Random(int(os.environ.get("CRASH_SEED", "0")) or None)
    t0 = time.monotonic()
    serial = 0
    for it in range(ITERATIONS):
        assert time.monotonic() - t0 < BUDGET_S, f"only {it} iterations within {BUDGET_S}s"
        status, items = d.request("GET", "/containers/json?all=1")
        existing = [c["Id"] for c in items]
        threads = []
        for _ in range(OPS):
            if existing and (len(existing) > 12 or rng.random() < 0.4):
                target = existing.pop(rng.randrange(len(existing)))
                threads.append(threading.Thread(target=_rm, args=(d, target)))
            else:
                serial += 1
                runtime = "crun" if rng.random() < 0.25 else "dockyard"
                threads.append(threading.Thread(target=_run, args=(d, f"k_{serial}", runtime)))
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.0, 0.7))
        d.crash()
        t1 = time.monotonic()
        for t in threads:
            t.join(30)
        t2 = time.monotonic()
        d.start(timeout=60)
        t3 = time.monotonic()
        _check_consistent(d)
        assert time.monotonic() - t1 < ITERATION_S, f"iteration {it} took {time.monotonic() - t1:.0f}s"
        if os.environ.get("CRASH_VERBOSE"):
            print(f"it {it}: join {t2 - t1:.2f} start {t3 - t2:.2f} check {time.monotonic() - t3:.2f} "
                  f"records {len(existing)}")
    elapsed = time.monotonic() - t0
    d.remove_all_containers()
    status, items = d.request("GET", "/containers/json?all=1")
    assert items == []
    assert _leftovers(d) == []
    print(f"{ITERATIONS} crash iterations in {elapsed:.1f}s")


def test_crash_between_runtime_create_and_start(busybox_tar, tmp_path):
    """The daemon dies while the runtime's ``start`` is pending: the init waits on exec.fifo,
    holding the overlay mount.  Start-up undoes the half-done start: the record stays Created
    with nothing behind it; `docker start` then works, and `rm -f` leaves nothing."""
    from dockyard.runtime.native import locate

    flag = tmp_path / "hold-start"
    wrapper = tmp_path / "holdstart"
    wrapper.write_text("#!/bin/sh\n"
                       # while the flag exists a `start` waits, then fails: as if the daemon had died before it
                       f'for a in "$@"; do if [ "$a" = start ] && [ -e {flag} ]; then\n'
                       f'  while [ -e {flag} ]; do sleep 0.05; done; exit 1; fi; done\n'
                       f'exec {locate()} "$@"\n')
    wrapper.chmod(0o755)
    d = new_daemon(extra_args=["--add-runtime", f"holdstart={wrapper}"])
    d.start()
    try:
        docker(d, "import", str(busybox_tar), "busybox:latest", check=True)
        cid = docker(d, "create", "--runtime", "holdstart", "busybox", "sleep", "300", check=True).stdout.strip()
        flag.touch()
        starter = threading.Thread(target=lambda: _swallow(d.request, "POST", f"/containers/{cid}/start"))
        starter.start()
        _wait(lambda: os.path.exists(os.path.join(d.exec_root, "runtime", "holdstart", cid)))
        time.sleep(0.3)
        assert cid in _conmons(d) and cid in _runtime_states(d)
        d.crash()
        starter.join(10)
        flag.unlink()
        d.start()
        records = _check_consistent(d)
        assert records[cid]["Status"] == "created" and records[cid]["Pid"] == 0
        assert _leftovers(d) == [os.path.join(d.data_root, "containers", cid)]  # its bundle, nothing else
        assert docker(d, "start", cid).returncode == 0
        assert _check_consistent(d)[cid]["Running"]
        assert docker(d, "rm", "-f", cid).returncode == 0
        assert _leftovers(d) == []
    finally:
        if flag.exists():
            flag.unlink()
        d.cleanup()


def _swallow(fn, *args):
    try:
        fn(*args)
    except OSError:
        pass


def _wait(pred, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")
