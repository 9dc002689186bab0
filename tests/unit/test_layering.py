"""The engine → runtime process boundary, held by the imports (docs/decisions.md, DESIGN.md).

The engine reaches an OCI runtime only through the bundle and the runtime's
command line, so that crun or runc can stand in for ours: no engine module
imports ``dockyard.runtime`` (the composition root's ``locate`` of the native
runtime's program is the one exception), and no runtime module imports the
engine's packages.  What both sides need is in leaf modules at the top of the
package, which import nothing but other leaf modules.  Every ``import`` in the
source counts, including those inside functions.
"""

from __future__ import annotations

import ast
import pathlib

import dockyard

SRC = pathlib.Path(dockyard.__file__).resolve().parent  # src/dockyard
RUNTIME = "dockyard.runtime"
# the composition root locating dockyard-runtime's program (dockyardd.native_runtime_path)
ALLOWED_CROSSINGS = {("dockyard.dockyardd", "dockyard.runtime.native", "locate")}
LEAVES = ("capabilities", "errors", "jobobject", "platforms", "securejoin", "sysctls", "tarerrors", "win32")


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def dockyard_imports(path: pathlib.Path) -> set[tuple[str, str]]:
    """(module, name) of every import of a dockyard module in ``path``: ``import a.b`` is
    ``(a.b, "")``, ``from a import b`` is ``(a, b)``; relative imports resolved."""
    mod = module_name(path)
    package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
    found: set[tuple[str, str]] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update((alias.name, "") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.update((base, alias.name) for alias in node.names)
    return {(m, n) for m, n in found if m == "dockyard" or m.startswith("dockyard.")}


def targets(module: str, name: str) -> set[str]:
    """The modules an import may load: ``from dockyard import win32`` loads ``dockyard.win32``."""
    return {module, f"{module}.{name}"} if name else {module}


def within(module: str, name: str, allowed: set[str]) -> bool:
    """Whether the import loads only ``allowed`` modules (``from dockyard import x``: ``dockyard.x``)."""
    return module in allowed or module == "dockyard" and f"dockyard.{name}" in allowed


def in_runtime(module: str) -> bool:
    return module == RUNTIME or module.startswith(RUNTIME + ".")


def sources() -> dict[str, pathlib.Path]:
    return {module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def leaf_modules() -> set[str]:
    """What both sides may import (README's "Where the code is"): modules at the top of the
    package, not every one there (``listeners.py`` is the engine's)."""
    return {f"dockyard.{name}" for name in LEAVES}


def test_the_engine_imports_nothing_of_the_runtime_programs() -> None:
    crossings = {
        (mod, imported, name)
        for mod, path in sources().items() if not in_runtime(mod)
        for imported, name in dockyard_imports(path)
        if any(in_runtime(t) for t in targets(imported, name))
    }
    assert crossings == ALLOWED_CROSSINGS, (
        "engine modules import the runtime's package; share a leaf module at the top of "
        f"src/dockyard instead: {sorted(crossings - ALLOWED_CROSSINGS)}"
    )


def test_the_runtime_programs_import_only_themselves_and_leaf_modules() -> None:
    leaves = leaf_modules()
    wrong = {
        (mod, imported, name)
        for mod, path in sources().items() if in_runtime(mod)
        for imported, name in dockyard_imports(path)
        if not (in_runtime(imported) or within(imported, name, leaves))
    }
    assert not wrong, f"runtime modules import the engine: {sorted(wrong)}"


def test_leaf_modules_import_only_leaf_modules() -> None:
    """Else a runtime program would load the engine through a leaf."""
    leaves = leaf_modules()
    all_sources = sources()
    wrong = {
        (mod, imported, name)
        for mod in sorted(leaves)
        for imported, name in dockyard_imports(all_sources[mod])
        if not within(imported, name, leaves)
    }
    assert not wrong, f"leaf modules import non-leaf modules: {sorted(wrong)}"


def test_the_import_walk_sees_what_it_must() -> None:
    """The walk finds imports inside functions, ``from dockyard import x`` and relative imports."""
    root = sources()
    assert ("dockyard.runtime.native", "locate") in dockyard_imports(root["dockyard.dockyardd"])
    assert ("dockyard", "win32") in dockyard_imports(root["dockyard.jobobject"])
    assert ("dockyard.runtime.native.cgroups.base", "CgroupManager") in dockyard_imports(
        root["dockyard.runtime.native.cgroups"])
    assert leaf_modules() <= set(root), "a leaf module named in LEAVES is gone"
