"""Intake's modules import one another in one direction only: views and the import
command call flows, flows call registration, registration calls service and models.

A cycle works until someone imports the modules in another order (a test, a worker, a
script) and gets a half-initialised module, so it is caught here rather than there."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = "services.intake"
# Alembic loads these itself, inside a migration context.
NOT_IMPORTED = ("services.intake.migrations",)


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted((Path(ROOT) / "services" / "intake").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not name.startswith(NOT_IMPORTED):
            found[name] = path
    return found


def imports(path: Path, known: set[str]) -> set[str]:
    """The package's modules this file imports, at the top or inside a function."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        out |= {name for name in names if name in known}
    return out


def test_no_module_of_intake_imports_itself_back() -> None:
    found = modules()
    graph = {name: imports(path, set(found)) - {name} for name, path in found.items()}
    cycles: list[list[str]] = []
    done: set[str] = set()

    def walk(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name) :], name])
            return
        if name in done:
            return
        for other in sorted(graph[name]):
            walk(other, [*trail, name])
        done.add(name)

    for name in graph:
        walk(name, [])
    assert "services.intake.complaints.registration" in graph
    assert cycles == []


def test_each_module_imports_first_on_its_own() -> None:
    names = sorted(modules())
    script = f"""
import importlib, sys
for name in {names!r}:
    for loaded in [m for m in sys.modules if m == {PACKAGE!r} or m.startswith({PACKAGE + "."!r})]:
        del sys.modules[loaded]
    importlib.import_module(name)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
