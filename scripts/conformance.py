#!/usr/bin/env python3
"""Run docker-py's own integration suite against dockyard and against Debian's dockerd.

    python3 scripts/conformance.py /path/to/docker-py [--engines dockyard,dockerd]
                                   [--only api_container_test.py,...] [--out DIR]
                                   [--timeout SECONDS] [-k EXPRESSION] [--write-doc]

The docker-py tree is not in the PyPI sdist: fetch the public docker/docker-py
repository and check it out anywhere.  The script

- makes one virtualenv (under ``--out``) with the client side pinned: docker-py
  from the given tree (its commit is recorded), pytest and paramiko at the
  versions below, so both engines are measured with the same client;
- starts each engine on a private socket and data root (the suite prunes
  engine-wide, so it never touches a daemon you use);
- seeds the images the suite expects (``alpine:3.10``, ``alpine:latest``,
  ``busybox:latest``, …) from Debian's busybox-static, never from the internet;
- runs ``pytest tests/integration`` with ``DOCKER_TEST_API_VERSION=1.41``,
  leaving out Swarm (swarm, services, secrets, configs, nodes, plugins: a Swarm
  clone is out of scope);
- writes per-test outcomes (JUnit XML and a JSON summary) per engine, and with
  ``--write-doc`` regenerates docs/conformance.md from them (``--engines ""
  --write-doc``: from the runs already in ``--out``, e.g. a new dockyard run
  beside an earlier dockerd one).

The dockerd reference runs with a bridge of its own (``dyconf0``) and without
iptables (``--iptables=false``: no rules in the host's firewall; published
ports go through docker-proxy), its own containerd namespace and cgroup parent.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PINS = ["pytest==7.4.2", "pytest-timeout==2.1.0", "paramiko==3.4.0", "requests==2.32.3", "urllib3==2.2.3"]
API_VERSION = "1.41"
SEED_TAGS = ["alpine:3.10", "alpine:latest", "busybox:latest", "busybox:buildroot-2014.02"]
# Swarm and its resources: out of scope (no Swarm clone).
SWARM_FILES = {"api_swarm_test.py", "api_service_test.py", "api_secret_test.py", "api_config_test.py",
               "api_plugin_test.py", "models_swarm_test.py", "models_services_test.py", "models_nodes_test.py"}
DOCKERD_BRIDGE = ("dyconf0", "172.31.254.1/24")  # its own bridge: docker0 may belong to another dockerd


def run(cmd: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, text=True, **kw)


def git_commit(tree: str) -> str:
    res = run(["git", "-C", tree, "rev-parse", "HEAD"], capture_output=True)
    if res.returncode == 0:
        return res.stdout.strip()
    marker = os.path.join(tree, ".commit")  # a checkout without .git: the fetcher writes the commit here
    return open(marker).read().strip() if os.path.exists(marker) else "unknown"


def make_venv(out: str, tree: str) -> str:
    venv = os.path.join(out, "venv")
    py = os.path.join(venv, "bin", "python")
    if not os.path.exists(py):
        run([sys.executable, "-m", "venv", venv], check=True)
        run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *PINS], check=True,
            capture_output=True)
    # docker-py itself from the tree, every time (the tree may have moved); a tree without .git
    # gets its version from the environment (hatch-vcs cannot read it)
    env = dict(os.environ, SETUPTOOLS_SCM_PRETEND_VERSION="7.1.0")
    run([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", "-e", tree], check=True,
        env=env, capture_output=True)
    return py


class Engine:
    """One engine under test: start(), env(), stop()."""

    name = ""

    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class DockyardEngine(Engine):
    name = "dockyard"

    def __init__(self) -> None:
        from tests.support.daemon import new_daemon

        self.daemon = new_daemon()

    def env(self) -> dict[str, str]:
        return self.daemon.env()

    def start(self) -> None:
        self.daemon.start()

    def stop(self) -> None:
        self.daemon.cleanup()


class DockerdEngine(Engine):
    """Debian's dockerd on a bridge of its own, without iptables (bench/private_dockerd.py starts it)."""

    name = "dockerd"

    def __init__(self, bridge: tuple[str, str] = DOCKERD_BRIDGE, tag: str = "dyconf") -> None:
        from bench.private_dockerd import PrivateDockerd

        # bridge (name, address); tag: its root, containerd namespace and cgroup parent (/<tag>-dockerd)
        self.dockerd = PrivateDockerd(tag, bridge=bridge, private_config=True, stop_timeout=60)

    def env(self) -> dict[str, str]:
        return self.dockerd.env()

    def start(self) -> None:
        self.dockerd.start()

    def stop(self) -> None:
        self.dockerd.stop()


def seed_images(env: dict[str, str], work: str) -> None:
    tar = os.path.join(work, "busybox.tar")
    if not os.path.exists(tar):
        run([os.path.join(ROOT, "scripts", "busybox-rootfs.sh"), "--tar", tar], check=True)
    first = SEED_TAGS[0]
    run(["docker", "import", "--change", 'CMD ["/bin/sh"]', tar, first], env=env, check=True,
        capture_output=True)
    for tag in SEED_TAGS[1:]:
        run(["docker", "tag", first, tag], env=env, check=True)


def test_files(tree: str, only: list[str] | None) -> list[str]:
    names = sorted(n for n in os.listdir(os.path.join(tree, "tests", "integration"))
                   if n.endswith("_test.py") and n not in SWARM_FILES)
    if only:
        names = [n for n in names if n in only]
    return [os.path.join("tests", "integration", n) for n in names]


def run_suite(py: str, tree: str, engine: Engine, files: list[str], out: str, timeout: int,
              select: str = "") -> str:
    xml = os.path.join(out, f"{engine.name}.xml")
    env = engine.env()
    env.update(DOCKER_TEST_API_VERSION=API_VERSION, PYTHONDONTWRITEBYTECODE="1")
    cmd = [py, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--timeout={timeout}", f"--junitxml={xml}",
           "-o", "junit_family=xunit1", *(["-k", select] if select else []), *files]
    with open(os.path.join(out, f"{engine.name}.log"), "w") as log:
        run(cmd, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
    return xml


def outcomes(xml: str) -> dict[str, dict[str, str]]:
    """test id → {"outcome": passed|failed|error|skipped, "message": first line}."""
    result: dict[str, dict[str, str]] = {}
    for case in ET.parse(xml).getroot().iter("testcase"):
        tid = f"{case.get('file') or case.get('classname')}::{case.get('classname', '').split('.')[-1]}::{case.get('name')}"
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (el.get("message") or "").strip().splitlines()[0:1]
                message = message[0][:200] if message else ""
                break
        result[tid] = {"outcome": outcome, "message": message}
    return result


REASONS_FILE = os.path.join(ROOT, "docs", "conformance-reasons.json")


def write_doc(out: str, path: str) -> None:
    """docs/conformance.md: the summary, a table per test file, and every test that passes on
    dockerd and not on dockyard with its reason (docs/conformance-reasons.json, test id → text)."""
    runs = {}
    for name in ("dockerd", "dockyard"):
        f = os.path.join(out, f"{name}.json")
        if os.path.exists(f):
            runs[name] = json.load(open(f))
    reasons = json.load(open(REASONS_FILE)) if os.path.exists(REASONS_FILE) else {}
    ref, ours = runs.get("dockerd", {}).get("tests", {}), runs.get("dockyard", {}).get("tests", {})
    meta = next(iter(runs.values()))
    lines = ["# Conformance: docker-py's integration suite", "",
             "Generated by `python3 scripts/conformance.py DOCKER_PY_TREE --write-doc` (do not edit by hand;",
             "reasons for differences live in docs/conformance-reasons.json).", "",
             f"- docker-py commit: `{meta['docker_py_commit']}`",
             f"- client pins: {', '.join(meta['pins'])}; `DOCKER_TEST_API_VERSION={meta['api_version']}`",
             "- reference: Debian's dockerd (docker.io 20.10) with its own bridge, `--iptables=false`",
             "- left out: Swarm, services, secrets, configs, nodes, plugins (no Swarm clone)",
             "- the CRI side (critest through cri-dockerd): [conformance-critest.md](conformance-critest.md)", ""]
    for name, r in runs.items():
        counts = ", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items()))
        lines.append(f"- **{name}**: {counts} ({r['seconds']} s)")
    both = [t for t, v in ref.items() if v["outcome"] == "passed"]
    kept = [t for t in both if ours.get(t, {}).get("outcome") == "passed"]
    if ref and ours:
        lines += ["", f"Of the {len(both)} tests that pass on dockerd, **{len(kept)} pass on dockyard**.", ""]
    files: dict[str, dict[str, list[int]]] = {}
    for tid in sorted(set(ref) | set(ours)):
        fname = tid.split("::")[0].split("/")[-1].replace("tests.integration.", "")
        row = files.setdefault(fname, {"dockerd": [0, 0], "dockyard": [0, 0]})
        for name, res in (("dockerd", ref), ("dockyard", ours)):
            if tid in res:
                row[name][1] += 1
                row[name][0] += res[tid]["outcome"] == "passed"
    lines += ["| test file | dockerd passed | dockyard passed |", "|---|---|---|"]
    for fname, row in files.items():
        lines.append(f"| {fname} | {row['dockerd'][0]}/{row['dockerd'][1]} | {row['dockyard'][0]}/{row['dockyard'][1]} |")
    missing = [t for t in both if t not in kept]
    lines += ["", "## Passing on dockerd, not on dockyard", ""]
    if not missing:
        lines.append("None.")
    else:
        lines += ["| test | dockyard's outcome | reason |", "|---|---|---|"]
        for t in missing:
            o = ours.get(t, {"outcome": "not run", "message": ""})
            why = reasons.get(t) or o["message"].replace("|", "\\|")
            lines.append(f"| `{t.split('::', 1)[1]}` | {o['outcome']} | {why} |")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tree", help="a docker-py source tree (with tests/integration)")
    p.add_argument("--engines", default="dockyard,dockerd")
    p.add_argument("--only", help="comma-separated test file names")
    p.add_argument("--out", default=os.path.join(ROOT, ".conformance"))
    p.add_argument("--timeout", type=int, default=120, help="per-test timeout in seconds")
    p.add_argument("-k", dest="select", default="", help="a pytest -k expression: only the tests it selects")
    p.add_argument("--write-doc", action="store_true", help="regenerate docs/conformance.md")
    args = p.parse_args(argv)
    tree = os.path.abspath(args.tree)
    os.makedirs(args.out, exist_ok=True)
    py = make_venv(args.out, tree)
    files = test_files(tree, args.only.split(",") if args.only else None)
    engines: dict[str, type[Engine]] = {"dockyard": DockyardEngine, "dockerd": DockerdEngine}
    for name in filter(None, args.engines.split(",")):  # --engines "" --write-doc: the doc from stored runs
        if name == "dockerd" and not shutil.which("dockerd"):
            print("dockerd is not installed: skipping the reference run", file=sys.stderr)
            continue
        engine = engines[name]()
        engine.start()
        try:
            seed_images(engine.env(), args.out)
            started = time.monotonic()
            xml = run_suite(py, tree, engine, files, args.out, args.timeout, args.select)
            took = time.monotonic() - started
        finally:
            engine.stop()
        res = outcomes(xml)
        counts: dict[str, int] = {}
        for r in res.values():
            counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
        summary = {"engine": name, "seconds": round(took), "counts": counts, "tests": res,
                   "docker_py_commit": git_commit(tree), "api_version": API_VERSION, "pins": PINS}
        with open(os.path.join(args.out, f"{name}.json"), "w") as f:
            json.dump(summary, f, indent=1, sort_keys=True)
        print(f"{name}: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) + f" in {took:.0f} s")
    if args.write_doc:
        write_doc(args.out, os.path.join(ROOT, "docs", "conformance.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
