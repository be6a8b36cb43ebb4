"""Builds the headless player's own distribution, `signage-player`: a wheel holding the
player and only the `content` modules it imports, with websockets and Pillow as its only
dependencies, for a small device that gets nothing of the server.

    ./scripts/build-player [--dist DIR] [-- PIP-OPTIONS...]

The modules are found by following the imports of `players/__main__.py` from this checkout
(`closure`). The build refuses when they reach a package other than the standard library,
websockets and Pillow, so a server dependency cannot reach a small device by accident. The
chosen files are copied to a temporary folder with a `pyproject.toml` of their own and built
with `pip wheel` (setuptools, in pip's build isolation; PIP-OPTIONS such as
`--no-index --find-links WHEELS` build without an index). Not part of the player's wheel.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAME = "signage-player"
ENTRY = "players.__main__"
# The player's dependencies: the ranges of the main pyproject.toml, bounded above
# (tests/test_player_package.py keeps them in step).
REQUIRES = ("websockets>=17.4,<18", "pillow>=12.3,<14")
ALLOWED = frozenset({"websockets", "PIL"})  # the packages above, as they are imported
OWN = frozenset({"players", "content"})  # packages of this checkout the wheel may hold
SCRIPT = "signage-player = players.__main__:main"


class PackagingError(Exception):
    """The player cannot be packaged as it is (the message says why)."""


@dataclass(frozen=True)
class Closure:
    """The modules of this checkout the player imports (name -> file) and the top-level
    names of the other packages they import, outside the standard library."""

    modules: dict[str, Path]
    third_party: frozenset[str]

    @property
    def packages(self) -> list[str]:
        return sorted(name for name, path in self.modules.items() if path.name == "__init__.py")


def module_file(name: str, root: Path = ROOT) -> Path | None:
    """The file of module `name` in this checkout, or None."""
    base = root.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _imports(path: Path, module: str) -> tuple[set[str], set[str]]:
    """The modules `path` imports, at any depth of its code (also under `TYPE_CHECKING` and
    inside functions), and the names that are modules if they exist (`b` of
    `from a import b` may be a module of package `a` or a name in it)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    modules: set[str] = set()
    maybe: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            modules.add(source)
            maybe.update(f"{source}.{alias.name}" for alias in node.names)
    return modules, maybe


def closure(entry: str = ENTRY, root: Path = ROOT) -> Closure:
    """The modules `entry` imports, transitively, with the packages that hold them."""
    modules: dict[str, Path] = {}
    third_party: set[str] = set()
    todo = [(entry, True)]
    while todo:
        name, required = todo.pop()
        top = name.split(".")[0]
        if name in modules:
            continue
        if top not in OWN:
            if top not in sys.stdlib_module_names:
                third_party.add(top)
            continue
        path = module_file(name, root)
        if path is None:
            if required:
                raise PackagingError(f"{name} is imported but is not in {root}")
            continue  # `from package import name` of a function or class
        modules[name] = path
        parts = name.split(".")
        todo.extend((".".join(parts[:i]), True) for i in range(1, len(parts)))  # its packages
        imported, maybe = _imports(path, name)
        todo.extend((module, True) for module in imported)
        todo.extend((module, False) for module in maybe)
    return Closure(modules, frozenset(third_party))


def check(found: Closure) -> None:
    """Raise if the player reaches a package other than websockets and Pillow."""
    extra = sorted(found.third_party - ALLOWED)
    if extra:
        raise PackagingError(
            f"the headless player imports {', '.join(extra)}, which a small device does not "
            f"get (only {', '.join(sorted(ALLOWED))}): keep those imports out of the modules "
            f"it uses ({', '.join(sorted(found.modules))})"
        )


def version(root: Path = ROOT) -> str:
    """The version of the main project (pyproject.toml), which the player shares."""
    if not (root / "pyproject.toml").is_file():
        raise PackagingError(f"no pyproject.toml in {root}: build from a checkout")
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = project.get("version")
    if not isinstance(found, str):
        raise PackagingError("pyproject.toml names no [project] version")
    return found


def _pyproject(found: Closure, root: Path) -> str:
    def strings(values: Sequence[str]) -> str:
        return "[" + ", ".join(f'"{value}"' for value in values) + "]"

    name, target = SCRIPT.split(" = ")
    return (
        '[build-system]\nrequires = ["setuptools>=69"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{NAME}"\nversion = "{version(root)}"\n'
        'description = "The headless signage player for small counter displays"\n'
        f'requires-python = ">=3.11"\ndependencies = {strings(REQUIRES)}\n\n'
        f'[project.scripts]\n{name} = "{target}"\n\n'
        f"[tool.setuptools]\npackages = {strings(found.packages)}\n"
        "include-package-data = false\n"
    )


def stage(folder: Path, root: Path = ROOT) -> Closure:
    """Copy the player's modules into `folder` with a pyproject.toml of their own."""
    found = closure(root=root)
    check(found)
    for path in found.modules.values():
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    (folder / "pyproject.toml").write_text(_pyproject(found, root), encoding="utf-8")
    return found


def build(dist: Path, pip_options: Sequence[str] = (), root: Path = ROOT) -> Path:
    """Build the wheel into `dist`; returns its path."""
    dist.mkdir(parents=True, exist_ok=True)
    wheel = dist / f"{NAME.replace('-', '_')}-{version(root)}-py3-none-any.whl"
    wheel.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="signage-player-") as staging:
        stage(Path(staging), root)
        command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
        done = subprocess.run(  # noqa: S603 (our own interpreter, our own arguments)
            [*command, "--wheel-dir", str(dist), *pip_options, staging],
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0 or not wheel.is_file():
        raise PackagingError(f"pip wheel failed:\n{done.stdout}{done.stderr}")
    return wheel


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/build-player",
        description=f"Build the wheel of the headless player alone ({NAME}).",
        epilog="Options after -- go to pip wheel, e.g. -- --no-index --find-links WHEELS",
    )
    parser.add_argument(
        "--dist", type=Path, default=ROOT / "dist", help="folder for the wheel (default: dist/)"
    )
    given = list(sys.argv[1:] if argv is None else argv)
    split = given.index("--") if "--" in given else len(given)
    args = parser.parse_args(given[:split])
    try:
        wheel = build(args.dist, given[split + 1 :])
    except PackagingError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(wheel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
