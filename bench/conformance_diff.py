#!/usr/bin/env python3
"""Conformance diff: the same scenarios against dockyard and a private dockerd, differences printed.

A developer tool, not part of the test suite. Both engines get the same
busybox image by ``docker import`` and the same container names; containers
use ``--network none``. The reference is Debian's docker.io (dockerd 20.10,
API 1.41), so by default both engines are driven at API 1.41 (the CLI through
DOCKER_API_VERSION, raw calls with a /v1.41 prefix); ``--api ''`` lets each
negotiate its own.

    python3 bench/conformance_diff.py [--only inspect,errors,network,...] [--api 1.41]

The groups beyond containers (network, volume, images, system, events, ps,
runtime: port/top/stats/logs/exec/cp/export/save/load/update/wait/pause) are
tables in bench/conformance_scenarios.py.

Output: one section per scenario; lines start with missing/extra/type/value
(shapes, see tests/support/reference.py) or show both answers side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from conformance_build_scenarios import inspect_shapes, run_builds, run_image_commands  # noqa: E402
from conformance_ops_scenarios import run_ops  # noqa: E402
from conformance_run_scenarios import run_parity  # noqa: E402
from conformance_scenarios import API_CALLS, API_SHAPES, CLI_SHAPES, CLI_TEXT, SETUP  # noqa: E402
from engine_bench import CGROUP_PARENT  # noqa: E402
from private_dockerd import PrivateDockerd  # noqa: E402

from tests.support.daemon import new_daemon  # noqa: E402
from tests.support.reference import (Engine, clip, indent, normalize, print_answers,  # noqa: E402
                                     print_differing, shape_diff)

# Values that differ between two engines by nature (checked for type and key only).
VOLATILE = frozenset({
    "Created", "State.Pid", "State.StartedAt", "State.FinishedAt", "ResolvConfPath", "HostnamePath",
    "HostsPath", "LogPath", "GraphDriver.Data.LowerDir", "GraphDriver.Data.MergedDir",
    "GraphDriver.Data.UpperDir", "GraphDriver.Data.WorkDir", "Config.Hostname", "NetworkSettings.SandboxID",
    "NetworkSettings.SandboxKey", "HostConfig.Runtime", "Metadata.LastTagTime", "RootFS.Layers",
    "Size", "VirtualSize", "SharedSize", "SizeRw", "SizeRootFs", "time", "timeNano", "Status",
    "RunningFor", "CreatedAt", "CreatedSince", "HostConfig.ShmSize", "DockerVersion",
    "Id", "Mountpoint", "EndpointID", "MacAddress", "read", "preread", "cpu_stats", "precpu_stats",
    "memory_stats", "blkio_stats", "pids_stats", "ID", "CPUPerc", "MemUsage", "MemPerc", "PIDs", "BlockIO",
    "NetIO", "UniqueSize", "CreatedBy",
})

# Each engine's own subnet prefix for {sub} (both engines share the kernel's routes).
SUBNETS = {"dockerd": "10.233.71", "dockyard": "10.233.72"}
# ... and its own loopback host ports for {hport}/{hport2}
HOST_PORTS = {"dockerd": ("41871", "41872"), "dockyard": ("41873", "41874")}

CONTAINERS = {
    "cf-created": ["create", "--network", "none", "--name", "cf-created", "busybox", "sleep", "1000"],
    "cf-running": ["run", "-d", "--network", "none", "--name", "cf-running", "busybox", "sleep", "1000"],
    "cf-exited": ["run", "--network", "none", "--name", "cf-exited", "busybox", "true"],
    "cf-badcmd": ["create", "--network", "none", "--name", "cf-badcmd", "busybox", "nosuchcmd"],
    "cf-rich": ["create", "--network", "none", "--name", "cf-rich", "-e", "A=1", "-l", "k=v", "-t", "-i",
                "--restart", "on-failure:3", "-m", "64m", "--cpus", "0.5", "--tmpfs", "/run:size=1m",
                "--ulimit", "nofile=100:200", "--cap-add", "NET_ADMIN", "--cap-drop", "MKNOD", "--read-only",
                "--init", "-v", "/tmp:/hosttmp:ro", "--mount", "type=bind,src=/etc,dst=/hostetc,readonly",
                "-w", "/tmp", "-u", "1000:1000", "--hostname", "h1", "--stop-signal", "SIGUSR1",
                "--stop-timeout", "5", "--sysctl", "net.ipv4.ip_forward=1", "--shm-size", "8m",
                "--pids-limit", "50", "--oom-score-adj", "100", "--add-host", "a:1.2.3.4", "--dns", "8.8.8.8",
                "--entrypoint", "sh", "--expose", "80", "--health-cmd", "true", "--label", "x=y",
                "busybox", "-c", "sleep 1"],
}

# (label, docker CLI argv): compare exit code and normalized stdout/stderr.
CLI_ERRORS: list[tuple[str, list[str]]] = [
    ("inspect unknown container", ["inspect", "nosuchcontainer"]),
    ("start unknown container", ["start", "nosuchcontainer"]),
    ("create unknown image", ["create", "--network", "none", "nosuchimage"]),
    ("run unknown image", ["run", "--network", "none", "--pull", "never", "nosuchimage"]),
    ("run unknown image (default pull)", ["run", "--network", "none", "nosuch"]),
    ("name conflict", ["create", "--network", "none", "--name", "cf-created", "busybox", "true"]),
    ("rm running", ["rm", "cf-running"]),
    ("kill stopped", ["kill", "cf-exited"]),
    ("stop stopped", ["stop", "cf-exited"]),
    ("start running", ["start", "cf-running"]),
    ("memory 1m", ["create", "--network", "none", "-m", "1m", "busybox"]),
    ("memory 12x", ["create", "--network", "none", "-m", "12x", "busybox"]),
    ("cpus 99", ["create", "--network", "none", "--cpus", "99", "busybox"]),
    ("cpuset-cpus 9", ["create", "--network", "none", "--cpuset-cpus", "9", "busybox"]),
    ("restart bogus", ["create", "--network", "none", "--restart", "bogus", "busybox"]),
    ("restart on-failure:x", ["create", "--network", "none", "--restart", "on-failure:x", "busybox"]),
    ("restart always:3", ["create", "--network", "none", "--restart", "always:3", "busybox"]),
    ("kill -s FOO", ["kill", "-s", "FOO", "cf-running"]),
    ("ps --filter foo=bar", ["ps", "--filter", "foo=bar"]),
    ("ps --filter status=bogus", ["ps", "--filter", "status=bogus"]),
    ("rename to taken", ["rename", "cf-exited", "cf-created"]),
    ("rename to same", ["rename", "cf-exited", "cf-exited"]),
    ("wait --condition bogus (API only; CLI has no flag)", ["wait", "nosuchcontainer"]),
    ("pause stopped", ["pause", "cf-exited"]),
    ("unpause running", ["unpause", "cf-running"]),
    ("top stopped", ["top", "cf-exited"]),
    ("logs unknown", ["logs", "nosuchcontainer"]),
    ("rmi unknown", ["rmi", "nosuchimage"]),
    ("image inspect unknown", ["image", "inspect", "nosuchimage"]),
    ("exec stopped", ["exec", "cf-exited", "true"]),
    ("exec unknown", ["exec", "nosuchcontainer", "true"]),
    ("bad name", ["create", "--network", "none", "--name", "a/b", "busybox", "true"]),
    ("no command", ["create", "--network", "none", "busybox"]),
    ("workdir relative", ["create", "--network", "none", "-w", "rel", "busybox", "true"]),
    ("stop-signal FOO", ["create", "--network", "none", "--stop-signal", "FOO", "busybox", "true"]),
    ("memory 1m on unknown image", ["create", "--network", "none", "-m", "1m", "nosuchimage"]),
    ("run missing executable", ["run", "--network", "none", "busybox", "nosuchcmd"]),
    ("run non-executable file", ["run", "--network", "none", "busybox", "/etc/passwd"]),
    ("run a directory", ["run", "--network", "none", "busybox", "/etc"]),
    ("run bad user", ["run", "--network", "none", "-u", "nosuchuser", "busybox", "true"]),
    ("run bad workdir file", ["run", "--network", "none", "-w", "/etc/passwd", "busybox", "true"]),
    ("run --rm bad workdir file", ["run", "--rm", "--network", "none", "-w", "/etc/passwd", "busybox", "true"]),
    ("run --rm missing executable", ["run", "--rm", "--network", "none", "busybox", "nosuchcmd"]),
    ("start -a missing executable", ["start", "-a", "cf-badcmd"]),
    ("log driver foo", ["create", "--network", "none", "--log-driver", "foo", "busybox", "true"]),
    ("log opt bogus", ["create", "--network", "none", "--log-opt", "bogus=1", "busybox", "true"]),
    ("run --rm with restart", ["run", "--rm", "--restart", "always", "--network", "none", "busybox"]),
]

# (label, method, path, body): compare status code and message.
API_ERRORS: list[tuple[str, str, str, Any]] = [
    ("inspect unknown", "GET", "/containers/nosuch/json", None),
    ("create unknown image", "POST", "/containers/create", {"Image": "nosuchimage"}),
    ("create no image", "POST", "/containers/create", {}),
    ("create name conflict", "POST", "/containers/create?name=cf-created", {"Image": "busybox", "Cmd": ["true"]}),
    ("no command", "POST", "/containers/create", {"Image": "busybox"}),
    ("rm running", "DELETE", "/containers/cf-running", None),
    ("kill stopped", "POST", "/containers/cf-exited/kill", None),
    ("stop stopped", "POST", "/containers/cf-exited/stop", None),
    ("start running", "POST", "/containers/cf-running/start", None),
    ("memory 1m", "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"Memory": 1048576}}),
    ("nanocpus 99", "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"NanoCpus": 99 * 10**9}}),
    ("cpuset 9", "POST", "/containers/create", {"Image": "busybox", "HostConfig": {"CpusetCpus": "9"}}),
    ("restart bogus", "POST", "/containers/create",
     {"Image": "busybox", "HostConfig": {"RestartPolicy": {"Name": "bogus"}}}),
    ("kill FOO", "POST", "/containers/cf-running/kill?signal=FOO", None),
    ("ps bad filter", "GET", '/containers/json?filters={"foo":["bar"]}', None),
    ("rename to taken", "POST", "/containers/cf-exited/rename?name=cf-created", None),
    ("wait bogus", "POST", "/containers/cf-exited/wait?condition=bogus", None),
    ("logs no stream", "GET", "/containers/cf-exited/logs", None),
    ("pause stopped", "POST", "/containers/cf-exited/pause", None),
    ("unpause running", "POST", "/containers/cf-running/unpause", None),
    ("top stopped", "GET", "/containers/cf-exited/top", None),
    ("image inspect unknown", "GET", "/images/nosuch/json", None),
    ("no such route", "GET", "/nosuchroute", None),
    ("version too new", "GET", "!/v9.99/version", None),
    ("version too old", "GET", "!/v1.0/version", None),
]


def section(title: str) -> None:
    print(f"\n=== {title}")


def report(lines: list[str]) -> None:
    for line in lines or ["(same)"]:
        print("  " + line)


class Run:
    def __init__(self, ours: Engine, ref: Engine, api: str, tmp: str) -> None:
        self.ours, self.ref, self.api, self.tmp = ours, ref, api, tmp
        self.vars: dict[str, dict[str, str]] = {
            e.name: {"sub": SUBNETS[e.name], "tmp": os.path.join(tmp, e.name), "hport": HOST_PORTS[e.name][0],
                     "hport2": HOST_PORTS[e.name][1],
                     "bbid": e.docker("image", "inspect", "--format", "{{.Id}}", "busybox").stdout.strip()}
            for e in (ref, ours)}

    def both(self, fn: Callable[[Engine], Any]) -> tuple[Any, Any]:
        return fn(self.ref), fn(self.ours)

    def fill(self, e: Engine, text: str) -> str:
        """A scenario's placeholders with this engine's values ({now} is the current second)."""
        for key, value in {**self.vars[e.name], "now": str(int(time.time()) + 1)}.items():
            text = text.replace("{" + key + "}", value)
        return text

    def unfill(self, e: Engine, text: str) -> str:
        """An answer with this engine's own values put back as placeholders."""
        for key in ("tmp", "sub", "hport2", "hport"):
            text = text.replace(self.vars[e.name][key], "{" + key + "}")
        return normalize(text)

    def cli_row(self, argv: list[str]) -> None:
        """One CLI scenario: exit code, stdout and stderr of both, normalized."""
        section(f"docker {' '.join(argv)}")
        got = []
        for e in (self.ref, self.ours):
            p = e.docker(*[self.fill(e, a) for a in argv])
            got.append((p.returncode, self.unfill(e, p.stdout.strip()), self.unfill(e, p.stderr.strip())))
        print_answers(*got)

    def api_row(self, method: str, path: str, body: Any) -> None:
        """One API scenario: status code and normalized body of both."""
        section(f"API {method} {path}")
        got = []
        for e in (self.ref, self.ours):
            status, answer = e.request(method, self.path(self.fill(e, path)), body)
            got.append((status, self.unfill(e, clip(str(answer), 400))))
        a, b = got
        print(f"  same: {a}" if a == b else f"  docker: {a}\n  ours:   {b}")

    def path(self, p: str) -> str:
        if p.startswith("!"):
            return p[1:]
        return f"/v{self.api}{p}" if self.api else p

    def cli_json(self, title: str, *args: str, values: bool = True, lines: bool = False) -> None:
        section(f"docker {' '.join(args)}")
        import json

        def get(e: Engine) -> Any:
            p = e.docker(*args)
            if p.returncode != 0:
                return {"exit": p.returncode, "stderr": p.stderr}
            return [json.loads(x) for x in p.stdout.splitlines() if x.strip()] if lines else json.loads(p.stdout)
        ref, ours = self.both(get)
        report(shape_diff(ref, ours, values=values, ignore=VOLATILE))

    def cli_text(self, *args: str) -> None:
        section(f"docker {' '.join(args)}")
        ref, ours = self.both(lambda e: e.docker(*args))
        a = (ref.returncode, normalize(ref.stdout), normalize(ref.stderr))
        b = (ours.returncode, normalize(ours.stdout), normalize(ours.stderr))
        if a == b:
            report([])
        else:
            print_differing(a, b)

    def api_json(self, path: str, values: bool = True, ignore: frozenset[str] = VOLATILE) -> None:
        section(f"GET {path}")
        ref, ours = self.both(lambda e: e.request("GET", self.path(path)))
        if ref[0] != ours[0]:
            print(f"  status: docker {ref[0]} / ours {ours[0]}")
        report(shape_diff(ref[1], ours[1], values=values, ignore=ignore))


def setup(e: Engine, tar: str, image_only: bool = False) -> None:
    subprocess.run(["docker", "import", tar, "busybox:latest"], env=e.env, check=True, capture_output=True)
    os.makedirs(os.path.join(os.path.dirname(tar), e.name), exist_ok=True)
    if image_only:  # --only build: no containers, networks or host ports (another run may hold those)
        return
    for argv in CONTAINERS.values():
        subprocess.run(["docker", *argv], env=e.env, check=True, capture_output=True)
    # What an API client such as docker-py sends: no HostConfig defaults filled by a CLI.
    status, body = e.request("POST", "/containers/create?name=cf-api",
                             {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"NetworkMode": "none"}})
    if status != 201:
        raise RuntimeError(f"{e.name}: create cf-api: {status} {body}")
    own = os.path.join(os.path.dirname(tar), e.name)
    os.makedirs(own, exist_ok=True)
    with open(os.path.join(own, "garbage.tar"), "wb") as f:
        f.write(b"this is not a tar archive\n" * 40)
    open(os.path.join(own, "empty"), "wb").close()
    for argv in SETUP:
        argv = [a.format(sub=SUBNETS[e.name], hport=HOST_PORTS[e.name][0], hport2=HOST_PORTS[e.name][1])
                for a in argv]
        p = subprocess.run(["docker", *argv], env=e.env, capture_output=True, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"{e.name}: docker {' '.join(argv)}: {p.stderr}")


def scenarios(r: Run, only: set[str] | None) -> None:
    def want(name: str) -> bool:
        return not only or name in only

    if want("inspect"):
        for name in [*CONTAINERS, "cf-api"]:
            r.cli_json("inspect", "inspect", name)
        r.cli_json("image inspect", "image", "inspect", "busybox")
    if want("ps"):
        r.cli_text("ps")
        r.cli_text("ps", "-a", "--format", "table {{.Names}}\t{{.Image}}\t{{.Command}}\t{{.Status}}")
        r.cli_text("ps", "-a")
        r.cli_json("ps json", "ps", "-a", "--format", "{{json .}}", lines=True)
        r.cli_text("container", "ls", "--size")
        r.cli_text("images")
    if want("misc"):
        r.cli_text("top", "cf-running")
        r.cli_text("port", "cf-running")
        r.cli_text("logs", "cf-exited")
        r.cli_text("wait", "cf-exited")
        r.cli_text("events", "--since", "0", "--until", str(int(time.time()) + 1), "--filter", "container=cf-exited",
                   "--format", "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}")
        r.cli_text("stats", "--no-stream", "--format", "{{.Name}}", "cf-running")
        r.cli_text("diff", "cf-exited")
        r.cli_text("container", "inspect", "--size", "--format", "{{.SizeRw}} {{.SizeRootFs}}", "cf-exited")
        r.cli_text("update", "--memory", "32m", "cf-created")
        r.cli_text("container", "prune", "--force", "--filter", "label=nosuch")
        r.cli_text("image", "prune", "--force")
        r.cli_text("network", "ls")
        r.cli_text("volume", "ls")
        r.cli_text("system", "events", "--since", "0", "--until", "1")
    if want("system"):
        r.cli_json("info", "info", "--format", "{{json .}}", values=False)
        r.cli_json("version", "version", "--format", "{{json .}}", values=False)
        r.cli_text("system", "df")
        r.cli_text("info")
        r.cli_text("version")
        section("docker info (stderr)")
        ref, ours = r.both(lambda e: e.docker("info"))
        print(f"  docker: exit {ref.returncode} stderr {ref.stderr!r}\n  ours:   exit {ours.returncode} "
              f"stderr {ours.stderr!r}")
    if want("api"):
        r.api_json("/containers/json?all=1")
        r.api_json("/images/json")
        r.api_json("/version", values=False)
        r.api_json("/info", values=False)
        r.api_json("/system/df", values=False)
    if want("events"):
        section("GET /events (one of each Type/Action)")
        until = int(time.time()) + 1

        def events(e: Engine) -> dict[str, Any]:
            _, items = e.request("GET", r.path(f"/events?since=0&until={until}"), stream_for=5)
            return {f"{ev.get('Type')}/{ev.get('Action')}": ev for ev in (items or [])}
        ref, ours = r.both(events)
        for key in sorted(set(ref) | set(ours)):
            if key not in ours:
                print(f"  missing event {key}: {ref[key]}")
            elif key not in ref:
                print(f"  extra event {key}")
            else:
                for line in shape_diff(ref[key], ours[key], key, ignore=frozenset(
                        {f"{key}.time", f"{key}.timeNano"})):
                    print("  " + line)
    for group in ("network", "volume", "images", "system", "events", "ps", "runtime", "containers", "create"):
        if not want(group):
            continue
        for argv in CLI_TEXT.get(group, []):
            r.cli_row(argv)
        for method, path, body in API_CALLS.get(group, []):
            r.api_row(method, path, body)
        for title, path in API_SHAPES:
            if title == group:
                r.api_json(path)
        for title, argv, values, lines in CLI_SHAPES:
            if title == group:
                r.cli_json(title, *argv, values=values, lines=lines)
    if want("build"):  # bench/conformance_build_scenarios.py
        run_builds(r.ref, r.ours, r.tmp, section)
        inspect_shapes(r.ref, r.ours, section, ["bp-3", "bp-8", "bp-30"])
        run_image_commands(r.ref, r.ours, r.tmp, section)
    if want("ops"):  # bench/conformance_ops_scenarios.py
        run_ops(r.ref, r.ours, r.fill, r.unfill, section)
    if want("run"):
        run_parity(r, section, indent)
    if want("errors"):
        for label, argv in CLI_ERRORS:
            section(f"CLI error: {label}")
            ref, ours = r.both(lambda e: e.docker(*argv))
            a = (ref.returncode, normalize(ref.stdout.strip()), normalize(ref.stderr.strip()))
            b = (ours.returncode, normalize(ours.stdout.strip()), normalize(ours.stderr.strip()))
            if a == b:
                print(f"  same: exit {a[0]} {a[2]!r}")
            else:
                print(f"  docker: exit {a[0]} out {a[1]!r} err {a[2]!r}\n  ours:   exit {b[0]} out {b[1]!r} "
                      f"err {b[2]!r}")
        for label, method, path, body in API_ERRORS:
            section(f"API error: {label}: {method} {path}")
            ref, ours = r.both(lambda e: e.request(method, r.path(path), body))
            a = (ref[0], normalize(str(ref[1])))
            b = (ours[0], normalize(str(ours[1])))
            print(f"  same: {a}" if a == b else f"  docker: {a}\n  ours:   {b}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma list of: inspect,ps,system,api,events,errors,network,"
                                                  "volume,images,runtime,containers,create,build,ops,run")
    ap.add_argument("--api", default="1.41", help="API version for both ('' lets each negotiate)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="dyconf-")
    tar = os.path.join(tmp, "busybox.tar")
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True,
                   capture_output=True)
    daemon = new_daemon(extra_args=["--log-level", "warn"])
    # a bridge of its own, so that dockerd has a "bridge" network as dockyard does (no iptables)
    ref = PrivateDockerd("dyconf", bridge=(f"dyconf{os.getpid() % 10000}", "10.233.70.1/24"),
                         cgroup_parent=CGROUP_PARENT)
    try:
        daemon.start()
        ref.start()
        extra = {"DOCKER_API_VERSION": args.api} if args.api else {}
        ours_e = Engine("dockyard", daemon.socket, {**daemon.env(), **extra})
        ref_e = Engine("dockerd", ref.socket, {**ref.env(), **extra,
                                                "DOCKER_CONFIG": os.path.join(tmp, "docker-config")})
        for e in (ref_e, ours_e):
            setup(e, tar, image_only=args.only in ("build", "ops"))
        scenarios(Run(ours_e, ref_e, args.api, tmp), set(filter(None, args.only.split(","))) or None)
    finally:
        subprocess.run("docker rm -f $(docker ps -aq)", shell=True, env=ref.env(), capture_output=True)
        subprocess.run(["docker", "network", "prune", "-f"], env=ref.env(), capture_output=True)
        daemon.cleanup()
        ref.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
