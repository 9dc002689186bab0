"""The runtime's start-up shortcuts keep their behaviour: launcher exit path, interpreter choice."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[3] / "src"))

from dockyard.runtime.native import launcher  # noqa: E402
from tests.support.fakes import RecordingSyscalls  # noqa: E402

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


# -- when the init waits for the runtime's cgroup attach -------------------------------------
def _build(tmp_path: pathlib.Path, cgroup_ns: bool, hooks: dict | None = None) -> list[tuple[str, tuple]]:
    from dockyard.runtime.native import mounts

    rootfs = tmp_path / "rootfs"
    (rootfs / "dev").mkdir(parents=True, exist_ok=True)
    config = {"root": {"path": str(rootfs)}, "hooks": hooks or {},
              "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                         {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                          "options": ["ro"]}]}
    rec = RecordingSyscalls()
    builder = mounts.RootfsBuilder(rec, config, str(rootfs), str(tmp_path), userns=False, cgroup_ns=cgroup_ns,
                                   cgroup_paths={}, enter_cgroup=lambda: rec.calls.append(("enter_cgroup", ())))
    builder.prepare()
    rec.calls.append(("hooks", ()))
    builder.pivot(False)
    builder.finalize()
    return rec.calls


def test_without_cgroup_namespace_the_init_waits_for_the_attach_only_after_its_rootfs(tmp_path):
    names = [c[0] for c in _build(tmp_path, cgroup_ns=False)]
    assert names.count("enter_cgroup") == 1
    assert names.index("enter_cgroup") > names.index("pivot_root")
    assert names.index("enter_cgroup") == len(names) - 1


def test_a_cgroup_namespace_is_entered_before_the_cgroup_mount(tmp_path):
    calls = _build(tmp_path, cgroup_ns=True)
    names = [c[0] for c in calls]
    assert names.count("enter_cgroup") == 1
    first_cgroup_mount = next(i for i, (name, args) in enumerate(calls)
                              if name == "mount" and "/sys/fs/cgroup" in str(args[1]))
    assert names.index("enter_cgroup") < first_cgroup_mount


def test_hooks_in_the_container_run_after_the_attach(tmp_path):
    hook = [{"path": "/bin/true"}]
    for kind in ("prestart", "createRuntime", "createContainer"):
        names = [c[0] for c in _build(tmp_path / kind, cgroup_ns=False, hooks={kind: hook})]
        assert names.count("enter_cgroup") == 1
        assert names.index("enter_cgroup") < names.index("hooks")


def test_own_cgroups_parses_proc_self_cgroup():
    from dockyard.runtime.native.cgroups.base import own_cgroups

    text = "12:pids:/a\n11:cpu,cpuacct:/b\n1:name=systemd:/s\n3:memory:/../outside\n0::/c\n"
    assert own_cgroups(text) == {"pids": "/a", "cpu": "/b", "cpuacct": "/b", "name=systemd": "/s", "": "/c"}
