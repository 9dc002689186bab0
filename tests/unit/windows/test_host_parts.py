"""The Windows host parts and layer applier, as far as they are pure Python (run on Linux)."""

from __future__ import annotations

import io
import pathlib
import tarfile

import pytest

from dockyard import dockyardd, errors
from dockyard.daemon.windows import host
from dockyard.image import unpack_windows


def test_the_composition_root_picks_the_linux_parts_here() -> None:
    parts = dockyardd.host_parts()
    assert parts.name == "linux" and parts.fd_limit is not None


def test_windows_config_has_only_the_job_runtime(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ProgramData", str(tmp_path))
    cfg = host.load_config(None, {"data-root": str(tmp_path / "d")})
    assert list(cfg.runtimes) == ["dockyard"] and cfg.default_runtime == "dockyard"
    assert cfg.runtimes["dockyard"].args == ["-m", "dockyard.runtime.windows.cli"]
    assert cfg.data_root == str(tmp_path / "d")
    assert cfg.hosts == ["npipe:////./pipe/dockyard_engine", "tcp://127.0.0.1:2375"]


@pytest.mark.parametrize("overrides, message", [
    ({"userns-remap": "default"}, "--userns-remap is not supported on Windows"),
    ({"cgroup-parent": "/x"}, "--cgroup-parent is not supported on Windows"),
    ({"runtimes": {"crun": {"path": "/usr/bin/crun"}}}, "only the job-object runtime"),
    ({"default-runtime": "runc"}, "only the job-object runtime"),
])
def test_windows_config_refuses_linux_options(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
                                              overrides: dict, message: str) -> None:
    monkeypatch.setenv("ProgramData", str(tmp_path))
    with pytest.raises(errors.InvalidParameter, match=message):
        host.load_config(None, overrides)


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for info, data in members:
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mtime = len(data), 1_600_000_000
    return info, data


def test_windows_applier_copies_files_dirs_and_hard_links(tmp_path: pathlib.Path) -> None:
    d = tarfile.TarInfo("Lib")
    d.type = tarfile.DIRTYPE
    link = tarfile.TarInfo("python3.exe")
    link.type, link.linkname = tarfile.LNKTYPE, "python.exe"
    stream = _tar((d, None), _file("python.exe", b"MZ-exe"), _file("Lib/os.py", b"import nt\n"), (link, None))
    result = unpack_windows.apply_tar(stream, str(tmp_path), str(tmp_path / "record"))
    assert (tmp_path / "Lib" / "os.py").read_bytes() == b"import nt\n"
    assert (tmp_path / "python3.exe").stat().st_ino == (tmp_path / "python.exe").stat().st_ino
    assert (tmp_path / "python.exe").stat().st_mtime == 1_600_000_000
    assert result.size == len(b"MZ-exe") + len(b"import nt\n")
    assert result.diff_id.startswith("sha256:")


@pytest.mark.parametrize("kind, words", [
    (tarfile.SYMTYPE, "symbolic links"), (tarfile.CHRTYPE, "device nodes"), (tarfile.FIFOTYPE, "FIFOs")])
def test_windows_applier_refuses_what_windows_cannot_hold(tmp_path: pathlib.Path, kind: bytes, words: str) -> None:
    info = tarfile.TarInfo("odd")
    info.type, info.linkname = kind, "python.exe"
    with pytest.raises(errors.InvalidParameter, match=f"'odd': {words} are not supported on Windows"):
        unpack_windows.apply_tar(_tar((info, None)), str(tmp_path))


def test_windows_applier_refuses_whiteouts(tmp_path: pathlib.Path) -> None:
    with pytest.raises(errors.InvalidParameter, match="whiteouts are not supported on Windows"):
        unpack_windows.apply_tar(_tar(_file(".wh.gone", b"")), str(tmp_path))


def test_windows_config_refuses_runtimes_of_daemon_json(tmp_path: pathlib.Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ProgramData", str(tmp_path))
    (tmp_path / "daemon.json").write_text('{"runtimes": {"x": {"path": "/bin/x"}}}')
    with pytest.raises(errors.InvalidParameter, match="only the job-object runtime"):
        host.load_config(str(tmp_path / "daemon.json"), {})
