"""The ``run`` group of bench/conformance_diff.py: ``docker create``/``run`` flag variants side by side.

Each row is a set of create options and a shell probe. Against both engines
(dockerd first) the tool creates ``rp-N`` with those options from busybox
running ``sh -c PROBE``, and compares:

- the exit code and error text of ``docker create``;
- ``docker inspect`` (Config, HostConfig, Mounts), minus the differences a
  plain ``docker create`` already shows (so each row reports what its options
  change);
- what the process sees: ``docker start -a`` exit code, stdout and stderr
  (``kind="start"``), or for a ``kind="port"`` row the container started
  detached and ``docker port`` / ``NetworkSettings.Ports`` compared.

Rows without ``-p``/``-P``/``--network`` run with ``--network none``. Host
ports are each engine's own (``{hport}``/``{hport2}``, consecutive); ports the
kernel picks are normalized to ``<eport>``. ``{tmp}`` is the engine's scratch
directory, where setup writes ``env.list``, ``labels.list`` and ``dir/``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Any

from tests.support.reference import normalize, shape_diff

# Volatile or per-engine by nature in a create's inspect (compared for type and key only).
RUN_VOLATILE = frozenset({
    "Created", "Id", "Name", "ResolvConfPath", "HostnamePath", "HostsPath", "LogPath", "Config.Hostname",
    "GraphDriver", "HostConfig.Runtime", "Image", "Mounts.Source", "Mounts.Name", "State", "NetworkSettings",
    "Platform", "Driver", "SizeRw", "SizeRootFs", "MountLabel", "ProcessLabel", "AppArmorProfile",
    "HostConfig.ShmSize",
})

# Files each engine's {tmp} holds before the rows run.
ENV_FILE = "# a comment\nA=1\nB=\"quoted value\"\n  C=with spaces  \nD\nE='single'\n\nF=x=y\n"
LABEL_FILE = "# labels\nl1=one\nl2\nl3=\"q\"\n"


@dataclass
class Row:
    """One scenario: options for ``docker create``, the probe, and how to observe it."""

    opts: list[str]
    probe: str = "true"
    kind: str = "start"  # start: start -a and compare output; port: start -d, compare port answers;
    # state: start -d, wait ``wait`` seconds, compare State (Health, RestartCount…) and `docker stop`'s effect
    image: str = "busybox"
    cmd: list[str] | None = None  # the command instead of sh -c PROBE
    env: dict[str, str] = field(default_factory=dict)
    wait: float = 0


def R(*opts: str, probe: str = "true", kind: str = "start", image: str = "busybox",
      cmd: list[str] | None = None, wait: float = 0) -> Row:
    return Row(list(opts), probe, kind, image, cmd, wait=wait)


STATUS = "grep -E '^(CapEff|CapBnd|CapPrm|NoNewPrivs|Seccomp):' /proc/self/status"
MOUNTS = ("cut -d' ' -f4- /proc/self/mountinfo | grep -E '^[^ ]+ /(x|data|dev/shm|tmp|run)( |/)' "
          "| sed -E 's/ (master|shared):[0-9]+//; s#^[^ ]*/data/volumes/#<data-root>/volumes/#' | sort")
HOSTS = "cat /etc/hostname; cat /etc/hosts; cat /etc/resolv.conf"

RUN_ROWS: list[Row] = [
    # --- ports
    R("-p", "127.0.0.1:{hport}:80", kind="port"),
    R("-p", "127.0.0.1:{hport}-{hport2}:80-81", kind="port"),
    R("-p", "127.0.0.1:{hport}:80/udp", kind="port"),
    R("-p", "127.0.0.1:{hport}:80/sctp", kind="port"),
    R("-p", "127.0.0.1::80", kind="port"),
    R("-p", "127.0.0.1::80/udp", kind="port"),
    R("-p", "127.0.0.1:0:80", kind="port"),
    R("-p", "80", kind="port"),
    R("-p", "80-81", kind="port"),
    R("-p", "127.0.0.1:{hport}:80", "-p", "127.0.0.1:{hport2}:80", kind="port"),
    R("-p", "127.0.0.1:{hport}:80", "-p", "127.0.0.1:{hport}:80", kind="port"),
    R("-p", "127.0.0.1:{hport}:80", "-p", "127.0.0.1:{hport}:80/udp", kind="port"),
    R("-p", "127.0.0.1:{hport}-{hport2}:80", kind="port"),
    R("-p", "127.0.0.1:{hport}:80-81", kind="port"),
    R("-p", "{hport}:80", kind="port"),
    R("-p", "[::1]:{hport}:80", kind="port"),
    R("-P", kind="port", image="rp-expose"),
    R("-P", "--expose", "90", kind="port"),
    R("-P", "--expose", "7000-7001", kind="port"),
    R("--expose", "90", kind="port"),
    R("-p", "127.0.0.1:{hport}:80/bogus"),
    R("-p", "bogus"),
    R("-p", "127.0.0.1:70000:80"),
    R("-p", "1.2.3:80:80"),
    R("-p", "127.0.0.1:{hport}:80", "--network", "none"),
    R("-p", "127.0.0.1:{hport}:80", "--network", "host"),
    # --- volumes and mounts
    R("-v", "{tmp}/dir:/x", probe=MOUNTS + "; ls /x"),
    R("-v", "{tmp}/dir:/x:ro", probe=MOUNTS + "; touch /x/f"),
    R("-v", "{tmp}/dir:/x:rw", probe=MOUNTS),
    R("-v", "{tmp}/dir:/x:ro,z", probe=MOUNTS),
    R("-v", "{tmp}/dir:/x:Z", probe=MOUNTS),
    R("-v", "{tmp}/dir:/x:cached", probe=MOUNTS),
    R("-v", "{tmp}/dir:/x:delegated,ro", probe=MOUNTS),
    R("-v", "{tmp}/dir:/x:rshared", probe=MOUNTS),
    R("-v", "{tmp}/dir:/x:ro,ro"),
    R("-v", "{tmp}/dir:/x:nocopy"),
    R("-v", "{tmp}/dir:/x", "-v", "{tmp}/dir:/x"),
    R("-v", "{tmp}/newdir:/x", probe="ls -ld /x | cut -c1-10"),
    R("-v", "/x", probe=MOUNTS + "; ls -la /x | cut -c1-10"),
    R("-v", "/etc", probe="ls /etc | head -3"),
    R("-v", "rp-vol:/data", probe=MOUNTS),
    R("-v", "rp-vol2:/etc:nocopy", probe="ls /etc | wc -l"),
    R("-v", "rp-vol3:/etc", probe="ls /etc | head -3"),
    R("-v", "rp-vol4:/data:ro", probe="touch /data/f"),
    R("--mount", "type=tmpfs,dst=/x,tmpfs-size=1m,tmpfs-mode=1770", probe=MOUNTS + "; stat -c %a /x"),
    R("--mount", "type=tmpfs,destination=/x", probe=MOUNTS),
    R("--mount", "type=tmpfs,dst=/x,tmpfs-size=bogus"),
    R("--mount", "type=tmpfs,dst=/x,readonly", probe=MOUNTS),
    R("--mount", "type=tmpfs,src=foo,dst=/x"),
    R("--mount", "type=bind,src={tmp}/dir,dst=/x,bind-propagation=rslave", probe=MOUNTS),
    R("--mount", "type=bind,src={tmp}/dir,dst=/x,bind-propagation=bogus"),
    R("--mount", "type=bind,src={tmp}/dir,target=/x,ro", probe=MOUNTS),
    R("--mount", "type=bind,src={tmp}/dir,dst=/x,readonly=false", probe=MOUNTS),
    R("--mount", "type=bind,source={tmp}/dir,dst=/x,consistency=cached", probe=MOUNTS),
    R("--mount", "type=bind,src={tmp}/nosuchdir,dst=/x"),
    R("--mount", "type=bind,src=rel,dst=/x"),
    R("--mount", "type=bind,dst=/x"),
    R("--mount", "src={tmp}/dir,dst=/x", probe=MOUNTS),
    R("--mount", "type=volume,src=rp-mvol,dst=/x,volume-nocopy", probe=MOUNTS),
    R("--mount", "type=volume,dst=/x", probe=MOUNTS),
    R("--mount", "type=volume,src=rp-mvol2,dst=/x,volume-opt=type=tmpfs,volume-opt=device=tmpfs",
      probe=MOUNTS),
    R("--mount", "type=volume,src=rp-mvol3,dst=/x,volume-label=a=b"),
    R("--mount", "type=volume,src=rp-mvol4,dst=/x,readonly", probe="touch /x/f"),
    R("--mount", "type=bogus,dst=/x"),
    R("--mount", "dst=/x,bogus"),
    R("--mount", "type=bind,src={tmp}/dir"),
    R("--tmpfs", "/x", probe=MOUNTS),
    R("--tmpfs", "/x:rw,size=1m,mode=1777", probe=MOUNTS),
    R("--tmpfs", "/x:ro", probe=MOUNTS),
    R("--tmpfs", "/x:noexec,nosuid,size=64k", probe=MOUNTS),
    R("--tmpfs", "/x:size=bogus"),
    R("--tmpfs", "rel"),
    R("--tmpfs", "/x:uid=1000,gid=1000", probe="stat -c '%u %g' /x"),
    R("--tmpfs", "/x", "-v", "{tmp}/dir:/x"),
    R("--shm-size", "8m", probe=MOUNTS),
    R("--shm-size", "bogus"),
    R("--read-only", probe="touch /f; touch /tmp/f; " + MOUNTS),
    R("--read-only", "--tmpfs", "/tmp", probe="touch /tmp/f && echo ok"),
    # --- env and labels
    R("-e", "A=1", "-e", "B", "-e", "C=", probe="env | grep -E '^(A|B|C)=' | sort"),
    R("-e", "HOME", probe="env | grep ^HOME"),
    R("-e", "PATH=/x", probe="echo $PATH", cmd=["/bin/sh", "-c", "echo $PATH"]),
    R("-e", "HOSTNAME=foo", probe="echo $HOSTNAME"),
    R("-e", "=x"),
    R("-e", "A B=1", probe="env | grep 'A B'"),
    R("--env-file", "{tmp}/env.list", probe="env | grep -E '^[A-F]=' | sort"),
    R("--env-file", "{tmp}/nosuchfile"),
    R("-l", "a=1", "-l", "b", "--label-file", "{tmp}/labels.list"),
    R("--label-file", "{tmp}/nosuchfile"),
    R("-u", "1000", probe="id; echo $HOME"),
    R("-u", "app", probe="id; echo $HOME"),
    R("-u", "app:users", probe="id"),
    R("-u", "1000:1000", "--group-add", "users", "--group-add", "5", probe="id"),
    R("-u", "4242:4242", probe="id; echo $HOME"),
    R("-u", "4242", probe="id"),
    R("-u", "root:nosuchgroup"),
    R("--group-add", "nosuchgroup"),
    R("-u", "app", "--group-add", "daemon", probe="id"),
    R("-u", "0:0", probe="id"),
    R("-u", "1000:1000", "-w", "/newdir", probe="pwd; ls -ld /newdir | cut -c1-24"),
    R("-w", "/newdir/a/b", probe="pwd"),
    R("-w", "/tmp/", probe="pwd"),
    R("-w", "/tmp/../etc", probe="pwd"),
    R("--entrypoint", "", cmd=["echo", "hi"]),
    R("--entrypoint", "echo", cmd=["a", "b"]),
    R("--entrypoint", "/bin/sh -c", cmd=["echo x"]),
    R("--entrypoint", "nosuchcmd", cmd=[]),
    R("-h", "myhost", probe=HOSTS + "; hostname; hostname -d"),
    R("-h", "myhost.example.com", probe=HOSTS + "; hostname"),
    R("-h", "myhost", "--domainname", "example.com", probe=HOSTS + "; hostname; cat /proc/sys/kernel/domainname"),
    R("-h", "bad_host!"),
    R("--add-host", "a:1.2.3.4", "--add-host", "b:::1", probe=HOSTS),
    R("--add-host", "a=1.2.3.4", probe=HOSTS),
    R("--add-host", "a:bogus"),
    R("--add-host", "gw:host-gateway", "--network", "bridge", probe="grep gw /etc/hosts | wc -l"),
    R("--dns", "9.9.9.9", "--dns-search", "example.com", "--dns-option", "ndots:2", probe=HOSTS),
    R("--dns", "bogus"),
    R("--dns", "9.9.9.9", "--network", "bridge", probe="cat /etc/resolv.conf"),
    R("--dns-search", ".", probe="cat /etc/resolv.conf"),
    # --- lifecycle
    R("--stop-signal", "SIGUSR1", "--stop-timeout", "3"),
    R("--stop-signal", "9"),
    R("--stop-signal", "usr2"),
    R("--stop-signal", "RTMIN+3"),
    R("--stop-timeout", "-1"),
    R("--restart", "on-failure:3"),
    R("--restart", "on-failure"),
    R("--restart", "unless-stopped"),
    R("--restart", "no"),
    R("--restart", "always"),
    R("--restart", "on-failure:-1"),
    R("--restart", "no:1"),
    R("--restart", ""),
    R("--restart", "on-failure:3:4"),
    R("--rm", "--restart", "on-failure"),
    R("--health-cmd", "exit 0", "--health-interval", "2s", "--health-timeout", "1s", "--health-retries", "2",
      "--health-start-period", "1s"),
    R("--health-cmd", "true", "--health-start-interval", "1s"),
    R("--no-healthcheck"),
    R("--no-healthcheck", "--health-cmd", "true"),
    R("--health-interval", "2s"),
    R("--health-retries", "-1", "--health-cmd", "true"),
    R("--health-timeout", "-1s", "--health-cmd", "true"),
    R("--health-cmd", "true", "--health-interval", "0s"),
    R("--init", probe="cat /proc/1/cmdline | tr '\\0' ' '; echo"),
    R("--init", "--init-path", "/nosuch"),
    R("-t", probe="test -t 1 && echo tty; stty size 2>&1 | head -1"),
    R("-i", probe="test -t 0 || echo notty"),
    R("-t", "-i", probe="test -t 0 && echo tty"),
    R("--rm", probe="true"),
    R(probe="kill -TERM $$; sleep 1"),
    R(probe="kill -KILL $$"),
    R(cmd=["sh", "-c", "exit 300"]),
    # --- security and resources
    R("--cap-drop", "ALL", probe=STATUS),
    R("--cap-add", "ALL", probe=STATUS),
    R("--cap-add", "ALL", "--cap-drop", "NET_ADMIN", probe=STATUS),
    R("--cap-drop", "ALL", "--cap-add", "chown", probe=STATUS),
    R("--cap-add", "cap_sys_admin", probe=STATUS),
    R("--cap-drop", "all", "--cap-add", "ALL", probe=STATUS),
    R("--privileged", probe=STATUS),
    R("--security-opt", "no-new-privileges", probe=STATUS),
    R("--security-opt", "no-new-privileges:true", probe=STATUS),
    R("--security-opt", "no-new-privileges=true", probe=STATUS),
    R("--security-opt", "no-new-privileges:false", probe=STATUS),
    R("--security-opt", "no-new-privileges:bogus"),
    R("--security-opt", "seccomp=unconfined", probe=STATUS),
    R("--security-opt", "seccomp:unconfined", probe=STATUS),
    R("--security-opt", "apparmor=unconfined", probe=STATUS),
    R("--security-opt", "label=disable", probe=STATUS),
    R("--security-opt", "label:disable", probe=STATUS),
    R("--security-opt", "systempaths=unconfined", probe="grep -c ' /proc/kcore ' /proc/self/mountinfo"),
    R("--sysctl", "net.ipv4.ip_forward=1", probe="cat /proc/sys/net/ipv4/ip_forward"),
    R("--sysctl", "kernel.shmmax=1000000", probe="cat /proc/sys/kernel/shmmax"),
    R("--sysctl", "net.core.somaxconn=1024", probe="cat /proc/sys/net/core/somaxconn"),
    R("--sysctl", "kernel.hostname=x"),
    R("--sysctl", "vm.swappiness=1"),
    R("--sysctl", "bogus"),
    R("--ulimit", "nofile=100:200", probe="ulimit -n; ulimit -Hn"),
    R("--ulimit", "nofile=100", probe="ulimit -n; ulimit -Hn"),
    R("--ulimit", "nproc=50:60", probe="ulimit -u"),
    R("--ulimit", "core=-1", probe="ulimit -c"),
    R("--ulimit", "stack=8192:unlimited"),
    R("--ulimit", "nofile=200:100"),
    R("--ulimit", "bogus=1"),
    R("--ulimit", "nofile"),
    R("--ulimit", "nofile=1:2", "--ulimit", "nofile=3:4", probe="ulimit -n"),
    R("--pids-limit", "50", probe="cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"),
    R("--pids-limit", "-1"),
    R("--pids-limit", "0"),
    R("-m", "64m", probe="cat /sys/fs/cgroup/memory/memory.limit_in_bytes"),
    R("-m", "64m", "--memory-swap", "-1",
      probe="cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes 2>&1 | head -1"),
    R("-m", "64m", "--memory-swap", "128m"),
    R("--memory-swap", "128m"),
    R("-m", "64m", "--memory-swap", "64m"),
    R("-m", "6m"),
    R("-m", "64m", "--memory-reservation", "32m"),
    R("--memory-swappiness", "50", "-m", "64m"),
    R("--memory-swappiness", "200"),
    R("--kernel-memory", "64m"),
    R("--oom-kill-disable"),
    R("--oom-kill-disable", "-m", "64m"),
    R("--oom-score-adj", "500", probe="cat /proc/self/oom_score_adj"),
    R("--cpus", "0.5", probe="cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us"),
    R("--cpus", "0.5", "--cpu-quota", "50000"),
    R("--cpu-shares", "512", probe="cat /sys/fs/cgroup/cpu/cpu.shares"),
    R("--cpu-shares", "0"),
    R("--cpuset-cpus", "0", probe="cat /sys/fs/cgroup/cpuset/cpuset.cpus"),
    R("--cpuset-cpus", "0-1"),
    R("--cpuset-cpus", "a"),
    R("--cpuset-mems", "0"),
    R("--cpu-period", "50000", "--cpu-quota", "25000"),
    R("--cpu-period", "500"),
    R("--cpu-quota", "500"),
    R("--cpus", "-1"),
    R("--cpus", "bogus"),
    R("--device-read-bps", "/dev/null:1mb"),
    # --- logging
    R("--log-driver", "json-file", "--log-opt", "max-size=10k", "--log-opt", "max-file=3", probe="echo hi"),
    R("--log-opt", "max-size=10k", "--log-opt", "max-file=3"),
    R("--log-opt", "max-size=bogus"),
    R("--log-opt", "max-file=0"),
    R("--log-opt", "max-file=3"),
    R("--log-opt", "max-size=0"),
    R("--log-opt", "compress=true"),
    R("--log-opt", "compress=true", "--log-opt", "max-size=10k", "--log-opt", "max-file=2"),
    R("--log-opt", "labels=a", "--log-opt", "env=A", "--log-opt", "tag={{.Name}}"),
    R("--log-driver", "none", probe="echo hi"),
    R("--log-driver", "none", "--log-opt", "max-size=1k"),
    R("--log-driver", "local", probe="echo hi"),
    R("--log-driver", "local", "--log-opt", "max-size=1m", "--log-opt", "max-file=2"),
    R("--log-driver", "local", "--log-opt", "bogus=1"),
    R("--log-driver", "syslog"),
    R("--log-driver", "journald"),
    R("--log-driver", "nosuchdriver"),
    R("--log-opt", "mode=non-blocking", "--log-opt", "max-buffer-size=1m"),
    R("--log-opt", "mode=bogus"),
    # --- names and modes
    R("--name", "a"),
    R("--name", "-a"),
    R("--name", "a.b_c-d"),
    R("--name", "/rp-slash"),
    R("--name", "a b"),
    R("--name", "é"),
    R("--rm", "-d"),
    R("-d", "-a", "stdout"),
    R("--network", "host", probe="hostname | wc -c"),
    R("--network", "bridge", "--network-alias", "x"),
    R("--network", "none", "--ip", "10.0.0.2"),
    R("--network", "none", "--mac-address", "02:42:ac:11:00:02"),
    R("--mac-address", "bogus"),
    R("--ipc", "private", probe="ls /dev/shm"),
    R("--ipc", "shareable"),
    R("--ipc", "host", probe="true"),
    R("--pid", "host", probe="test -d /proc/1 && echo ok"),
    R("--uts", "host", probe="true"),
    R("--userns", "host"),
    R("--cgroupns", "private", probe="cat /proc/self/cgroup | head -2"),
    R("--cgroupns", "host"),
    R("--cgroup-parent", "rp-parent"),
    R("--device", "/dev/null:/dev/xnull", probe="ls -l /dev/xnull | cut -c1-10"),
    R("--device", "/dev/null:/dev/xnull:r", probe="echo > /dev/xnull"),
    R("--device", "/dev/null:/dev/xnull:bogus"),
    R("--device-cgroup-rule", "c 1:3 mr"),
    R("--device-cgroup-rule", "bogus"),
    R("--stop-signal", "SIGTERM", "--init", probe="true"),
    R("--env", "A=1", "--workdir", "/", "--user", "0"),
    R("--annotation", "a=b"),
    R("--pull", "bogus"),
    R("--platform", "linux/amd64"),
    R("--runtime", "runc"),
    R("--storage-opt", "size=1G"),
    R("--volumes-from", "nosuchcontainer"),
    R("--link", "nosuchcontainer:x"),
    R("--isolation", "default"),
    R("--hostname", "x", "--network", "host"),
    R("--mac-address", "02:42:ac:11:00:02", "--network", "host"),
    R("--dns", "1.1.1.1", "--network", "host"),
    R("--add-host", "a:1.2.3.4", "--network", "host", probe="grep -c '1.2.3.4' /etc/hosts"),
    R("-p", "80", "--network", "host"),
    R("--expose", "bogus"),
    R("--expose", "80-bogus"),
]

# Rows that watch a container over time: health checks, restart policies, stop.
RUN_ROWS += [
    R("--health-cmd", "exit 1", "--health-interval", "1s", "--health-retries", "2", probe="sleep 1000",
      kind="state", wait=4),
    R("--health-cmd", "echo ok", "--health-interval", "1s", probe="sleep 1000", kind="state", wait=3),
    R("--health-cmd", "sleep 5", "--health-interval", "1s", "--health-timeout", "1s", "--health-retries", "1",
      probe="sleep 1000", kind="state", wait=4),
    R("--health-cmd", "exit 1", "--health-interval", "1s", "--health-start-period", "30s", probe="sleep 1000",
      kind="state", wait=3),
    R("--health-cmd", "exit 3", "--health-interval", "1s", "--health-retries", "1", probe="sleep 1000",
      kind="state", wait=3),
    R("--health-cmd", "echo -n 0123456789; exit 1", "--health-interval", "1s", "--health-retries", "5",
      probe="sleep 1000", kind="state", wait=3),
    R("--restart", "on-failure:2", probe="exit 3", kind="state", wait=5),
    R("--restart", "on-failure", probe="exit 0", kind="state", wait=2),
    R("--restart", "always", probe="exit 0", kind="state", wait=3),
    R("--restart", "unless-stopped", probe="exit 1", kind="state", wait=3),
    R("--stop-timeout", "1", probe="trap '' TERM; sleep 1000 & wait", kind="state", wait=1),
    R("--stop-signal", "USR1", probe="trap 'exit 9' USR1; while true; do sleep 0.1; done", kind="state", wait=1),
    R("--init", probe="sleep 1000", kind="state", wait=1),
    R("--rm", probe="sleep 1", kind="state", wait=3),
    R("-t", probe="sleep 1000", kind="state", wait=1),
]

# More syntax users type: attach/cidfile/pull, mount variants, namespace sharing, odd names and values.
RUN_ROWS += [
    R("--cidfile", "{tmp}/cid", probe="true"),
    R("--cidfile", "{tmp}/dir/f"),
    R("--pull", "never"),
    R("--pull", "missing"),
    R("-a", "stdout", "-a", "stderr", probe="echo out; echo err >&2"),
    R("-a", "bogus"),
    R("--sig-proxy=false", probe="true"),
    R("--detach-keys", "bogus"),
    R("--mount", "type=volume,src=rp-svol,dst=/x,volume-subpath=sub"),
    R("--mount", "type=bind,src={tmp}/dir,dst=/x,bind-nonrecursive", probe=MOUNTS),
    R("--mount", "type=bind,src={tmp}/dir,dst=/x,bind-recursive=disabled", probe=MOUNTS),
    R("--mount", "type=bind,src={tmp}/dir,dst=/x,readonly,bind-recursive=writable", probe=MOUNTS),
    R("--mount", "type=tmpfs,dst=/x,tmpfs-mode=bogus"),
    R("--mount", "type=tmpfs,dst=/x,tmpfs-size=-1"),
    R("--mount", "type=volume,src=UPPER_case.vol-1,dst=/x"),
    R("--mount", "type=volume,src=bad/name,dst=/x"),
    R("-v", "bad/name:/x"),
    R("-v", "{tmp}/dir:/x:ro", "-v", "rp-v2:/x/sub", probe=MOUNTS),
    R("-v", "{tmp}/dir/f:/etc/hostname", probe="cat /etc/hostname"),
    R("-v", "{tmp}/dir/f:/x/f", probe="cat /x/f"),
    R("-v", "{tmp}/dir:/x", "--read-only", probe="touch /x/ok && echo ok"),
    R("-l", "=x"),
    R("-l", "a=b=c", "-l", "a=d"),
    R("-e", "A=1", "-e", "A=2", probe="echo $A"),
    R("-h", "a" * 64),
    R("-h", "a" * 63, probe="hostname | wc -c"),
    R("--uts", "host", "-h", "x"),
    R("--ulimit", "rtprio=5", probe="ulimit -r"),
    R("--ulimit", "memlock=-1:-1", probe="ulimit -l"),
    R("--memory-reservation", "32m", probe="cat /sys/fs/cgroup/memory/memory.soft_limit_in_bytes"),
    R("--cpu-rt-runtime", "1000"),
    R("--network-alias", "x"),
    R("--link", "a:b"),
    R("--dns-option", "bogus", probe="cat /etc/resolv.conf"),
    R("--dns", "::1", probe="cat /etc/resolv.conf"),
    R("--add-host", "a:::1", "--add-host", "a:1.2.3.4", probe="grep -w a /etc/hosts"),
    R("--add-host", "-bad:1.2.3.4"),
    R("--env-file", "{tmp}/dir"),
    R("--expose", "80/udp", "--expose", "90-91", kind="port"),
    R("-p", "127.0.0.1:{hport}:80", "--expose", "80", kind="port"),
    R("-p", "127.0.0.1:{hport}:80/tcp", "-p", "127.0.0.1:{hport}:80/udp", kind="port"),
    R("-p", "0.0.0.0:{hport}:80", kind="port"),
    R("-p", ":{hport}:80"),
    R("-p", "127.0.0.1:{hport}:"),
    R("-p", "127.0.0.1:{hport}-{hport2}:80-82"),
]

STATE_FORMAT = ("{{.State.Status}} running={{.State.Running}} restarting={{.State.Restarting}} "
                "exit={{.State.ExitCode}} oom={{.State.OOMKilled}} restarts={{.RestartCount}} "
                "health={{if .State.Health}}{{.State.Health.Status}} streak={{.State.Health.FailingStreak}} "
                "log={{len .State.Health.Log}}{{range $i, $l := .State.Health.Log}}{{if lt $i 2}} [{{$l.ExitCode}} "
                "{{printf \"%q\" $l.Output}}]{{end}}{{end}}{{else}}none{{end}}")


def observe_state(e: Any, name: str, wait: float) -> tuple[Any, ...]:
    """start -d, wait, the State line; then docker stop (its exit and how long it took) and the State again."""
    import time

    s = e.docker("start", name)
    time.sleep(wait)
    before = e.docker("inspect", "--format", STATE_FORMAT, name)
    t0 = time.monotonic()
    stop = e.docker("stop", name)
    took = round(time.monotonic() - t0)
    after = e.docker("inspect", "--format", "{{.State.Status}} exit={{.State.ExitCode}}", name)
    return (s.returncode, s.stderr.strip(), _health_log(before.stdout.strip() or before.stderr.strip()),
            stop.returncode, took, after.stdout.strip() or after.stderr.strip())


def _health_log(text: str) -> str:
    """Health log counts depend on timing within a second: keep the first three entries' shape."""
    return re.sub(r"log=(\d+)", lambda m: "log=" + ("3+" if int(m.group(1)) >= 3 else m.group(1)), text)


_EPHEMERAL = re.compile(r"(?<![\d{])(3[2-9]\d{3}|[4-5]\d{4}|60\d{3})(?![\d}])")


def setup_run(e: Any, tmp: str, docker: Any) -> None:
    """Files for the rows in the engine's ``tmp`` and an image with EXPOSE (``rp-expose``)."""
    os.makedirs(os.path.join(tmp, "dir"), exist_ok=True)
    with open(os.path.join(tmp, "dir", "f"), "w") as f:
        f.write("x\n")
    with open(os.path.join(tmp, "env.list"), "w") as f:
        f.write(ENV_FILE)
    with open(os.path.join(tmp, "labels.list"), "w") as f:
        f.write(LABEL_FILE)
    docker("rm", "-f", "rp-base")
    p = docker("create", "--name", "rp-base", "busybox", "true")
    p = docker("commit", "-c", "EXPOSE 80 53/udp", "rp-base", "rp-expose")
    if p.returncode != 0:
        raise RuntimeError(f"{e.name}: commit rp-expose: {p.stderr}")
    docker("rm", "-f", "rp-base")


def argv_of(row: Row, name: str) -> list[str]:
    """The ``docker create`` argv of a row."""
    opts = list(row.opts)
    if not any(o in ("-p", "-P", "--network", "--expose") for o in opts):
        opts = ["--network", "none", *opts]
    if not any(o == "--name" for o in opts):
        opts = ["--name", name, *opts]
    cmd = row.cmd if row.cmd is not None else ["sh", "-c", "sleep 1000" if row.kind == "port" else row.probe]
    return ["create", *opts, row.image, *cmd]


def created_name(row: Row, name: str) -> str:
    if "--name" in row.opts:
        return row.opts[row.opts.index("--name") + 1].lstrip("/")
    return name


def inspect_view(doc: dict[str, Any]) -> dict[str, Any]:
    """What a create's options change: Config, HostConfig, Mounts, NetworkSettings.Ports."""
    config = dict(doc.get("Config") or {})
    if config.get("Env"):  # dockerd 20.10 stores -e variables in a random order (a Go map on the way)
        config["Env"] = sorted(config["Env"])
    mounts = [dict(m, Source="<data-root>/" + m["Source"].split("/data/", 1)[-1]) if m.get("Type") == "volume"
              else m for m in doc.get("Mounts") or []]  # each engine's own data root
    return {"Config": config, "HostConfig": doc.get("HostConfig"), "Mounts": mounts,
            "Ports": (doc.get("NetworkSettings") or {}).get("Ports")}


def unport(text: str) -> str:
    return _EPHEMERAL.sub("<eport>", text)


def run_parity(r: Any, section: Any, indent: Any) -> None:
    """Every row against both engines; differences printed (see the module docstring)."""
    for e in (r.ref, r.ours):
        setup_run(e, r.vars[e.name]["tmp"], e.docker)
    base: dict[str, dict[str, Any]] = {}
    for e in (r.ref, r.ours):
        e.docker("rm", "-f", "rp-base")
        e.docker(*argv_of(R(), "rp-base"))
        base[e.name] = inspect_view(json.loads(e.docker("inspect", "rp-base").stdout)[0])
        e.docker("rm", "-f", "rp-base")
    known = set(shape_diff(base["dockerd"], base["dockyard"], ignore=RUN_VOLATILE))
    same = 0
    lo, _, hi = os.environ.get("RUN_ROWS", "").partition("-")  # RUN_ROWS=290-: only some rows
    for n, row in enumerate(RUN_ROWS):
        if (lo and n < int(lo)) or (hi and n > int(hi)):
            continue
        name = f"rp-{n}"
        lines: list[str] = []
        got: dict[str, Any] = {}
        for e in (r.ref, r.ours):
            argv = [r.fill(e, a) for a in argv_of(row, name)]
            p = e.docker(*argv)
            out = {"create": (p.returncode, r.unfill(e, p.stderr.strip()))}
            cname = created_name(row, name)
            if p.returncode == 0:
                doc = json.loads(e.docker("inspect", cname).stdout)[0]
                out["inspect"] = json.loads(r.unfill(e, json.dumps(inspect_view(doc))))
                if row.kind == "state":
                    out["run"] = observe_state(e, cname, row.wait)
                elif row.kind == "port":
                    s = e.docker("start", cname)
                    q = e.docker("port", cname)
                    ports = e.docker("inspect", "--format", "{{json .NetworkSettings.Ports}}", cname)
                    out["run"] = (s.returncode, r.unfill(e, s.stderr.strip()),
                                  unport(r.unfill(e, "\n".join(sorted(q.stdout.splitlines())))),
                                  unport(r.unfill(e, json.dumps(json.loads(ports.stdout or "null"),
                                                                sort_keys=True))))
                else:
                    s = e.docker("start", "-a", cname, timeout=30)
                    out["run"] = (s.returncode, r.unfill(e, s.stdout.strip()), r.unfill(e, s.stderr.strip()))
            e.docker("rm", "-f", "-v", cname)
            got[e.name] = out
        a, b = got["dockerd"], got["dockyard"]
        if a["create"] != b["create"]:
            lines.append(f"create: docker exit {a['create'][0]} {a['create'][1]!r}")
            lines.append(f"        ours   exit {b['create'][0]} {b['create'][1]!r}")
        if "inspect" in a and "inspect" in b:
            lines += [x for x in shape_diff(a["inspect"], b["inspect"], ignore=RUN_VOLATILE) if x not in known]
        if a.get("run") != b.get("run"):
            lines.append("run: docker " + repr(a.get("run")))
            lines.append("     ours   " + repr(b.get("run")))
        if lines:
            section(f"run {' '.join(argv_of(row, name)[1:])}")
            for line in lines:
                print("  " + line)
        else:
            same += 1
    for e in (r.ref, r.ours):
        for vol in ("rp-vol", "rp-vol2", "rp-vol3", "rp-vol4", "rp-mvol", "rp-mvol2", "rp-mvol3", "rp-mvol4",
                    "rp-svol", "UPPER_case.vol-1", "rp-v2"):
            e.docker("volume", "rm", "-f", vol)
    section(f"run: {same} of {len(RUN_ROWS)} rows the same")
