"""The runtime's start-up shortcuts keep their behaviour: launcher exit path, interpreter choice."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "src"))

from dockyard.runtime.native import launcher  # noqa: E402

SRC = str(pathlib.Path(__file__).resolve().parents[3] / "src")


def _launcher(tmp_path: pathlib.Path) -> str:
    path = tmp_path / "dockyard-runtime"
    path.write_text(launcher.launcher_text(python=sys.executable, src=SRC))
    path.chmod(0o755)
    return str(path)


def test_launcher_flushes_piped_output_before_its_fast_exit(tmp_path):
    """os._exit skips the interpreter's teardown: stdout (a pipe: block-buffered) must be flushed first."""
    text = launcher.launcher_text(python=sys.executable, src=SRC)
    assert "os._exit(" in text
    out = subprocess.run([_launcher(tmp_path), "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0
    assert out.stdout.startswith("dockyard-runtime version ")


def test_launcher_keeps_the_exit_status_and_error_line(tmp_path):
    out = subprocess.run([_launcher(tmp_path), "--root", str(tmp_path / "state"), "state", "dytest-nosuch"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "does not exist" in out.stderr


def test_runtime_interpreter_falls_back_to_the_installing_one(tmp_path):
    me = os.path.realpath(sys.executable)
    assert launcher.runtime_interpreter(me, candidate=str(tmp_path / "missing")) == me
    wrong = tmp_path / "python-wrong"
    wrong.write_text("#!/bin/sh\necho 2.7\n")
    wrong.chmod(0o755)
    assert launcher.runtime_interpreter(me, candidate=str(wrong)) == me
    broken = tmp_path / "python-broken"
    broken.write_text("#!/bin/sh\nexit 1\n")
    broken.chmod(0o755)
    assert launcher.runtime_interpreter(me, candidate=str(broken)) == me


def test_runtime_interpreter_takes_a_same_version_candidate(tmp_path):
    """A candidate that is the same minor version and imports the runtime's C modules is chosen."""
    fake = tmp_path / "python-same"
    fake.write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    fake.chmod(0o755)
    assert launcher.runtime_interpreter("/nonexistent/python", candidate=str(fake)) == str(fake)
