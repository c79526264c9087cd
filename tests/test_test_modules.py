"""Test modules share code through tests/helpers.py and conftest.py's fixtures, never by importing one another
(a test module imported as a library runs its module-level code twice and ties unrelated suites together)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).parent


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_test_module_imports_another_or_conftest():
    offenders = {
        path.name: sorted(m for m in imported_modules(path) if m.startswith(("tests.test_", "tests.conftest")))
        for path in sorted(TESTS.glob("*.py"))
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}
