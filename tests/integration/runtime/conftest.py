"""Fixtures for running dockyard-runtime (and crun/runc) on real busybox bundles."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import uuid

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SRC = ROOT / "src"
sys.path.insert(0, str(SRC))

from dockyard.runtime.native import launcher  # noqa: E402
from dockyard.runtime.native.spec_defaults import default_spec  # noqa: E402


def cgroup_exists(cid: str) -> bool:
    """Is there a cgroup dir for the container in any v1 hierarchy (default parent /dockyard)?"""
    base = pathlib.Path("/sys/fs/cgroup")
    return any((d / "dockyard" / cid).exists() for d in base.iterdir() if d.is_dir())


class Runtime:
    """One runtime binary with its own state root; cleans up every container it made."""

    def __init__(self, binary: str, root: pathlib.Path) -> None:
        self.binary = binary
        self.root = root
        self.ids: list[str] = []

    def new_id(self) -> str:
        cid = "dytest-" + uuid.uuid4().hex[:10]
        self.ids.append(cid)
        return cid

    def cmd(self, *args: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
        """Run a command; output goes through files, not pipes: a created container keeps
        the runtime's stdio open (as with runc), so a pipe would not see EOF."""
        import tempfile

        kw.setdefault("stdin", subprocess.DEVNULL)
        if kw.pop("capture_output", True) and "stdout" not in kw:
            with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
                proc = subprocess.run([self.binary, "--root", str(self.root), *args], stdout=out, stderr=err,
                                      text=True, timeout=timeout, **kw)
                out.seek(0)
                err.seek(0)
                proc.stdout, proc.stderr = out.read(), err.read()
        else:
            proc = subprocess.run([self.binary, "--root", str(self.root), *args], text=True, timeout=timeout, **kw)
        if check and proc.returncode != 0:
            raise AssertionError(f"{self.binary} {' '.join(args)} -> {proc.returncode}\n{proc.stderr}")
        return proc

    def run(self, bundle: pathlib.Path, check: bool = False, **kw) -> subprocess.CompletedProcess:
        """`run` in the foreground: create, start, wait, delete; output captured."""
        return self.cmd("run", "--bundle", str(bundle), self.new_id(), check=check, **kw)

    def state(self, cid: str) -> dict:
        return json.loads(self.cmd("state", cid).stdout)

    def cleanup(self) -> None:
        for cid in self.ids:
            subprocess.run([self.binary, "--root", str(self.root), "delete", "--force", cid],
                           capture_output=True, timeout=30)


@pytest.fixture(scope="session")
def runtime_bin(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A launcher for this checkout's runtime (what scripts/install.sh installs)."""
    if os.geteuid() != 0:
        pytest.fail("the runtime tests need root")
    from dockyard.runtime.native import selfprotect

    python = os.path.join(selfprotect.INTERPRETER_DIR, "bin", "python3")
    if os.path.exists(python):
        selfprotect.ensure_protected(python)
    else:
        python = selfprotect.install_interpreter(sys.executable)
    path = tmp_path_factory.mktemp("rtbin") / "dockyard-runtime"
    path.write_text(launcher.launcher_text(python=python, src=str(SRC)))
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def rt(runtime_bin: str, tmp_path: pathlib.Path):
    r = Runtime(runtime_bin, tmp_path / "state")
    yield r
    r.cleanup()


def _other(name: str, tmp_path: pathlib.Path):
    path = shutil.which(name)
    if not path:
        pytest.fail(f"{name} is not installed (scripts/install.sh installs it)")
    return Runtime(path, tmp_path / f"state-{name}")


@pytest.fixture
def crun(tmp_path: pathlib.Path):
    r = _other("crun", tmp_path)
    yield r
    r.cleanup()


@pytest.fixture
def runc(tmp_path: pathlib.Path):
    r = _other("runc", tmp_path)
    yield r
    r.cleanup()


class BundleFactory:
    def __init__(self, template: pathlib.Path, tmp_path: pathlib.Path) -> None:
        self.template = template
        self.tmp_path = tmp_path
        self.n = 0

    def __call__(self, args: list[str], copy_rootfs: bool = False, **edit) -> pathlib.Path:
        """A bundle running ``args``; ``edit`` keys are applied with ``apply_edits``."""
        self.n += 1
        bundle = self.tmp_path / f"bundle{self.n}"
        bundle.mkdir()
        if copy_rootfs:
            shutil.copytree(self.template, bundle / "rootfs", symlinks=True)
            rootfs = "rootfs"
        else:
            rootfs = str(self.template)
        spec = default_spec()
        spec["root"] = {"path": rootfs, "readonly": not copy_rootfs}
        spec["process"]["terminal"] = False
        spec["process"]["args"] = args
        spec["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
        for key, value in edit.items():
            apply_edit(spec, key, value)
        (bundle / "config.json").write_text(json.dumps(spec, indent=1))
        return bundle


def apply_edit(spec: dict, key: str, value) -> None:
    """``process__rlimits`` -> spec["process"]["rlimits"] = value."""
    parts = key.split("__")
    node = spec
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value


@pytest.fixture
def make_bundle(busybox_rootfs_template: pathlib.Path, tmp_path: pathlib.Path) -> BundleFactory:
    """Bundles share the session's busybox rootfs read-only unless ``copy_rootfs=True``."""
    return BundleFactory(busybox_rootfs_template, tmp_path)


@pytest.fixture
def public_tmp():
    """A 0755 folder under /tmp (pytest's own tmp is 0700: a mapped uid cannot enter it)."""
    import tempfile

    path = tempfile.mkdtemp(prefix="dytest-", dir="/tmp")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)
