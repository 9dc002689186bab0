#!/usr/bin/env python3
"""Fuzz dockyard's API with schemathesis against moby's own swagger.yaml, for a bounded time.

    python3 bench/fuzz_api.py --swagger /path/to/moby/api/swagger.yaml [--seconds 300] [--examples 20]

Take swagger.yaml from the moby repository at the API version dockyard reports
(1.50: the parent of moby commit 27f2e0ecc5, "api: bump to 1.51"); it is not
kept in this repository.  A private dockyardd (own data root, socket, cgroup
parent, and a loopback TCP port for schemathesis) gets the busybox image, then
schemathesis generates requests for every operation not excluded below.

Pulls, pushes, builds, network create, events, distribution inspect and login
are fuzzed through bench/fuzz_hooks.py, which rewrites every generated request
before it is sent: registry hosts become a loopback docker-registry (also the
daemon's Docker Hub mirror; Hub names that miss it fail fast through the
daemon's proxy variables, a closed loopback port), subnets move into a /16 and
a /48 of this run that no host route touches, bridge names go, cgroup parents
become the daemon's, import URLs and remote contexts point into the registry,
half of the random build bodies become tiny contexts with a Dockerfile, and an
event stream ends a second from now.  Still excluded: image search (Docker
Hub's index, nothing to redirect), network connect/disconnect, swarm and
plugin endpoints (not implemented: they answer 404/501 quickly, but they are a
third of the spec and would eat the budget).

Printed: requests sent, operations covered, failures by kind (schemathesis'
checks), 5xx responses with their messages, whether the daemon survived, and
what it left: containers, networks, mounts and cgroups once every container and
network is removed; interfaces, its nft table, mounts and cgroups once it stopped.
Exit status 1 when a 5xx without a message, a crash or a leak was seen.
"""

from __future__ import annotations

import argparse
import base64
import collections
import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from dockyard.network.linux import link_stem  # noqa: E402
from tests.support.daemon import docker, new_daemon  # noqa: E402
from tests.support.registry import new_registry  # noqa: E402
from tests.support.tls import free_port  # noqa: E402

EXCLUDE_PATHS = [
    r"^/images/search$", r"^/session$", r"^/networks/\{id\}/(dis)?connect$",
    r"^/swarm", r"^/nodes", r"^/services", r"^/tasks", r"^/secrets", r"^/configs", r"^/plugins",
]


FOCUS = ("/images/create", "/images/{name}/push", "/build", "/networks/create", "/events", "/distribution", "/auth")


def busybox_tar(dest: str) -> str:
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", dest], check=True,
                   capture_output=True)
    return dest


def free_range(family: int) -> str:
    """A /16 (IPv4) or /48 (IPv6 ULA) that no route of the host touches, for the fuzz's subnets."""
    flag = "-4" if family == 4 else "-6"
    routes = subprocess.run(["ip", flag, "route", "show", "table", "all"], capture_output=True, text=True).stdout
    used = []
    for line in routes.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("local", "broadcast", "unreachable", "multicast", "anycast") and len(line.split()) > 1:
            word = line.split()[1]
        try:
            used.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue  # "default"
    candidates = ([ipaddress.ip_network(f"10.{b}.0.0/16") for b in range(231, 255)] if family == 4 else
                  [ipaddress.ip_network(f"fd5e:{secrets.randbits(16):x}:{secrets.randbits(16):x}::/48")
                   for _ in range(20)])
    for net in candidates:
        if not any(net.overlaps(u) for u in used if u.version == family and u.prefixlen > 0):
            return str(net)
    raise RuntimeError(f"no free IPv{family} range for the fuzz's networks")


def host_leftovers(d) -> list[str]:
    """What the stopped daemon left in the kernel: interfaces, its nft table, mounts, cgroups."""
    stem = link_stem(d.prefix)
    found = []
    deadline = time.monotonic() + 5  # the kernel destroys a stopped container's namespace lazily
    while True:
        out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        links = [ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ln.count(":") >= 2]
        links = [n for n in links if n.startswith(stem)]
        if not links or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    found += [f"interface {n}" for n in links]
    table = subprocess.run(["nft", "list", "table", "ip", d.prefix], capture_output=True, text=True)
    if table.returncode == 0:
        found.append(f"nft table ip {d.prefix}")
    found += d.leftovers()
    return found


def run_schemathesis(swagger: str, url: str, seconds: int, examples: int, report: str,
                     env: dict[str, str]) -> subprocess.CompletedProcess:
    argv = ["schemathesis", "run", swagger, "--url", url, "--max-time", str(seconds), "-n", str(examples),
            "--checks", "all", "--request-timeout", "10", "--continue-on-failure", "--workers", "2",
            "--report-ndjson-path", report, "--suppress-health-check", "all",
            "--generation-allow-x00", "false", "--warnings", "off"]
    argv += ["--exclude-path-regex", "|".join(f"({p})" for p in EXCLUDE_PATHS)]
    report_dir = os.path.dirname(report)
    argv += ["--report", "ndjson,junit", "--report-junit-path", os.path.join(report_dir, "junit.xml")]
    # in the scratch folder: schemathesis keeps a .schemathesis/ cache in its working directory
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 300, cwd=os.path.dirname(report),
                          env=env)


def summarize(report: str) -> dict:
    """Requests, operations, failures by check, and the 5xx responses, from schemathesis' NDJSON events."""
    requests = 0
    operations: set[str] = set()
    failures: collections.Counter[str] = collections.Counter()
    server_errors: list[tuple[str, int, str]] = []
    per_operation: collections.Counter[str] = collections.Counter()
    with open(report, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line).get("ScenarioFinished")
            except (ValueError, AttributeError):
                continue
            if not event:
                continue
            recorder = event.get("recorder") or {}
            operations.add(recorder.get("label", "?"))
            per_operation[recorder.get("label", "?")] += len(recorder.get("interactions") or {})
            for checks in (recorder.get("checks") or {}).values():
                for check in checks:
                    if check.get("status") == "failure":
                        info = ((check.get("failure_info") or {}).get("failure") or {})
                        failures[f"{check['name']} ({info.get('title', '')})"] += 1
            for interaction in (recorder.get("interactions") or {}).values():
                requests += 1
                resp = interaction.get("response") or {}
                status = resp.get("status_code") or 0
                if status >= 500:
                    req = interaction.get("request") or {}
                    server_errors.append((f"{req.get('method')} {req.get('uri')}", status, _body(resp)))
    return {"requests": requests, "operations": operations, "failures": failures, "server_errors": server_errors,
            "per_operation": per_operation}


def spec_operations(swagger: str) -> set[str]:
    """Every ``METHOD /path`` of the spec that the exclusions leave in."""
    import re

    import yaml

    with open(swagger, encoding="utf-8") as f:
        spec = yaml.safe_load(f)
    excluded = re.compile("|".join(f"({p})" for p in EXCLUDE_PATHS))
    return {f"{method.upper()} {path}" for path, item in (spec.get("paths") or {}).items()
            if not excluded.search(path) for method in item if method in ("get", "post", "put", "delete", "head")}


def _body(resp: dict) -> str:
    content = resp.get("content")
    if isinstance(content, dict) and "$base64" in content:
        return base64.b64decode(content["$base64"]).decode("utf-8", "replace")[:300]
    return str(content or "")[:300]


def _has_message(body: str) -> bool:
    try:
        return bool(json.loads(body).get("message"))
    except (ValueError, AttributeError):
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--swagger", required=True, help="moby's api/swagger.yaml for API 1.50")
    ap.add_argument("--seconds", type=int, default=300, help="schemathesis time budget")
    ap.add_argument("--examples", type=int, default=20, help="examples per operation at most")
    args = ap.parse_args()
    if not shutil.which("schemathesis"):
        print("schemathesis is not installed: pip install schemathesis", file=sys.stderr)
        return 2
    port = free_port()
    registry = new_registry()
    d = new_daemon(extra_args=["-H", f"tcp://127.0.0.1:{port}"],
                   config={"registry-mirrors": [f"http://{registry.host}"]})
    work = tempfile.mkdtemp(prefix="dyfuzz-")
    keep = os.environ.get("DYFUZZ_KEEP")
    crashed = False
    stopped = False
    try:
        registry.start()
        d.start()
        docker(d, "import", busybox_tar(os.path.join(work, "bb.tar")), "busybox:latest", check=True)
        # busybox in the mirror: a generated pull of it (or a build's FROM with pull=1) succeeds
        docker(d, "tag", "busybox:latest", f"{registry.host}/library/busybox:latest", check=True)
        docker(d, "push", f"{registry.host}/library/busybox:latest", check=True)
        docker(d, "tag", "busybox:latest", f"{registry.host}/fuzz/busybox:latest", check=True)  # pushed by the fuzz
        env = dict(os.environ, SCHEMATHESIS_HOOKS="fuzz_hooks",
                   PYTHONPATH=os.pathsep.join(filter(None, [os.path.join(ROOT, "bench"),
                                                            os.environ.get("PYTHONPATH")])),
                   DYFUZZ_REGISTRY=registry.host, DYFUZZ_NET4=free_range(4), DYFUZZ_NET6=free_range(6),
                   DYFUZZ_CGROUP_PARENT=d.cgroup_parent)
        print(f"loopback registry {registry.host}; subnets in {env['DYFUZZ_NET4']} and {env['DYFUZZ_NET6']}")
        report = os.path.join(work, "events.ndjson")
        t0 = time.monotonic()
        proc = run_schemathesis(args.swagger, f"http://127.0.0.1:{port}/v1.50", args.seconds, args.examples, report,
                                env)
        elapsed = time.monotonic() - t0
        crashed = d.proc is not None and d.proc.poll() is not None
        alive = not crashed and d.request("GET", "/_ping")[0] == 200
        stats = summarize(report) if os.path.exists(report) else {"requests": 0, "operations": set(),
                                                                   "failures": {}, "server_errors": [],
                                                                   "per_operation": {}}
        with open(os.path.join(work, "schemathesis.out"), "w") as f:  # kept with DYFUZZ_KEEP=DIR
            f.write(proc.stdout + proc.stderr)
        tail = [line for line in proc.stdout.splitlines() if line.strip()][-12:]
        print("schemathesis:", *tail, sep="\n  ")
        wanted = spec_operations(args.swagger)
        print(f"budget {args.seconds} s, ran {elapsed:.0f} s; requests sent {stats['requests']}; "
              f"operations covered {len(stats['operations'] & wanted)} of the {len(wanted)} not excluded")
        if wanted - stats["operations"]:
            print("  not reached:", ", ".join(sorted(wanted - stats["operations"])))
        per_op = collections.Counter(stats["per_operation"])
        focus = [op for op in sorted(wanted) if op.split()[1].startswith(FOCUS)]
        print("  requests to pull/push/build/network create/events/distribution/auth:",
              ", ".join(f"{op} {per_op[op]}" for op in focus))
        print("failures by kind:", dict(stats["failures"]) or "none")
        bare = [e for e in stats["server_errors"] if not _has_message(e[2])]
        print(f"5xx responses: {len(stats['server_errors'])} (without a message: {len(bare)})")
        for method_uri, status, body in stats["server_errors"][:20]:
            print(f"  {status} {method_uri}: {body}")
        print("daemon alive afterwards:", alive, "(crashed)" if crashed else "")
        log_text = d.log()
        with open(os.path.join(work, "dockyardd.log"), "w") as f:
            f.write(log_text)
        tracebacks = log_text.count("Traceback (most recent call last)")
        print(f"tracebacks in the daemon's log: {tracebacks}")
        leaked: list[str] = []
        if alive:
            d.remove_all_containers()
            status, left = d.request("GET", "/containers/json?all=1")
            leaked = [f"container {c['Id'][:12]}" for c in left or []]
            status, nets = d.request("GET", "/networks")
            for n in nets or []:
                if n["Name"] not in ("bridge", "host", "none"):
                    d.request("DELETE", f"/networks/{n['Id']}")
            status, nets = d.request("GET", "/networks")
            leaked += [f"network {n['Name']}" for n in nets or [] if n["Name"] not in ("bridge", "host", "none")]
            leaked += d.leftovers()
            print("left after removing every container and network:", leaked or "nothing")
        d.stop()
        stopped = True
        after = host_leftovers(d)
        print("left after the daemon stopped (interfaces, nft table, mounts, cgroups):", after or "nothing")
        leaked += after
        return 1 if (crashed or bare or leaked or tracebacks) else 0
    finally:
        if crashed:
            print(d.log()[-3000:])
        if not stopped:
            d.stop()
        d.cleanup()
        registry.cleanup()
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
