"""Scenarios for bench/conformance_diff.py (``--only ops``): the commands that act on existing containers.

exec, logs, cp, ps, inspect, stop/kill/restart, wait, rename, pause, update,
top, stats, port, diff, export, prune, attach and ``start -a``, each driven by
the real docker CLI against both engines and compared on the exit code and the
normalized stdout/stderr (IDs, times and each engine's scratch directory put
back as placeholders).

Rows are data and run in order, dockerd first (so a row may change what a
later row sees):

- a list: a docker argv;
- ``("in", data, argv)``: a docker argv with ``data`` on its stdin;
- ``("sh", script)``: a host shell script with the engine's DOCKER_HOST (to
  look at what ``docker cp`` wrote, or pipe a tar into it);
- ``("sleep", seconds)``: wait once (health checks, timestamps).

``{tmp}`` is the engine's own scratch directory (normalized back), ``{now}``
the current second.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any, Callable

from tests.support.reference import Engine, print_answers

# Containers both engines get before the rows (names are shared; each a docker argv).
OPS_SETUP: list[list[str]] = [
    ["run", "-d", "--network", "none", "--name", "op-run", "-l", "app=web", "-l", "tier=a", "-v", "op-vol:/data",
     "-e", "BASE=1", "-w", "/tmp", "busybox", "sleep", "1000"],
    ["run", "-d", "--network", "none", "--name", "op-healthy", "--health-cmd", "true", "--health-interval", "1s",
     "busybox", "sleep", "1000"],
    ["run", "-d", "--network", "none", "--name", "op-sick", "--health-cmd", "exit 1", "--health-interval", "1s",
     "--health-retries", "1", "busybox", "sleep", "1000"],
    ["run", "--network", "none", "--name", "op-logs", "busybox", "sh", "-c",
     "for i in 1 2 3 4 5; do echo line$i; done; echo err1 >&2; printf 'no newline'"],
    ["run", "-t", "--network", "none", "--name", "op-tty", "busybox", "sh", "-c", "echo a; echo b"],
    ["run", "--network", "none", "--log-driver", "none", "--name", "op-nolog", "busybox", "echo", "hi"],
    ["run", "--network", "none", "--name", "op-exit3", "busybox", "sh", "-c", "exit 3"],
    ["run", "--network", "none", "--name", "op-files", "busybox", "sh", "-c",
     "mkdir -p /d/sub /d/empty && echo a > /d/f && echo bb > /d/sub/g && ln -s /d/f /link && ln -s f /d/rel"
     " && chown 1000:1001 /d/f && chmod 640 /d/f && ln -s /nosuch /dangling && ln -s /d /dlink"],
    ["run", "-d", "--network", "none", "--name", "op-cp", "busybox", "sleep", "1000"],
    ["create", "--network", "none", "--name", "op-created", "-l", "app=web", "busybox", "true"],
    ["run", "-d", "--network", "none", "--name", "op-trap", "busybox", "sh", "-c",
     "trap 'echo got USR1; exit 7' USR1; trap 'echo got TERM; exit 9' TERM; while true; do sleep 0.1; done"],
]

# Files on the host side of ``docker cp`` (made under each engine's {tmp}/src).
HOST_FILES = "mkdir -p {tmp}/src/dir/sub && echo host > {tmp}/src/file && echo x > {tmp}/src/dir/sub/y " \
             "&& ln -sf file {tmp}/src/link && printf 'A=1\\n# c\\nB\\nC=x y\\n' > {tmp}/src/env"

LS = "cd {tmp}/{d} 2>&1 && find . | sort | xargs stat -c '%n %A %s %N' 2>&1"
LS_OWN = "cd {tmp}/{d} 2>&1 && find . | sort | xargs stat -c '%n %A %u:%g %s' 2>&1"


def ls(d: str, own: bool = False) -> tuple[str, str]:
    return ("sh", (LS_OWN if own else LS).replace("{d}", d))


OPS_ROWS: list[Any] = [
    ("sh", HOST_FILES),
    # -- exec ------------------------------------------------------------------------------------
    ["exec", "op-run", "pwd"],
    ["exec", "-w", "/", "op-run", "pwd"],
    ["exec", "-w", "rel", "op-run", "pwd"],
    ["exec", "-u", "1000:1000", "op-run", "id"],
    ["exec", "-u", "nobody", "op-run", "id"],
    ["exec", "-u", "1000", "op-run", "id"],
    ["exec", "-u", "root:nogroup", "op-run", "id"],
    ["exec", "-u", "0:nosuchgroup", "op-run", "id"],
    ["exec", "op-run", "sh", "-c", "echo $BASE $HOME $PATH"],
    ["exec", "-e", "BASE=2", "-e", "NEW", "op-run", "sh", "-c", "echo $BASE ${NEW-unset}"],
    ["exec", "--env-file", "{tmp}/src/env", "op-run", "sh", "-c", "echo $A ${B-unset} $C"],
    ["exec", "--env-file", "{tmp}/src/nosuch", "op-run", "true"],
    ["exec", "-d", "op-run", "sh", "-c", "echo x > /tmp/detached"],
    ("sleep", 0.5),
    ["exec", "op-run", "cat", "/tmp/detached"],
    ("in", "piped input\nline2\n", ["exec", "-i", "op-run", "cat"]),
    ("in", "piped input\n", ["exec", "op-run", "cat"]),
    ("in", "abc", ["exec", "-i", "op-run", "wc", "-c"]),
    ["exec", "op-run", "nosuchcmd"],
    ["exec", "op-run", "/etc/passwd"],
    ["exec", "op-run", "/"],
    ["exec", "op-run", "sh", "-c", "exit 255"],
    ["exec", "op-run", "sh", "-c", "kill -9 $$"],
    ["exec", "op-run", "sh", "-c", "echo out; echo err >&2; exit 4"],
    ["exec", "op-exit3", "true"],
    ["exec", "op-created", "true"],
    ["exec", "nosuchcontainer", "true"],
    ["exec", "op-run"],
    ["exec", "-t", "op-run", "true"],
    ["exec", "--privileged", "op-run", "sh", "-c", "grep CapEff /proc/self/status"],
    ["exec", "op-run", "sh", "-c", "grep CapEff /proc/self/status"],
    # -- logs ------------------------------------------------------------------------------------
    ["logs", "op-logs"],
    ["logs", "--tail", "0", "op-logs"],
    ["logs", "--tail", "2", "op-logs"],
    ["logs", "--tail", "all", "op-logs"],
    ["logs", "--tail", "-1", "op-logs"],
    ["logs", "-n", "100", "op-logs"],
    ["logs", "--since", "1h", "op-logs"],
    ["logs", "--since", "0", "op-logs"],
    ["logs", "--since", "2000-01-01T00:00:00Z", "op-logs"],
    ["logs", "--since", "2999-01-01T00:00:00Z", "op-logs"],
    ["logs", "--since", "2000-01-01", "op-logs"],
    ["logs", "--since", "{now}", "op-logs"],
    ["logs", "--until", "1h", "op-logs"],
    ["logs", "--until", "2000-01-01T00:00:00Z", "op-logs"],
    ["logs", "--until", "2999-01-01T00:00:00Z", "op-logs"],
    ["logs", "--until", "-1h", "op-logs"],
    ["logs", "--until", "bogus", "op-logs"],
    ["logs", "--since", "1.5", "op-logs"],
    ["logs", "-t", "op-logs"],
    ["logs", "-t", "--tail", "1", "op-logs"],
    ["logs", "--details", "op-logs"],
    ["logs", "op-tty"],
    ["logs", "--tail", "1", "op-tty"],
    ["logs", "op-nolog"],
    ["logs", "-f", "op-nolog"],
    ["logs", "-f", "op-logs"],
    ["logs", "op-created"],
    ["logs", "-f", "--tail", "0", "op-exit3"],
    ["logs", "--until", "0", "-f", "op-logs"],
    # -- cp container -> host --------------------------------------------------------------------
    ["cp", "op-files:/d", "{tmp}/c1"],
    ls("c1"),
    ["cp", "op-files:/d/.", "{tmp}/c2"],
    ls("c2"),
    ("sh", "mkdir -p {tmp}/c3"),
    ["cp", "op-files:/d", "{tmp}/c3"],
    ["cp", "op-files:/d/.", "{tmp}/c3"],
    ls("c3"),
    ["cp", "op-files:/d/", "{tmp}/c3b/"],
    ls("c3b"),
    ["cp", "op-files:/link", "{tmp}/c4"],
    ("sh", "stat -c '%A %N' {tmp}/c4"),
    ["cp", "-L", "op-files:/link", "{tmp}/c5"],
    ("sh", "stat -c '%A %s %N' {tmp}/c5"),
    ["cp", "-L", "op-files:/dangling", "{tmp}/c5b"],
    ["cp", "op-files:/dangling", "{tmp}/c5c"],
    ("sh", "stat -c '%N' {tmp}/c5c"),
    ["cp", "op-files:/dlink", "{tmp}/c5d"],
    ls("c5d"),
    ["cp", "op-files:/dlink/", "{tmp}/c5e"],
    ls("c5e"),
    ["cp", "-a", "op-files:/d", "{tmp}/c6"],
    ls("c6", own=True),
    ["cp", "op-files:/d/f", "{tmp}/nosuchparent/x"],
    ["cp", "op-files:/d/f", "{tmp}/src/file/"],
    ["cp", "op-files:/d", "{tmp}/src/file"],
    ["cp", "op-files:/d/f", "{tmp}/c7/"],
    ["cp", "op-files:/d/f", "{tmp}/src"],
    ("sh", "cat {tmp}/src/f"),
    ("sh", "docker cp op-files:/d/f - | tar -tvf - | awk '{print $1, $2, $3, $6}'"),
    ("sh", "docker cp op-files:/d - | tar -tvf - | awk '{print $1, $2, $3, $6}' | sort"),
    ("sh", "docker cp op-files:/d/. - | tar -tf - | sort"),
    ("sh", "docker cp op-files:/link - | tar -tvf - | awk '{print $1, $6, $7, $8}'"),
    ("sh", "docker cp -L op-files:/link - | tar -tvf - | awk '{print $1, $6, $7, $8}'"),
    ["cp", "op-files:/nosuch", "-"],
    ["cp", "op-run:/proc/self/status", "{tmp}/c8"],
    ["cp", "op-run:/data", "{tmp}/c9"],
    ls("c9"),
    # -- cp host -> container --------------------------------------------------------------------
    ["cp", "{tmp}/src/file", "op-cp:/tmp/f1"],
    ["cp", "{tmp}/src/dir", "op-cp:/tmp/dir1"],
    ["cp", "{tmp}/src/dir/.", "op-cp:/tmp/dir2"],
    ["cp", "{tmp}/src/dir", "op-cp:/tmp/dir1"],
    ["cp", "{tmp}/src/link", "op-cp:/tmp/l1"],
    ["cp", "-L", "{tmp}/src/link", "op-cp:/tmp/l2"],
    ["cp", "{tmp}/src/file", "op-cp:/tmp/"],
    ["cp", "{tmp}/src/file", "op-cp:/nosuchdir/f"],
    ["cp", "{tmp}/src/dir", "op-cp:/etc/passwd"],
    ["cp", "{tmp}/src/file", "op-cp:/proc/x"],
    ["cp", "-a", "{tmp}/src/file", "op-cp:/tmp/f3"],
    ["exec", "op-cp", "sh", "-c", "cd /tmp && find . | sort | xargs stat -c '%n %A %u:%g %s %N'"],
    ("sh", "cd {tmp}/src && tar -cf - file dir | docker cp - op-cp:/tmp/fromtar"),
    ("sh", "echo notatar | docker cp - op-cp:/tmp/x"),
    ("sh", "cd {tmp}/src && tar -cf - file | docker cp - op-cp:/tmp/f1"),
    ["exec", "op-cp", "sh", "-c", "cd /tmp/fromtar && find . | sort | xargs stat -c '%n %A %s'"],
    ["cp", "{tmp}/src/file", "op-exit3:/f"],
    ["diff", "op-exit3"],
    ["cp", "op-run:/tmp/detached", "{tmp}/c10"],
    ["cp", "{tmp}/src/file", "op-run:/data/"],
    ["exec", "op-run", "ls", "/data"],
    # (early: dockerd's --since replay keeps only its last 256 events)
    ["events", "--since", "0", "--until", "{now}", "--filter", "container=op-cp", "--format",
     "{{.Action}} {{.Actor.Attributes.path}}"],
    ["events", "--since", "0", "--until", "{now}", "--filter", "container=op-files", "--format",
     "{{.Action}} {{.Actor.Attributes.name}}"],
    # -- ps ----------------------------------------------------------------------------------------
    ("sleep", 3),
    ["ps", "-a", "--filter", "name=op-", "--format", "{{.Names}} {{.Status}}"],
    ["ps", "-a", "--filter", "name=^op-(run|cp)$", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "name=/op-run", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "name=op-run", "--filter", "name=op-cp", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "status=exited", "--filter", "name=op-", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "status=running", "--filter", "status=created", "--filter", "name=op-",
     "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "exited=3", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "exited=0", "--filter", "name=op-", "--format", "{{.Names}}"],
    ["ps", "--filter", "exited=0", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "health=healthy", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "health=unhealthy", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "health=starting", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "health=none", "--filter", "name=op-", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "ancestor=busybox:latest", "--filter", "name=op-r", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "ancestor=nosuchimage", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "volume=op-vol", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "volume=/data", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "network=bridge", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "label=app", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "label=app=web", "--filter", "label=tier=a", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "label=app!=web", "--filter", "name=op-", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "is-task=true", "--format", "{{.Names}}"],
    ["ps", "-a", "--filter", "is-task=bogus"],
    ["ps", "-a", "--filter", "status=running", "--filter", "name=op-run", "--format", "table {{.Names}}\t{{.Image}}"],
    ["ps", "-a", "--filter", "name=op-run", "--format", "table"],
    ["ps", "-a", "--filter", "name=op-run", "--format", "{{.Names}}|{{.Label \"app\"}}|{{.Labels}}|{{.Mounts}}"
     "|{{.LocalVolumes}}|{{.Networks}}|{{.State}}|{{.Command}}|{{.Image}}"],
    ["ps", "-a", "--filter", "name=op-run", "--format", "json"],
    ["ps", "-a", "--filter", "name=op-run", "--no-trunc", "--format", "{{.ID}} {{.Command}}"],
    ["ps", "-a", "--filter", "name=op-run", "-q"],
    ["ps", "-a", "--filter", "name=op-run", "-s", "--format", "{{.Size}}"],
    ["ps", "-a", "-n", "3", "--format", "{{.Names}}"],
    ["ps", "-n", "1", "--format", "{{.Names}}"],
    ["ps", "-l", "-q"],
    ["ps", "-a", "--filter", "name=op-logs", "--format", "{{.Status}}"],
    ["ps", "-a", "--filter", "name=op-run", "--format", "{{.RunningFor}}"],
    ["ps", "--format", "{{.Nosuch}}"],
    # -- inspect -----------------------------------------------------------------------------------
    ["inspect", "--format", "{{.State.Health.Status}} {{.State.Health.FailingStreak}}", "op-healthy"],
    ["inspect", "--format", "{{json .State.Health.Log}}", "op-sick"],
    ["inspect", "--format", "{{.State.Health}}", "op-run"],
    ["inspect", "--format", "{{json .State.Health}}", "op-run"],
    ["inspect", "--format", "{{range .Mounts}}{{.Type}} {{.Name}} {{.Destination}} {{.Driver}} {{.Mode}} "
     "{{.RW}} {{.Propagation}}{{end}}", "op-run"],
    ["inspect", "--format", "{{json .Config}}", "op-run"],
    ["inspect", "--format", "{{json .Config.Labels}} {{.Config.Env}} {{.Config.WorkingDir}}", "op-run"],
    ["inspect", "--format", "{{.State.Status}} {{.State.ExitCode}} {{.State.Error}} {{.State.OOMKilled}} "
     "{{.RestartCount}} {{.State.Restarting}}", "op-exit3"],
    ["inspect", "-s", "--format", "{{.SizeRw}}", "op-exit3"],
    ["inspect", "--format", "{{.SizeRw}}", "op-exit3"],
    ["inspect", "--type", "container", "--format", "{{.Name}}", "op-run"],
    ["inspect", "--type", "volume", "--format", "{{.Name}}", "op-vol"],
    ["inspect", "--type", "image", "op-run"],
    ["inspect", "--format", "{{.Name}}", "op-run", "op-cp", "op-exit3"],
    ["inspect", "--format", "{{.Name}}", "op-run", "nosuch1", "op-cp", "nosuch2"],
    ["inspect", "nosuch1", "nosuch2"],
    ["inspect", "--format", "{{.Name}}", "op-vol"],
    ["inspect", "--format", "{{.Bogus}}", "op-run"],
    ["inspect", "--format", "{{.HostConfig.LogConfig.Type}} {{.HostConfig.RestartPolicy.Name}}", "op-nolog"],
    ["inspect", "--format", "{{.ExecIDs}}", "op-exit3"],
    ["container", "inspect", "op-vol"],
    # -- stop / kill / restart / wait ----------------------------------------------------------------
    ["kill", "-s", "SIGUSR1", "op-trap"],
    ["wait", "op-trap"],
    ["logs", "op-trap"],
    ["start", "op-trap"],
    ["kill", "-s", "USR1", "op-trap"],
    ["wait", "op-trap"],
    ["start", "op-trap"],
    ["kill", "-s", "10", "op-trap"],
    ["wait", "op-trap"],
    ["start", "op-trap"],
    ["kill", "--signal", "sigusr1", "op-trap"],
    ["wait", "op-trap"],
    ["start", "op-trap"],
    ["stop", "op-trap"],
    ["inspect", "--format", "{{.State.ExitCode}}", "op-trap"],
    ["start", "op-trap"],
    ["stop", "-t", "0", "op-trap"],
    ["inspect", "--format", "{{.State.ExitCode}} {{.State.Status}}", "op-trap"],
    ["start", "op-trap"],
    ["stop", "-s", "USR1", "op-trap"],
    ["inspect", "--format", "{{.State.ExitCode}}", "op-trap"],
    ["stop", "op-trap"],
    ["stop", "-t", "0", "op-exit3"],
    ["kill", "op-exit3"],
    ["kill", "-s", "BOGUS", "op-run"],
    ["kill", "-s", "99", "op-run"],
    ["kill", "-s", "-1", "op-run"],
    ["restart", "op-exit3"],
    ["wait", "op-exit3"],
    ["restart", "-t", "0", "op-trap"],
    ["inspect", "--format", "{{.State.Status}} {{.RestartCount}}", "op-trap"],
    ["kill", "op-trap"],
    ["wait", "op-trap", "op-exit3", "op-logs"],
    ["wait", "op-exit3", "nosuch", "op-logs"],
    ["stop", "op-exit3", "nosuch", "op-logs"],
    ["kill", "op-exit3", "nosuch"],
    ["run", "--network", "none", "--name", "op-since", "busybox", "sh", "-c", "echo early; sleep 2; echo late"],
    ["logs", "--since", "1s", "op-since"],
    ["logs", "--until", "1s", "op-since"],
    ["logs", "--since", "5m", "--until", "1s", "op-since"],
    ["logs", "-t", "--details", "--tail", "1", "op-since"],
    ["stop", "-s", "BOGUS", "op-run"],
    ["start", "op-run"],
    ["stop", "-t", "-1", "op-exit3"],
    ["restart", "-s", "USR1", "-t", "1", "op-exit3"],
    ["wait", "op-exit3"],
    ["inspect", "--format", "{{.State.ExitCode}} {{.RestartCount}}", "op-exit3"],
    ["container", "ls", "-a", "--filter", "name=op-run", "--format", "{{.Size}}"],
    ["ps", "-a", "-s", "--filter", "name=op-exit3", "--format", "table {{.Names}}\t{{.Size}}"],
    ["stats", "--no-stream", "--format", "json", "op-exit3"],
    ["inspect", "-f", "{{.Name}}", "--type", "container", "op-vol"],
    # -- start -a / attach ---------------------------------------------------------------------------
    ["start", "-a", "op-exit3"],
    ["start", "-a", "op-logs"],
    ["attach", "op-exit3"],
    ["attach", "op-created"],
    ["attach", "nosuch"],
    ["start", "-a", "op-created", "op-exit3"],
    # -- rename / pause / update -----------------------------------------------------------------------
    ["rename", "op-created", "op-renamed"],
    ["inspect", "--format", "{{.Name}}", "op-renamed"],
    ["rename", "op-renamed", "op-created"],
    ["rename", "op-created", ""],
    ["rename", "op-created", "bad/name"],
    ["rename", "op-created", "/op-slash"],
    ["rename", "op-slash", "op-created"],
    ["pause", "op-created"],
    ["pause", "op-exit3"],
    ["unpause", "op-exit3"],
    ["pause", "op-run", "nosuch"],
    ["pause", "op-run"],
    ["pause", "op-run"],
    ["stop", "-t", "1", "op-cp"],
    ["kill", "-s", "USR1", "op-run"],
    ["inspect", "--format", "{{.State.Status}}", "op-run"],
    ["unpause", "op-run", "op-run"],
    ["update", "--restart", "on-failure:2", "op-run"],
    ["inspect", "--format", "{{json .HostConfig.RestartPolicy}}", "op-run"],
    ["update", "--restart", "always", "op-exit3"],
    ["update", "--restart", "no", "op-exit3"],
    ["update", "--memory", "64m", "--memory-swap", "128m", "op-run"],
    ["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "op-run"],
    ["update", "--memory", "48m", "op-run"],
    ["inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.MemorySwap}}", "op-run"],
    ["update", "--cpu-shares", "512", "--pids-limit", "-1", "op-run"],
    ["inspect", "--format", "{{.HostConfig.CpuShares}} {{.HostConfig.PidsLimit}}", "op-run"],
    ["update", "--cpus", "0.5", "op-run", "op-exit3"],
    ["update", "op-run"],
    # -- top / stats / port / diff / export --------------------------------------------------------------
    ["top", "op-run", "-o", "user,args"],
    ["top", "op-run", "aux"],
    ["top", "op-run", "-eo", "pid,ppid,comm"],
    ["top", "op-run", "-p", "1"],
    ["stats", "--no-stream", "--format", "{{.Name}}", "op-run", "op-exit3"],
    ["stats", "--no-stream", "--format", "{{.Container}} {{.ID}}", "op-run"],
    ["stats", "--no-stream", "--format", "table {{.Name}}\t{{.PIDs}}", "op-run"],
    ["stats", "--no-stream", "--format", "{{json .Name}}", "op-run"],
    ["stats", "--no-stream", "op-run", "nosuch"],
    ["port", "op-run", "80/tcp"],
    ["port", "op-exit3"],
    ["diff", "op-files"],
    ["diff", "op-created"],
    ["diff", "nosuch"],
    ("sh", "docker export op-files | tar -tf - | grep -E '^(d/|link|dangling|dlink|\\.dockerenv|etc/hostname"
           "|etc/hosts|etc/resolv.conf|dev/|proc/|sys/)' | sort"),
    ("sh", "docker export op-files | tar -tvf - | grep -E ' d/f$| link' | awk '{print $1, $2, $6, $7, $8}'"),
    ["export", "-o", "{tmp}/nosuchdir/e.tar", "op-files"],
    # -- more: events of the operations, exec ids, paused containers, odd paths ---------------------------
    ["run", "-d", "--network", "none", "--name", "op-ev", "busybox", "sleep", "1000"],
    ["exec", "op-ev", "sh", "-c", "exit 2"],
    ["exec", "-d", "op-ev", "sleep", "5"],
    ["inspect", "--format", "{{len .ExecIDs}}", "op-ev"],
    ["exec", "-u", "4242", "op-ev", "id"],
    ["exec", "-u", "4242:4343", "op-ev", "sh", "-c", "id; touch /tmp/x 2>&1; ls -ln /tmp/x"],
    ["exec", "-e", "PATH=/nowhere", "op-ev", "ls"],
    ["exec", "-w", "/tmp/../etc", "op-ev", "pwd"],
    ["cp", "op-ev:/tmp/../etc/hostname", "{tmp}/hn"],
    ["cp", "op-ev:/etc/../../../etc/passwd", "{tmp}/pw"],
    ("sh", "wc -l < {tmp}/pw"),
    ["pause", "op-ev"],
    ["top", "op-ev"],
    ["stats", "--no-stream", "--format", "{{.Name}}", "op-ev"],
    ["exec", "op-ev", "true"],
    ["logs", "op-ev"],
    ["cp", "op-ev:/etc/hostname", "{tmp}/hn2"],
    ["diff", "op-ev"],
    ["restart", "-t", "1", "op-ev"],
    ["inspect", "--format", "{{.State.Status}} {{.State.Paused}}", "op-ev"],
    ["rename", "op-ev", "op-ev2"],
    ["exec", "op-ev2", "hostname"],
    ["stop", "-t", "1", "op-ev2"],
    ["rm", "-v", "op-ev2"],
    ["events", "--since", "0", "--until", "{now}", "--filter", "container=op-ev2", "--format",
     "{{.Action}} {{.Actor.Attributes.exitCode}} {{.Actor.Attributes.signal}} {{.Actor.Attributes.name}}"
     " {{.Actor.Attributes.oldName}}"],
    ["events", "--since", "0", "--until", "{now}", "--filter", "event=exec_die", "--filter", "container=op-run",
     "--format", "{{.Action}} {{json .Actor.Attributes}}"],
    ["run", "-d", "--network", "none", "--rm", "--name", "op-rm", "busybox", "sleep", "1"],
    ["wait", "op-rm"],
    ["update", "--restart", "always", "op-created"],
    ["inspect", "--format", "{{json .HostConfig.RestartPolicy}}", "op-created"],
    ["update", "--restart", "no", "op-created"],
    ["create", "--network", "none", "--rm", "--name", "op-autorm", "busybox", "true"],
    ["update", "--restart", "always", "op-autorm"],
    ["rm", "op-autorm"],
    ["run", "--network", "none", "--name", "op-big", "busybox", "sh", "-c",
     "i=0; while [ $i -lt 300 ]; do echo line $i; i=$((i+1)); done"],
    ("sh", "docker logs --tail 3 op-big; docker logs op-big | wc -l; docker logs -n 0 op-big | wc -l"),
    ["rm", "-f", "op-big"],
    # -- follow and attach to a running container ------------------------------------------------------
    ["run", "-d", "--network", "none", "--name", "op-fol", "busybox", "sh", "-c",
     "echo one; sleep 1; echo two >&2; sleep 0.5; exit 6"],
    ["logs", "-f", "op-fol"],
    ["wait", "op-fol"],
    # start and attach in one row: the rows run on dockerd first, so a start row then an attach row would
    # attach to ours after dockerd's attach waited for its container
    ("sh", "docker start op-fol >/dev/null && docker attach --no-stdin op-fol"),
    ("sh", "docker start op-fol >/dev/null && docker logs -f --tail 1 --since 1s op-fol"),
    ("sh", "docker start op-fol >/dev/null && echo | docker attach op-fol"),
    ("sh", "docker start op-fol >/dev/null && docker attach --sig-proxy=false --no-stdin op-fol"),
    ("sh", "docker start op-fol >/dev/null && docker stop -t 0 op-fol && docker wait op-fol"),
    ["exec", "-u", "nobody", "op-run", "sh", "-c", "echo $HOME $USER $PATH; pwd"],
    ["exec", "-u", "4321", "op-run", "sh", "-c", "echo $HOME; id"],
    ["exec", "-e", "HOME=/x", "op-run", "sh", "-c", "echo $HOME"],
    ["exec", "-u", "root", "-w", "/data", "op-run", "sh", "-c", "pwd; ls -ld ."],
    ["stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "op-exit3", "op-created"],
    ["run", "-d", "--network", "none", "--name", "op-tfol", "-t", "busybox", "sh", "-c", "echo t1; sleep 1; echo t2"],
    ["logs", "-f", "op-tfol"],
    ["start", "-a", "op-tfol"],
    # -- logs of a rotated log (max-size, max-file) ------------------------------------------------------
    ["run", "--network", "none", "--name", "op-rot", "--log-opt", "max-size=1k", "--log-opt", "max-file=3",
     "busybox", "sh", "-c", "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); done"],
    ("sh", "docker logs op-rot | wc -l; docker logs op-rot | head -1; docker logs --tail 5 op-rot | tr '\\n' ' '"),
    ["run", "--network", "none", "--name", "op-rot1", "--log-opt", "max-size=1k", "busybox", "sh", "-c",
     "i=0; while [ $i -lt 400 ]; do echo line$i; i=$((i+1)); done"],
    ("sh", "docker logs op-rot1 | wc -l"),
    # -- logs of odd output ------------------------------------------------------------------------------
    ["run", "--network", "none", "--name", "op-odd", "busybox", "sh", "-c",
     "head -c 40000 /dev/zero | tr '\\0' a; echo; printf 'a\\rb\\r\\n'; printf 'x\\0y\\n'; printf '\\377\\376\\n';"
     " printf 'tail'; sleep 0.2; printf 'more\\n' >&2"],
    ("sh", "docker logs op-odd 2>&1 | od -c | tail -8"),
    ("sh", "docker logs op-odd 2>/dev/null | wc -c; docker logs op-odd 2>&1 >/dev/null | wc -c"),
    ("sh", "docker logs --tail 2 op-odd 2>&1 | od -c | tail -3"),
    ("sh", "docker logs -t op-odd 2>&1 | cut -c1-40 | sed 's/^[0-9T:.-]*Z/TS/'"),
    ["inspect", "--format", "{{range .State.Health.Log}}{{.ExitCode}} {{printf \"%q\" .Output}} {{end}}",
     "op-sick"],
    ["inspect", "--format", "{{.State.Health.Status}} {{.State.Health.FailingStreak}} {{len .State.Health.Log}}",
     "op-sick"],
    ["inspect", "--format", "{{json .Config.Healthcheck}}", "op-sick"],
    # -- prune ---------------------------------------------------------------------------------------------
    ["create", "--network", "none", "--name", "op-p1", "-l", "prune=yes", "busybox", "true"],
    ["create", "--network", "none", "--name", "op-p2", "busybox", "true"],
    ["container", "prune", "-f", "--filter", "until=1h", "--filter", "label=prune"],
    ["container", "prune", "-f", "--filter", "label=prune=yes"],
    ["container", "prune", "-f", "--filter", "label!=prune", "--filter", "until=2000-01-01T00:00:00Z"],
    ["container", "prune", "-f", "--filter", "until=bogus"],
    ["container", "prune", "-f", "--filter", "until={now}", "--filter", "label=nosuch"],
    ["ps", "-a", "--filter", "name=op-p", "--format", "{{.Names}}"],
    ["rm", "op-p2", "nosuch"],
    ["rm", "-v", "op-p2"],
    ["rm", "-f", "nosuch"],
]


def run_ops(ref: Engine, ours: Engine, fill: Callable[[Engine, str], str], unfill: Callable[[Engine, str], str],
            section: Callable[[str], None]) -> None:
    """Make OPS_SETUP on both engines, then compare every row of OPS_ROWS."""
    for e in (ref, ours):
        for argv in OPS_SETUP:
            p = e.docker(*argv)
            if p.returncode not in (0, 3):
                raise RuntimeError(f"{e.name}: docker {' '.join(argv)}: {p.stderr}")
    for row in OPS_ROWS:
        if isinstance(row, tuple) and row[0] == "sleep":
            time.sleep(row[1])
            continue
        section(_title(row))
        print_answers(*(_one(e, row, fill, unfill) for e in (ref, ours)))


def _title(row: Any) -> str:
    if isinstance(row, list):
        return "docker " + " ".join(row)
    if row[0] == "in":
        return f"echo {row[1]!r} | docker " + " ".join(row[2])
    return "sh: " + row[1]


def _one(e: Engine, row: Any, fill: Callable[[Engine, str], str],
         unfill: Callable[[Engine, str], str]) -> tuple[int, str, str]:
    data: str | None = None
    if isinstance(row, list):
        cmd = ["docker", *[fill(e, a) for a in row]]
    elif row[0] == "in":
        data, cmd = row[1], ["docker", *[fill(e, a) for a in row[2]]]
    else:
        cmd = ["sh", "-c", fill(e, row[1])]
    try:
        extra: dict[str, Any] = {"input": data} if data is not None else {"stdin": subprocess.DEVNULL}
        p = subprocess.run(cmd, env=e.env, capture_output=True, text=True, timeout=30, errors="replace", **extra)
        code, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as exc:
        code, out, err = -1, str(exc.stdout or ""), "TIMEOUT"
    return code, unfill(e, out.strip()), unfill(e, err.strip())
