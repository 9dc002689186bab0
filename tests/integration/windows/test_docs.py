"""docs/windows.md's support table says what support.py (and so the tests) measured."""

from __future__ import annotations

import pathlib

from tests.integration.windows.support import WINE_SUPPORT

DOC = pathlib.Path(__file__).resolve().parents[3] / "docs" / "windows.md"


def test_the_docs_support_table_matches_the_measurements() -> None:
    rows = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0] in WINE_SUPPORT:
            rows[cells[0]] = cells[1:]
    assert set(rows) == set(WINE_SUPPORT), "every measured feature has one row in docs/windows.md"
    for feature, status in WINE_SUPPORT.items():
        wine, windows = rows[feature]
        assert wine.startswith(status), f"{feature}: docs say {wine!r}, the tests measured {status!r}"
        assert windows == "to be confirmed on Windows"  # nothing was run on real Windows


def test_the_windows_daemon_gets_every_dependency_but_the_linux_only_ones() -> None:
    """A dependency added to pyproject.toml must reach the embedded interpreter too
    (else dockyardd fails to import on Windows), unless it is Linux-only."""
    import re
    import tomllib

    from tests.integration.windows.wine import DAEMON_WHEELS

    pyproject = pathlib.Path(__file__).resolve().parents[3] / "pyproject.toml"
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    names = {re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0].lower() for d in deps}
    linux_only = {"pyseccomp"}  # seccomp filters: absent on Windows
    assert names - linux_only <= set(DAEMON_WHEELS)
