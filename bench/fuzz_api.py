#!/usr/bin/env python3
"""Fuzz dockyard's API with schemathesis against moby's own swagger.yaml, for a bounded time.

    python3 bench/fuzz_api.py --swagger /path/to/moby/api/swagger.yaml [--seconds 300] [--examples 20]

Take swagger.yaml from the moby repository at the API version dockyard reports
(1.50: the parent of moby commit 27f2e0ecc5, "api: bump to 1.51"); it is not
kept in this repository.  A private dockyardd (own data root, socket, cgroup
parent, and a loopback TCP port for schemathesis) gets the busybox image, then
schemathesis generates requests for every operation not excluded below.

Excluded: what would reach outside this machine (image pulls, pushes, search,
registry login, remote build contexts), what would change the host's network
(network create/connect: a random subnet on a bridge could shadow host routes),
and swarm/plugin endpoints (not implemented: they answer 404/501 quickly, but
they are a third of the spec and would eat the budget).

Printed: requests sent, operations covered, failures by kind (schemathesis'
checks), 5xx responses with their messages, whether the daemon survived, and
what it left (containers, mounts, cgroups) once every container is removed.
Exit status 1 when a 5xx without a message, a crash or a leak was seen.
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.support.daemon import docker, new_daemon  # noqa: E402
from tests.support.tls import free_port  # noqa: E402

EXCLUDE_PATHS = [
    r"^/images/create$", r"^/images/\{name\}/push$", r"^/images/search$", r"^/auth$", r"^/build",
    r"^/session$", r"^/distribution/", r"^/networks/create$", r"^/networks/\{id\}/connect$",
    r"^/swarm", r"^/nodes", r"^/services", r"^/tasks", r"^/secrets", r"^/configs", r"^/plugins",
    r"^/events$",  # a stream that ends only at its `until`: every example would wait for the timeout
]


def busybox_tar(dest: str) -> str:
    subprocess.run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", dest], check=True,
                   capture_output=True)
    return dest


def run_schemathesis(swagger: str, url: str, seconds: int, examples: int, report: str) -> subprocess.CompletedProcess:
    argv = ["schemathesis", "run", swagger, "--url", url, "--max-time", str(seconds), "-n", str(examples),
            "--checks", "all", "--request-timeout", "10", "--continue-on-failure", "--workers", "2",
            "--report-ndjson-path", report, "--suppress-health-check", "all",
            "--generation-allow-x00", "false", "--warnings", "off"]
    argv += ["--exclude-path-regex", "|".join(f"({p})" for p in EXCLUDE_PATHS)]
    report_dir = os.path.dirname(report)
    argv += ["--report", "ndjson,junit", "--report-junit-path", os.path.join(report_dir, "junit.xml")]
    # in the scratch folder: schemathesis keeps a .schemathesis/ cache in its working directory
    return subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 300, cwd=os.path.dirname(report))


def summarize(report: str) -> dict:
    """Requests, operations, failures by check, and the 5xx responses, from schemathesis' NDJSON events."""
    requests = 0
    operations: set[str] = set()
    failures: collections.Counter[str] = collections.Counter()
    server_errors: list[tuple[str, int, str]] = []
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
    return {"requests": requests, "operations": operations, "failures": failures, "server_errors": server_errors}


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
    d = new_daemon(extra_args=["-H", f"tcp://127.0.0.1:{port}"])
    work = tempfile.mkdtemp(prefix="dyfuzz-")
    keep = os.environ.get("DYFUZZ_KEEP")
    crashed = False
    try:
        d.start()
        docker(d, "import", busybox_tar(os.path.join(work, "bb.tar")), "busybox:latest", check=True)
        report = os.path.join(work, "events.ndjson")
        t0 = time.monotonic()
        proc = run_schemathesis(args.swagger, f"http://127.0.0.1:{port}/v1.50", args.seconds, args.examples, report)
        elapsed = time.monotonic() - t0
        crashed = d.proc is not None and d.proc.poll() is not None
        alive = not crashed and d.request("GET", "/_ping")[0] == 200
        stats = summarize(report) if os.path.exists(report) else {"requests": 0, "operations": set(),
                                                                   "failures": {}, "server_errors": []}
        tail = [line for line in proc.stdout.splitlines() if line.strip()][-12:]
        print("schemathesis:", *tail, sep="\n  ")
        print(f"budget {args.seconds} s, ran {elapsed:.0f} s; requests sent {stats['requests']}; "
              f"operations covered {len(stats['operations'])}")
        print("failures by kind:", dict(stats["failures"]) or "none")
        bare = [e for e in stats["server_errors"] if not _has_message(e[2])]
        print(f"5xx responses: {len(stats['server_errors'])} (without a message: {len(bare)})")
        for method_uri, status, body in stats["server_errors"][:20]:
            print(f"  {status} {method_uri}: {body}")
        print("daemon alive afterwards:", alive, "(crashed)" if crashed else "")
        leaked: list[str] = []
        if alive:
            d.remove_all_containers()
            status, left = d.request("GET", "/containers/json?all=1")
            leaked = [c["Id"][:12] for c in left or []]
            leaked += d.leftovers()
        print("left after removing every container:", leaked or "nothing")
        return 1 if (crashed or bare or leaked) else 0
    finally:
        if crashed:
            print(d.log()[-3000:])
        d.cleanup()
        if keep:
            shutil.copytree(work, keep, dirs_exist_ok=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
