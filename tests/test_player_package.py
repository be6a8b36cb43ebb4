"""The headless player installs on its own (players/distribution.py, scripts/build-player):
its wheel holds the player and only the `content` modules it imports, a fresh virtual
environment gets it with websockets and Pillow and nothing of the server, and the player
installed there pairs with a real CMS and draws the notice it is given.

The fresh environment installs offline (`pip install --no-index --find-links`, no pip
configuration): the wheels of websockets and Pillow are packed from the files this test
environment has installed (the same files their wheels hold), so the test needs no
registry. Building the player's wheel uses pip's build isolation, which fetches setuptools
from the index pip is configured with (as `scripts/setup` does).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
import venv
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from players import distribution
from signage.settings import PROJECT_ROOT

from .conftest import LiveServer, Staff

SERVER_ONLY = ("starlette", "sqlalchemy", "uvicorn", "apscheduler", "babel", "holidays", "signage")
PLAYER_MODULES = {
    "content",
    "content.fonts",
    "content.playback",
    "content.protocol",
    "players",
    "players.__main__",
    "players.headless",
    "players.headless.alerts",
    "players.headless.cache",
    "players.headless.frames",
    "players.headless.outputs",
    "players.headless.player",
    "players.headless.text",
}
CODE = re.compile(r"Pairing code: ([A-Z2-9]{3}-[A-Z2-9]{3})")


# --- which modules, which dependencies (no build) ------------------------------------------


def test_the_player_imports_only_its_modules_websockets_and_pillow() -> None:
    found = distribution.closure()
    assert set(found.modules) == PLAYER_MODULES
    assert found.third_party == {"PIL", "websockets"}
    assert found.packages == ["content", "players", "players.headless"]
    distribution.check(found)  # does not raise


def test_a_server_dependency_on_the_players_path_stops_the_build(tmp_path: Path) -> None:
    (tmp_path / "players").mkdir()
    (tmp_path / "content").mkdir()
    (tmp_path / "players" / "__init__.py").write_text("")
    (tmp_path / "players" / "__main__.py").write_text(
        "from . import clock\nfrom content.schedules import resolve\n"
    )
    (tmp_path / "players" / "clock.py").write_text("import zoneinfo\nimport PIL.Image\n")
    (tmp_path / "content" / "__init__.py").write_text("")
    (tmp_path / "content" / "schedules.py").write_text(
        "from apscheduler.triggers.cron import CronTrigger\n\ndef resolve(): ...\n"
    )
    found = distribution.closure(root=tmp_path)
    assert set(found.modules) == {
        "players",
        "players.__main__",
        "players.clock",
        "content",
        "content.schedules",
    }
    assert found.third_party == {"apscheduler", "PIL"}
    with pytest.raises(distribution.PackagingError, match="imports apscheduler"):
        distribution.check(found)
    # A module the player names that is not in the checkout stops it too.
    (tmp_path / "players" / "__main__.py").write_text("import content.gone\n")
    with pytest.raises(distribution.PackagingError, match=r"content\.gone is imported"):
        distribution.closure(root=tmp_path)


def _range(spec: str) -> tuple[str, str | None]:
    lower = re.search(r">=([\w.]+)", spec)
    upper = re.search(r"<([\w.]+)", spec)
    assert lower, spec
    return lower.group(1), upper.group(1) if upper else None


def test_the_players_dependencies_are_bounded_and_match_the_servers() -> None:
    project = tomllib.loads(Path(PROJECT_ROOT, "pyproject.toml").read_text())["project"]
    server = {re.split(r"[<>=\[ ]", spec)[0].lower(): spec for spec in project["dependencies"]}
    player = {re.split(r"[<>=]", spec)[0]: spec for spec in distribution.REQUIRES}
    assert set(player) == {"websockets", "pillow"}
    for name, spec in player.items():
        lower, upper = _range(spec)
        assert upper, f"{spec} has no upper bound"
        server_lower, server_upper = _range(server[name])
        assert lower == server_lower, (spec, server[name])
        assert server_upper in (None, upper), (spec, server[name])
        installed = importlib.metadata.version(name)
        assert tuple(map(int, installed.split(".")[:2])) < tuple(map(int, upper.split(".")))


# --- build, install in a fresh environment, play --------------------------------------------


def _wheel_of_installed(name: str, folder: Path) -> Path:
    """A wheel of the distribution `name` as installed here: its files (not its scripts,
    which pip makes again from entry_points.txt) and its metadata, with a new RECORD."""
    dist = importlib.metadata.distribution(name)
    info = next(f for f in dist.files or [] if f.name == "METADATA").parent
    tag = next(
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    )
    wheel = folder / f"{info.name.removesuffix('.dist-info')}-{tag}.whl"
    skip = {"INSTALLER", "REQUESTED", "RECORD", "direct_url.json"}
    record = []
    with zipfile.ZipFile(wheel, "w") as archive:
        for file in dist.files or []:
            path = file.as_posix()
            if path.startswith("..") or "__pycache__" in path:
                continue
            if file.parent == info and file.name in skip:
                continue
            data = Path(str(dist.locate_file(file))).read_bytes()
            archive.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append(f"{path},sha256={digest.decode()},{len(data)}")
        record.append(f"{info.as_posix()}/RECORD,,")
        archive.writestr(f"{info.as_posix()}/RECORD", "\n".join(record) + "\n")
    return wheel


def _offline_env() -> dict[str, str]:
    """No pip configuration (no index, no find-links of this machine), no PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON"))}
    return env | {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def _pip(target: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(target), *args],
        capture_output=True,
        text=True,
        env=_offline_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_player_installs_alone_and_plays_from_a_real_cms(
    live_server: LiveServer, staff: Staff, tmp_path: Path
) -> None:
    # The wheel: the player and the content modules it imports, nothing else.
    built = subprocess.run(
        [str(Path(PROJECT_ROOT, "scripts", "build-player")), "--dist", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHON": sys.executable},
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheel = Path(built.stdout.strip())
    assert wheel.name == "signage_player-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = archive.read("signage_player-0.1.0.dist-info/METADATA").decode()
        scripts = archive.read("signage_player-0.1.0.dist-info/entry_points.txt").decode()
    modules = {
        n.removesuffix(".py").removesuffix("/__init__").replace("/", ".")
        for n in names
        if n.endswith(".py")
    }
    assert modules == PLAYER_MODULES
    assert sorted(re.findall(r"^Requires-Dist: (\w+)", metadata, re.M)) == ["pillow", "websockets"]
    assert "signage-player = players.__main__:main" in scripts

    # A fresh environment, offline: the player's wheel and those of its two dependencies.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("websockets", "pillow"):
        _wheel_of_installed(name, wheels)
    device = tmp_path / "device"
    venv.create(device, with_pip=False)
    python = device / "bin" / "python"
    _pip(python, "install", "--no-index", "--find-links", str(wheels), str(wheel))
    listed = json.loads(_pip(python, "list", "--format=json"))
    assert {p["name"].lower() for p in listed} == {"signage-player", "websockets", "pillow"}

    # There the server's packages are missing and the player comes from the wheel.
    probe = (
        "import importlib, json, sys\n"
        "import players.__main__\n"
        "missing = []\n"
        f"for name in {SERVER_ONLY!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError:\n"
        "        missing.append(name)\n"
        "print(json.dumps({'missing': missing, 'file': players.__main__.__file__}))\n"
    )
    done = subprocess.run(
        [str(python), "-I", "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_offline_env(),
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["missing"] == list(SERVER_ONLY)
    assert Path(found["file"]).is_relative_to(device)

    # The installed player pairs with the real CMS and plays the notice it is given.
    site_id = staff.site()
    notice_id = staff.notice("ようこそ市役所へ", style="important", title_en="Welcome")
    playlist_id = staff.playlist([notice_id])
    cache, frame = tmp_path / "cache", tmp_path / "frame.png"
    command = [str(device / "bin" / "signage-player"), "--server", live_server.url]
    command += ["--cache", str(cache), "--size", "640x360"]
    player = subprocess.Popen(
        [*command, "--output", str(frame), "--verbose"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=tmp_path,
        env=_offline_env(),
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(player.stdout or []), daemon=True)
    reader.start()
    try:
        _wait(lambda: CODE.search("".join(lines)), 20, "the pairing code on standard output")
        match = CODE.search("".join(lines))
        assert match
        _wait(frame.exists, 10, "the pairing frame")
        pairing_frame = frame.read_bytes()
        screen_id = staff.pair(match.group(1), site_id)
        staff.play_by_default(screen_id, playlist_id)

        def once() -> str:
            # The installed player's own account of what it plays, from its cache.
            shown = subprocess.run(
                [*command, "--once", "--output", str(tmp_path / "once.png")],
                capture_output=True,
                text=True,
                cwd=tmp_path,
                env=_offline_env(),
                timeout=60,
                check=False,
            )
            assert shown.returncode == 0, shown.stderr
            return shown.stdout

        _wait(lambda: f"main: notice {notice_id} " in once(), 30, "the notice to play")
        assert "ようこそ市役所へ" in once()
    finally:
        player.terminate()
        player.wait(timeout=30)
        reader.join(10)
        if player.stdout:
            player.stdout.close()
    assert player.returncode == 0, "".join(lines)
    # Frames of the notice: the size asked for, drawn (not one colour), both from the player
    # that ran (its last frame, no longer the pairing code) and from --once.
    assert frame.read_bytes() != pairing_frame
    for path in (frame, tmp_path / "once.png"):
        with Image.open(path) as image:
            assert image.size == (640, 360)
            low, high = image.convert("L").getextrema()
            assert high - low > 100
    # The fonts come from the CMS when it serves them (verified copies in the cache):
    # the device needs none installed.
    if staff.http.get("/fonts/index.json").json()["fonts"]:
        kept = json.loads((cache / "fonts" / "index.json").read_text())
        assert kept and all((cache / "fonts" / entry["file"]).is_file() for entry in kept)
