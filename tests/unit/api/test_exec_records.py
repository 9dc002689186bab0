"""Exec records and request parsing of the exec service (no daemon, no kernel)."""

from __future__ import annotations

import pytest

from dockyard import errors
from dockyard.api.bodies import ExecConfig
from dockyard.api.godecode import decode
from dockyard.daemon.exec import ExecRecord, _console_size


def test_exec_config_keys_are_matched_without_case() -> None:
    body = decode(b'{"detachKeys": "ctrl-x", "cmd": ["sh"], "AttachStdin": true, "Other": 1}', ExecConfig)
    assert body == {"DetachKeys": "ctrl-x", "Cmd": ["sh"], "AttachStdin": True}


def test_console_size() -> None:
    assert _console_size(None) is None
    assert _console_size([0, 0]) is None
    assert _console_size([24, 80]) == (24, 80)
    for bad in ([24], "24x80", [-1, 80], [24.5, 80]):
        with pytest.raises(errors.InvalidParameter):
            _console_size(bad)


def test_inspect_shape_follows_dockerd() -> None:
    rec = ExecRecord(ID="e1", ContainerID="c1", Cmd=["sh", "-c", "exit 3"], OpenStdout=True)
    view = rec.view()
    assert view["ProcessConfig"] == {"tty": False, "entrypoint": "sh", "arguments": ["-c", "exit 3"],
                                     "privileged": False}
    assert (view["ExitCode"], view["Running"], view["Pid"], view["CanRemove"]) == (None, False, 0, False)
    rec.User = "1000"
    assert rec.view()["ProcessConfig"]["user"] == "1000"
