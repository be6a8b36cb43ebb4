"""The package boundaries of docs/architecture.md hold."""

from __future__ import annotations

import ast
from pathlib import Path

from signage.settings import PROJECT_ROOT


def _imports(package: str) -> set[str]:
    found: set[str] = set()
    for path in Path(PROJECT_ROOT, package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found


def test_content_imports_neither_signage_nor_players() -> None:
    assert not _imports("content") & {"signage", "players"}


def test_players_never_import_signage() -> None:
    assert "signage" not in _imports("players")
