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


def _tree() -> set[str]:
    """The modules and folders the tree of signage/ in docs/architecture.md names."""
    text = Path(PROJECT_ROOT, "docs", "architecture.md").read_text(encoding="utf-8")
    block = text.split("```\nsignage/\n", 1)[1].split("```", 1)[0]
    named: set[str] = set()
    folder = ""
    for line in block.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        first = line.strip().split("   ", 1)[0]
        if depth == 1:
            folder = ""
        for name in (n.strip() for n in first.split(",")):
            if name.endswith("/"):
                folder = name if depth == 1 else folder
                named.add(name.rstrip("/"))
            elif name:
                named.add(folder + name)
    return named


def test_the_folder_tree_in_the_architecture_doc_is_the_code() -> None:
    root = Path(PROJECT_ROOT, "signage")
    modules = {
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "__init__.py"
        and not path.is_relative_to(root / "views")
        and not path.is_relative_to(root / "migrations")
    }
    folders = {p.name for p in root.iterdir() if p.is_dir() and any(p.rglob("*.py"))}
    assert _tree() == modules | folders
