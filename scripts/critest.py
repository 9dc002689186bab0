#!/usr/bin/env python3
"""Run critest (cri-tools' CRI validation suite) through cri-dockerd against dockyard and Debian's dockerd.

    python3 scripts/critest.py [--engines dockyard,dockerd] [--focus REGEX] [--skip REGEX]
                               [--out DIR] [--timeout MINUTES] [--write-doc] [--benchmark]

Offline, critest's images come from a registry on loopback (Debian's
docker-registry) that this script starts and fills with images built here from
Debian's busybox-static: ``busybox:1.28`` (the default test image), ``nginx``
and ``nginx:1.18`` (busybox httpd on port 80 under a process named nginx that
writes /var/run/nginx.pid, as the specs look for), the cri-tools test images
under ``k8s-staging-cri-tools/`` (users 1002, www-data, 1003:1003,
www-data:www-data; three different images; one image under three tags;
``hostnet-nginx-amd64`` serving on 12003) and the pause image.  critest gets
``-registry-prefix 127.0.0.1:PORT`` and a ``-test-images-file``.

Each engine runs on a private socket (dockerd with its own data and exec roots,
bridge, containerd namespace and cgroup parent, ``--iptables=false``), with one
cri-dockerd (the same binary) on a private CRI socket, CNI bridge, subnet and
IPAM directory.  The engines run one after the other (the specs use fixed host
ports).  Outcomes per spec go to ``OUT/<engine>.json``; ``--write-doc`` writes
docs/conformance-critest.md; ``--benchmark`` runs ``critest -benchmark`` on
both and prints the pod and container lifecycle figures side by side.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.crinode import TOOL_DIRS, CriNode, find_tool  # noqa: E402
from tests.support.registry import new_registry  # noqa: E402

STAGING = "k8s-staging-cri-tools"
PAUSE = "pause:3.9"
# (repository:tag, `docker import --change` lines); same changes → same image id (the tags specs)
# nginx's master process has the title "nginx: master process …" (a spec looks for it in /proc/1/cmdline)
NGINX = ['CMD ["/usr/sbin/nginx", "master process"]', "EXPOSE 80"]
IMAGES: list[tuple[str, list[str]]] = [
    ("busybox:1.28", ['CMD ["/bin/sh"]']), ("busybox:latest", ['CMD ["/bin/sh"]']),
    ("nginx:latest", NGINX), ("nginx:1.18", NGINX),
    (f"{STAGING}/hostnet-nginx-amd64:latest", ['CMD ["/usr/sbin/nginx", "master process"]', "ENV PORT=12003"]),
    (f"{STAGING}/test-image-user-uid:latest", ['CMD ["/bin/sh"]', "USER 1002"]),
    (f"{STAGING}/test-image-user-username:latest", ['CMD ["/bin/sh"]', "USER www-data"]),
    (f"{STAGING}/test-image-user-uid-group:latest", ['CMD ["/bin/sh"]', "USER 1003:1003"]),
    (f"{STAGING}/test-image-user-username-group:latest", ['CMD ["/bin/sh"]', "USER www-data:www-data"]),
    (f"{STAGING}/test-image-predefined-group:latest", ['CMD ["/bin/sh"]', "USER 1000:50000"]),
    (f"{STAGING}/test-image-latest:latest", ['CMD ["/bin/sh"]', "LABEL critest=latest"]),
    (f"{STAGING}/test-image-tag:test", ['CMD ["/bin/sh"]', "LABEL critest=tag"]),
    (f"{STAGING}/test-image-tag:all", ['CMD ["/bin/sh"]', "LABEL critest=all"]),
    (f"{STAGING}/test-image-tag:latest", ['CMD ["/bin/sh"]', "LABEL critest=tag"]),
    (f"{STAGING}/test-image-tags:latest", ['CMD ["/bin/sh"]', "LABEL critest=tags"]),
    *[(f"{STAGING}/test-image-{n}:latest", ['CMD ["/bin/sh"]', f"LABEL critest={n}"]) for n in (1, 2, 3)],
    *[(f"{STAGING}/test-image-tags:{n}", ['CMD ["/bin/sh"]', "LABEL critest=tags"]) for n in (1, 2, 3)],
    (PAUSE, ['CMD ["/bin/sh","-c","trap \\"exit 0\\" TERM INT; while :; do sleep 3600 & wait; done"]']),
]
# applets Debian's busybox-static lacks and specs run (procps' pgrep, util-linux's ipcs -m), as small scripts
STAND_INS = {
    "pgrep": """#!/bin/sh
# pgrep NAME: the pids of the processes whose name contains NAME
found=1
for d in /proc/[0-9]*; do
    read -r name < "$d/comm" 2>/dev/null || continue
    case "$name" in *"$1"*) echo "${d#/proc/}"; found=0;; esac
done
exit $found
""",
    "ipcs": """#!/bin/sh
# ipcs -m: the shared memory segments of this IPC namespace (key, shmid, perms, size, ...)
cat /proc/sysvipc/shm
""",
}
# critest pulls "-registry-prefix + path" with the tag dropped (:latest), then creates containers from the
# name the spec gives: these names are seeded into each engine as tags of what it pulled (same for both)
LOCAL_TAGS = [("busybox:latest", "busybox:latest"), ("nginx:latest", "nginx:1.18"),
              (f"{STAGING}/hostnet-nginx-amd64:latest", f"gcr.io/{STAGING}/hostnet-nginx-amd64:latest")]
# a shell script run as /usr/sbin/nginx: its process is named nginx (pidof), it writes nginx's pid file
NGINX_SCRIPT = """#!/bin/sh
echo $$ > /var/run/nginx.pid
httpd -p "${PORT:-80}" -h /www
trap 'exit 0' TERM INT
while :; do sleep 3600 & wait; done
"""


def tool(name: str) -> str:
    found = find_tool(name)
    if not found:
        raise SystemExit(f"{name} not found in {TOOL_DIRS[0]} nor on PATH (see shared/tools/kubernetes/README.md)")
    return found


def conformance_module() -> Any:
    """scripts/conformance.py's engines (dockyard on a private socket; a private Debian dockerd)."""
    spec = importlib.util.spec_from_file_location("dy_conformance", ROOT / "scripts" / "conformance.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def build_rootfs_tar(work: pathlib.Path) -> pathlib.Path:
    """busybox rootfs plus what the web-server images need (nginx script, /www, www-data, /var/run)."""
    tar = work / "critest-rootfs.tar"
    rootfs = work / "rootfs"
    subprocess.run([str(ROOT / "scripts" / "busybox-rootfs.sh"), str(rootfs)], check=True)
    (rootfs / "usr" / "sbin" / "nginx").unlink(missing_ok=True)
    (rootfs / "usr" / "sbin" / "nginx").write_text(NGINX_SCRIPT)
    (rootfs / "usr" / "sbin" / "nginx").chmod(0o755)
    # as in the busybox image, the applets are hard links (a MaskedPaths spec masks /bin/ls: masking a
    # symlink to /bin/busybox would mask the shell too)
    busybox = rootfs / "bin" / "busybox"
    for link in [p for p in rootfs.rglob("*") if p.is_symlink() and os.readlink(p) == "/bin/busybox"]:
        link.unlink()
        os.link(busybox, link)
    for name, text in STAND_INS.items():
        if not (rootfs / "usr" / "bin" / name).exists() and not (rootfs / "bin" / name).exists():
            (rootfs / "usr" / "bin" / name).write_text(text)
            (rootfs / "usr" / "bin" / name).chmod(0o755)
    (rootfs / "www").mkdir(exist_ok=True)
    (rootfs / "www" / "index.html").write_text("<title>Welcome to nginx!</title>\n")
    (rootfs / "var" / "run").mkdir(parents=True, exist_ok=True)
    with open(rootfs / "etc" / "passwd", "a") as f:
        f.write("www-data:x:33:33:www-data:/var/www:/bin/false\n")
    with open(rootfs / "etc" / "group", "a") as f:
        f.write("www-data:x:33:\ncritest:x:50000:\n")
    subprocess.run(["tar", "-C", str(rootfs), "--numeric-owner", "-cf", str(tar), "."], check=True)
    shutil.rmtree(rootfs)
    return tar


def docker(env: dict[str, str], *args: str) -> str:
    p = subprocess.run(["docker", *args], env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {p.stderr.strip()}")
    return p.stdout.strip()


def fill_registry(env: dict[str, str], host: str, tar: pathlib.Path) -> None:
    """Import each image into the engine at env, and push it to the registry at host."""
    for ref, changes in IMAGES:
        name = f"{host}/{ref}"
        args = [a for c in changes for a in ("--change", c)]
        docker(env, "import", *args, str(tar), name)
        docker(env, "push", "-q", name)
        docker(env, "rmi", name)


def critest_argv(node: CriNode, registry: str, images_file: pathlib.Path, out: pathlib.Path, name: str,
                 args: argparse.Namespace) -> list[str]:
    argv = [tool("critest"), "-runtime-endpoint", node.endpoint, "-image-endpoint", node.endpoint,
            "-registry-prefix", registry, "-test-images-file", str(images_file),
            "--ginkgo.no-color", f"--ginkgo.timeout={args.timeout}m"]
    if args.benchmark:
        params = out / "bench-params.yaml"
        params.write_text(f"containersNumber: {args.bench_n}\ncontainersNumberParallel: 1\n"
                          f"podsNumber: {args.bench_n}\npodsNumberParallel: 1\n")
        bench_dir = out / f"bench-{name}"
        bench_dir.mkdir(exist_ok=True)
        return argv + ["-benchmark", "-benchmarking-params-file", str(params), "-benchmarking-output-dir",
                       str(bench_dir), "--ginkgo.focus", "basic operations on Container|lifecycle of PodSandbox",
                       "--ginkgo.json-report",
                       str(out / f"bench-{name}.report.json")]
    argv += ["--ginkgo.json-report", str(out / f"{name}.report.json"),
             "--ginkgo.junit-report", str(out / f"{name}.xml")]
    if args.focus:
        argv += ["--ginkgo.focus", args.focus]
    if args.skip:
        argv += ["--ginkgo.skip", args.skip]
    return argv


def spec_outcomes(report: pathlib.Path) -> dict[str, dict[str, str]]:
    """Ginkgo v2 JSON report → spec name → {"outcome", "message"}."""
    result: dict[str, dict[str, str]] = {}
    for suite in json.loads(report.read_text()):
        for spec in suite.get("SpecReports") or []:
            if spec.get("LeafNodeType") != "It":
                continue
            name = " ".join([*(spec.get("ContainerHierarchyTexts") or []), spec.get("LeafNodeText", "")]).strip()
            failure = spec.get("Failure") or {}
            msg = (failure.get("Message") or "").strip().splitlines()
            result[name] = {"outcome": spec.get("State", "unknown"), "message": msg[0][:1000] if msg else ""}
    return result


def run_engine(name: str, engine: Any, registry: str, tar: pathlib.Path, out: pathlib.Path,
               args: argparse.Namespace, fill: bool) -> dict[str, Any]:
    engine.start()
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"dyct-{name}-", dir="/tmp"))
    node = CriNode(engine.env()["DOCKER_HOST"], work, f"{registry}/{PAUSE}", net="critestpod", prefix="dyct",
                   subnet_base="10.252")
    try:
        env = engine.env()
        if fill:
            fill_registry(env, registry, tar)
        docker(env, "pull", "-q", f"{registry}/{PAUSE}")
        for source, tag in LOCAL_TAGS:
            docker(env, "pull", "-q", f"{registry}/{source}")
            docker(env, "tag", f"{registry}/{source}", tag)
        images = out / "test-images.yaml"
        # untagged: critest pulls REGISTRY/path:latest and creates from this very name
        images.write_text(f"defaultTestContainerImage: {registry}/busybox\n"
                          f"webServerTestImage: {registry}/nginx\n")
        node.start(tool("cri-dockerd"), tool("crictl"))
        started = time.monotonic()
        with open(out / f"{name}{'-bench' if args.benchmark else ''}.log", "w") as log:
            subprocess.run(critest_argv(node, registry, images, out, name, args), stdout=log,
                           stderr=subprocess.STDOUT, timeout=args.timeout * 60 + 120)
        took = time.monotonic() - started
    finally:
        node.stop()
        engine.stop()
        shutil.rmtree(work, ignore_errors=True)
    if args.benchmark:
        return {"engine": name, "bench": bench_figures(out / f"bench-{name}")}
    tests = spec_outcomes(out / f"{name}.report.json")
    counts: dict[str, int] = {}
    for r in tests.values():
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return {"engine": name, "seconds": round(took), "counts": counts, "tests": tests}


def bench_figures(folder: pathlib.Path) -> dict[str, dict[str, float]]:
    """critest -benchmark's per-operation JSON (microseconds per sample) → operation → mean ms."""
    figures: dict[str, dict[str, float]] = {}
    for f in sorted(folder.glob("*.json")):
        data = json.loads(f.read_text())
        fields: list[str] = data.get("operationsNames") or []
        rows = [[int(x) for x in d["operationsDurationsNs"]] for d in data.get("datapoints") or []
                if d.get("operationsDurationsNs")]
        if not rows:
            continue
        key = f.stem.replace("_benchmark_data", "")
        figures[key] = {op: round(sum(r[i] for r in rows) / len(rows) / 1e6, 1)
                        for i, op in enumerate(fields) if i < len(rows[0])}
    return figures


def write_doc(out: pathlib.Path, path: pathlib.Path) -> None:
    runs = {n: json.loads((out / f"{n}.json").read_text()) for n in ("dockerd", "dockyard")
            if (out / f"{n}.json").exists()}
    ref, ours = runs.get("dockerd", {}).get("tests", {}), runs.get("dockyard", {}).get("tests", {})
    reasons_file = ROOT / "docs" / "conformance-critest-reasons.json"
    # a part of the spec's name or of its failure message → the reason (first match wins)
    reasons = json.loads(reasons_file.read_text()) if reasons_file.exists() else {}
    lines = ["# Conformance: critest (CRI validation) through cri-dockerd", "",
             "Generated by `python3 scripts/critest.py --write-doc` (do not edit by hand; reasons for",
             "differences live in docs/conformance-critest-reasons.json).", "",
             "- critest and crictl v1.26.0, cri-dockerd v0.3.6 (`../shared/tools/kubernetes`), the same binaries",
             "  for both engines; CNI bridge + host-local + portmap + loopback from /usr/lib/cni",
             "- images: built from Debian's busybox-static and served by a docker-registry on loopback",
             "  (`-registry-prefix 127.0.0.1:PORT`, `-test-images-file`)",
             "- reference: Debian's dockerd (docker.io 20.10) with its own bridge, `--iptables=false`", ""]
    for name, r in runs.items():
        counts = ", ".join(f"{v} {k}" for k, v in sorted(r["counts"].items()))
        lines.append(f"- **{name}**: {counts} ({r['seconds']} s)")
    passed_ref = [t for t, v in ref.items() if v["outcome"] == "passed"]
    kept = [t for t in passed_ref if ours.get(t, {}).get("outcome") == "passed"]
    if ref and ours:
        lines += ["", f"Of the {len(passed_ref)} specs that pass on dockerd, **{len(kept)} pass on dockyard**.", ""]
    lines += ["| spec | dockerd | dockyard | reason |", "|---|---|---|---|"]
    for spec in sorted(set(ref) | set(ours)):
        a = ref.get(spec, {"outcome": "not run", "message": ""})
        b = ours.get(spec, {"outcome": "not run", "message": ""})
        why = ""
        if "failed" in (a["outcome"], b["outcome"]):
            why = next((v for k, v in reasons.items() if k in spec or k in a["message"] + b["message"]), "")
            why = why or (b["message"] if b["outcome"] != "passed" else a["message"])[:240]
        why = re.sub(r"\s+", " ", why).replace("|", "\\|")
        lines.append(f"| {spec.replace('|', '/')} | {a['outcome']} | {b['outcome']} | {why} |")
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--engines", default="dockerd,dockyard")
    p.add_argument("--focus", help="ginkgo focus regex")
    p.add_argument("--skip", help="ginkgo skip regex")
    p.add_argument("--out", default=str(ROOT / ".critest"))
    p.add_argument("--timeout", type=int, default=25, help="minutes per engine (ginkgo --timeout)")
    p.add_argument("--write-doc", action="store_true", help="write docs/conformance-critest.md")
    p.add_argument("--benchmark", action="store_true", help="critest -benchmark: pod and container lifecycle")
    p.add_argument("--bench-n", type=int, default=20, help="pods and containers per lifecycle benchmark")
    p.add_argument("--rounds", type=int, default=3, help="benchmark rounds (engines alternate; medians)")
    args = p.parse_args(argv)
    out = pathlib.Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    conf = conformance_module()
    tar = build_rootfs_tar(out)
    registry = new_registry()
    registry.start()
    results: dict[str, dict[str, Any]] = {}
    try:
        rounds = args.rounds if args.benchmark else 1
        for r in range(rounds):  # benchmark rounds alternate the engines: a busy machine hits both alike
            for i, name in enumerate(args.engines.split(",")):
                engine = conf.DockyardEngine() if name == "dockyard" else conf.DockerdEngine(
                    bridge=("dycrit0", "172.31.252.1/24"), tag="dycrit")
                label = f"{name}-r{r}" if args.benchmark else name
                res = run_engine(label, engine, registry.host, tar, out, args, fill=(r == 0 and i == 0))
                if args.benchmark:
                    results.setdefault(name, {"engine": name, "rounds": []})["rounds"].append(res["bench"])
                    continue
                results[name] = res
                (out / f"{name}.json").write_text(json.dumps(res, indent=1, sort_keys=True))
                print(f"{name}: " + ", ".join(f"{v} {k}" for k, v in sorted(res["counts"].items()))
                      + f" in {res['seconds']} s")
    finally:
        registry.cleanup()
    if args.benchmark:
        for r in results.values():
            r["bench"] = median_figures(r["rounds"])
        print_bench(results)
    if args.write_doc and not args.benchmark:
        write_doc(out, ROOT / "docs" / "conformance-critest.md")
    return 0


def median_figures(rounds: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per benchmark and operation, the median over the rounds of critest's mean."""
    merged: dict[str, dict[str, float]] = {}
    for key in {k for r in rounds for k in r}:
        ops = {op for r in rounds for op in r.get(key, {})}
        merged[key] = {op: statistics.median(r[key][op] for r in rounds if op in r.get(key, {})) for op in ops}
        merged[key] = {op: merged[key][op] for op in next(r[key] for r in rounds if key in r)}  # critest's order
    return merged


def print_bench(results: dict[str, dict[str, Any]]) -> None:
    """Each operation's mean, dockerd beside dockyard, and each lifecycle's whole (the sum): dockyard
    holds a container's lock for the runtime's cleanup after stop answers, so part of stop's cost
    shows up in the remove that follows; the sum is the fair comparison."""
    ref, ours = results.get("dockerd", {}).get("bench", {}), results.get("dockyard", {}).get("bench", {})
    print(f"{'benchmark / operation':40} {'dockerd ms':>11} {'dockyard ms':>12} {'ratio':>6}")

    def row(label: str, a: float | None, b: float | None) -> None:
        ratio = f"{b / a:.2f}" if a and b else "-"
        print(f"{label:40} {a if a is not None else '-':>11} {b if b is not None else '-':>12} {ratio:>6}")

    for key in sorted(set(ref) | set(ours)):
        ops = ours.get(key) or ref.get(key) or {}
        for op in ops:
            row(f"{key} / {op}", ref.get(key, {}).get(op), ours.get(key, {}).get(op))
        a, b = ref.get(key), ours.get(key)
        row(f"{key} / whole lifecycle", round(sum(a.values()), 1) if a else None,
            round(sum(b.values()), 1) if b else None)
    a, b = ref.get("pod", {}).get("CreatePod"), ours.get("pod", {}).get("CreatePod")
    if a and b:
        print(f"pod start (CreatePod) dockyard/dockerd = {b / a:.2f} (goal: at most 0.5): "
              f"{'met' if b / a <= 0.5 else 'NOT met'}")


if __name__ == "__main__":
    sys.exit(main())
