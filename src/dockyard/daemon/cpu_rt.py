"""The daemon's real-time CPU budget for its containers' parents (dockerd's
``--cpu-rt-period`` and ``--cpu-rt-runtime``, daemon.json ``cpu-rt-period``/``cpu-rt-runtime``).

With CONFIG_RT_GROUP_SCHED on cgroup v1, a cgroup's real-time tasks run only
for ``cpu.rt_runtime_us`` in each ``cpu.rt_period_us``, and a group can give its
children no more than it has itself.  A new cgroup starts with a budget of 0,
so a container's ``--cpu-rt-runtime`` fails at start (the kernel refuses the
write) unless every level above it has a budget.  As dockerd does, the daemon
options are written into each level above the container (not the root, whose
budget is the kernel's ``sched_rt_runtime_us``) before every start; with both at
0 (dockerd's default) nothing is written.  The levels are the daemon's cgroup
parent, which outlives its containers, as in dockerd.

The kernel facts come from :class:`~dockyard.spec.hostcaps.SysInfo` and the
cgroup mount is a parameter, so the tests run this against a plain directory.
"""

from __future__ import annotations

import os

from dockyard.errors import SystemError_
from dockyard.spec.hostcaps import SysInfo

V2_TEXT = "daemon-scoped cpu-rt-period and cpu-rt-runtime are not implemented for cgroup v2"
NO_KERNEL_TEXT = "daemon-scoped cpu-rt-period and cpu-rt-runtime are not supported by the kernel"


def parent_levels(cgroups_path: str) -> list[str]:
    """``/a/b/<id>`` → ``["/a", "/a/b"]``: the levels above the container, top first, the root left out."""
    parts = [p for p in os.path.normpath("/" + cgroups_path).split("/") if p][:-1]
    return ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))]


def check_daemon_options(period: int, runtime: int, info: SysInfo) -> None:
    """At daemon start (as moby 28, which refuses to start) and before each container start (as
    dockerd 20.10): the options need cgroup v1 with real-time group scheduling."""
    if not period and not runtime:
        return
    if info.cgroup_v2:
        raise SystemError_(V2_TEXT)
    if not info.cpu_realtime:
        raise SystemError_(NO_KERNEL_TEXT)


def init_rt_parents(period: int, runtime: int, cgroups_path: str, info: SysInfo,
                    cpu_mount: str = "/sys/fs/cgroup/cpu") -> list[str]:
    """Give each level above the container the daemon's budget; returns the levels written.

    A level this call had to create is removed again if a later write fails
    (the kernel refuses a budget its parent cannot give: EBUSY or EINVAL), so a
    failed start leaves no cgroup behind.  Messages are dockerd's.
    """
    if not period and not runtime:
        return []
    check_daemon_options(period, runtime, info)
    made: list[str] = []
    written: list[str] = []
    op, target = "mkdir", cpu_mount
    try:
        for level in parent_levels(cgroups_path):
            op, target = "mkdir", cpu_mount + level
            try:
                os.mkdir(target, 0o755)
                made.append(target)
            except FileExistsError:
                pass
            for name, value in (("cpu.rt_period_us", period), ("cpu.rt_runtime_us", runtime)):
                if value:
                    op, target = "write", os.path.join(cpu_mount + level, name)
                    _write(target, str(value))
            written.append(cpu_mount + level)
    except OSError as exc:
        for path in reversed(made):
            try:
                os.rmdir(path)
            except OSError:
                pass
        reason = (exc.strerror or str(exc)).lower()
        raise SystemError_(f"unable to init CPU RT controller: {op} {target}: {reason}") from None
    return written


def _write(path: str, value: str) -> None:
    """One write(2), so the kernel's refusal of the value is the error (not a later flush's)."""
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode("ascii"))
    finally:
        os.close(fd)


def apply_daemon_budget(period: int, runtime: int, cgroups_path: str) -> list[str]:
    """Before a container starts: the daemon options' budget above ``cgroups_path`` (nothing when both are 0)."""
    if not period and not runtime:
        return []
    from dockyard.daemon.sysinfo import probe

    return init_rt_parents(period, runtime, cgroups_path, probe())
