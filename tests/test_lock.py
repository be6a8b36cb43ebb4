"""The lock files (requirements/*.txt, written by scripts/lock) agree with pyproject.toml,
with each other and with what is installed here: "pinned" in the README is true."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from signage.settings import PROJECT_ROOT

ROOT = Path(PROJECT_ROOT)
LOCKS = ("runtime", "voice", "dev", "all")
# Which extras each lock file holds beside the server's own dependencies.
EXTRAS = {"runtime": (), "voice": ("voice",), "dev": ("dev",), "all": ("voice", "dev")}
PIN = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?==(\S+) \\$")


def project() -> dict[str, list[Requirement]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"": [Requirement(r) for r in data["dependencies"]]}
    for extra, requirements in data["optional-dependencies"].items():
        groups[extra] = [Requirement(r) for r in requirements]
    return groups


def lock(name: str) -> dict[str, str]:
    """Package -> version of requirements/<name>.txt; every pin carries its hashes."""
    pins: dict[str, str] = {}
    lines = (ROOT / "requirements" / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines):
        match = PIN.match(line)
        if match:
            assert lines[number + 1].strip().startswith("--hash=sha256:"), line
            pins[canonicalize_name(match.group(1))] = match.group(2)
        else:
            assert line.startswith(("#", " ")) or not line.strip(), f"{name}.txt: {line}"
    return pins


def test_every_dependency_has_an_upper_bound() -> None:
    for group in project().values():
        for requirement in group:
            operators = {spec.operator for spec in requirement.specifier}
            assert operators & {"<", "<=", "==", "~="}, f"{requirement} has no upper bound"


def test_uvicorn_is_pinned_exactly() -> None:
    # signage/http_protocol.py and signage/live/socket.py subclass uvicorn's internals.
    (uvicorn,) = [r for r in project()[""] if r.name == "uvicorn"]
    assert [spec.operator for spec in uvicorn.specifier] == ["=="]
    version = next(iter(uvicorn.specifier)).version
    for name in LOCKS:
        assert lock(name)["uvicorn"] == version


@pytest.mark.parametrize("name", LOCKS)
def test_each_lock_holds_what_pyproject_asks(name: str) -> None:
    pins = lock(name)
    groups = project()
    for extra in ("", *EXTRAS[name]):
        for requirement in groups[extra]:
            version = pins.get(canonicalize_name(requirement.name))
            assert version is not None, f"{requirement.name} is missing from {name}.txt"
            assert requirement.specifier.contains(version, prereleases=True), (
                f"{name}.txt has {requirement.name}=={version}, pyproject asks {requirement}"
            )
    if "voice" not in EXTRAS[name]:
        assert "pyopenjtalk-plus" not in pins
    if "dev" not in EXTRAS[name]:
        assert "pytest" not in pins


def test_the_locks_agree_with_each_other() -> None:
    everything = lock("all")
    for name in ("runtime", "voice", "dev"):
        pins = lock(name)
        assert pins.items() <= everything.items(), name
    assert lock("runtime").items() <= lock("voice").items()
    assert lock("runtime").items() <= lock("dev").items()
    assert set(lock("build")) == {"pip", "setuptools"}
    assert set(lock("lock-tool")) == {"uv"}


def test_what_is_installed_is_what_the_lock_says() -> None:
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version for d in importlib.metadata.distributions()
    }
    everything = lock("all") | lock("build")
    wrong = {
        name: (installed[name], version)
        for name, version in everything.items()
        if name in installed and installed[name] != version
    }
    assert wrong == {}, "installed (here, locked): run ./scripts/setup"
    missing = set(lock("runtime")) - set(installed)
    assert missing == set(), "not installed: run ./scripts/setup"
