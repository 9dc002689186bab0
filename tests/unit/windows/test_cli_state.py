"""The pure parts of the Windows runtime's command line and state naming."""

from __future__ import annotations

import pytest

from dockyard.errors import InvalidParameter
from dockyard.jobobject import object_name
from dockyard.runtime.windows import cli
from dockyard.runtime.windows import state as st


@pytest.mark.parametrize("text,number", [("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("9", 9), ("0", 0), ("INT", 2)])
def test_signals_by_name_or_number(text: str, number: int) -> None:
    assert cli.parse_signal(text) == number


@pytest.mark.parametrize("text", ["SIGWHAT", "-1", "65", ""])
def test_unknown_signals_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameter, match="unknown signal"):
        cli.parse_signal(text)


def test_runc_flags_parse() -> None:
    p = cli._parser()
    a = p.parse_args(["--root", "C:\\r", "--log", "l.json", "--log-format", "json",
                      "create", "--bundle", "C:\\b", "--pid-file", "p", "c1"])
    assert (a.root, a.log, a.log_format, a.command, a.bundle, a.pid_file, a.id) == \
        ("C:\\r", "l.json", "json", "create", "C:\\b", "p", "c1")
    a = p.parse_args(["kill", "--all", "c1", "KILL"])
    assert (a.all, a.id, a.signal) == (True, "c1", "KILL")
    assert p.parse_args(["kill", "c1"]).signal == "TERM"  # runc's default
    assert p.parse_args(["delete", "-f", "c1"]).force
    assert p.parse_args(["ps", "--format", "json", "c1"]).format == "json"
    assert p.parse_args(["run", "-d", "-b", "B", "c1"]).detach


@pytest.mark.parametrize("cid", ["c1", "dytest-abc_1.2", "A" * 128])
def test_good_ids(cid: str) -> None:
    assert st.check_id(cid) == cid


@pytest.mark.parametrize("cid", ["", "-x", "a/b", "a\\b", "a b", "A" * 129, "..", "x:y"])
def test_bad_ids_are_refused(cid: str) -> None:
    with pytest.raises(InvalidParameter, match="invalid container id"):
        st.check_id(cid)


def test_object_names_are_per_root_and_per_id() -> None:
    a = object_name("/r1", "c1", "job")
    assert a.startswith("Local\\dockyard-") and a.endswith("-c1-job")
    assert "\\" not in a[len("Local\\"):]  # one level below Local\
    assert a != object_name("/r2", "c1", "job")
    assert a != object_name("/r1", "c2", "job")
    assert object_name("/r1", "c1", "start") != a
