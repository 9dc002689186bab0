"""critest (cri-tools' CRI validation suite) through cri-dockerd against dockyard: a fast subset.

The whole suite, beside dockerd, is ``scripts/critest.py --write-doc`` (docs/
conformance-critest.md); this runs the specs that exercise dockyard itself —
pod sandboxes, the namespace options (host/pod/container PID, host IPC and
network), privileged pods, streaming (exec, attach, port-forward), container
lifecycle and stats — with the same images from a loopback registry, and
fails on any spec that does not pass.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib

import pytest

from tests.support.crinode import TOOL_DIRS, find_tool

ROOT = pathlib.Path(__file__).resolve().parents[2]
FOCUS = ("PodSandbox runtime should support|Streaming|NamespaceOption|Privileged is true|"
         "support basic operations on container runtime should support (creating|starting|stopping|removing|listing)")


def critest_script():
    spec = importlib.util.spec_from_file_location("dy_critest", ROOT / "scripts" / "critest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not os.path.exists("/usr/bin/docker-registry"), reason="needs docker-registry (scripts/install.sh)")
def test_critest_subset_passes_on_dockyard(tmp_path: pathlib.Path) -> None:
    for name in ("cri-dockerd", "crictl", "critest"):
        if not find_tool(name):
            pytest.fail(f"{name} not found in {TOOL_DIRS[0]} nor on PATH (see shared/tools/kubernetes/README.md)")
    assert critest_script().main(["--engines", "dockyard", "--focus", FOCUS, "--out", str(tmp_path),
                                  "--timeout", "8"]) == 0
    tests = json.loads((tmp_path / "dockyard.json").read_text())["tests"]
    ran = {name: r for name, r in tests.items() if r["outcome"] != "skipped"}
    assert len(ran) >= 20, sorted(tests)
    failed = {name: r["message"] for name, r in ran.items() if r["outcome"] != "passed"}
    assert failed == {}, (tmp_path / "dockyard.log").read_text()[-6000:]
