"""The `signage` command as an operator runs it: one-line errors, non-zero exits."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from signage.db import create_sync_engine

from .conftest import free_port


def _run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = (
        {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
        | {"SIGNAGE_DATA_DIR": str(tmp_path)}
        | env
    )
    return subprocess.run(
        [sys.executable, "-m", "signage", *args],
        capture_output=True,
        text=True,
        env=environ,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def test_unreachable_database_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = _run(
        ["migrate"],
        tmp_path,
        SIGNAGE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2",
    )
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("signage: error: cannot connect to the database")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SIGNAGE_TIMEZONE", "Nowhere/Land"),
        ("SIGNAGE_LOG_LEVEL", "verbose"),
        ("SIGNAGE_HUB_URL", "kafka://127.0.0.1:9092"),
    ],
)
def test_bad_setting_is_one_line_and_exit_1(tmp_path: Path, name: str, value: str) -> None:
    result = _run(["serve"], tmp_path, **{name: value})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"signage: error: {name}={value!r} is not valid")


def test_migrate_create_admin_and_load_demo(tmp_path: Path) -> None:
    assert _run(["migrate"], tmp_path).returncode == 0
    made = _run(["create-admin", "chief"], tmp_path)
    assert made.returncode == 0, made.stderr
    assert "password: " in made.stdout
    again = _run(["create-admin", "chief"], tmp_path)
    assert again.returncode == 1
    assert "taken" in again.stderr
    demo = _run(["load-demo"], tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "admin" in demo.stdout
    engine = create_sync_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    with engine.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM sites")) == 2
        roles = set(conn.scalars(sa.text("SELECT role FROM users")))
        statuses = set(conn.scalars(sa.text("SELECT status FROM notices")))
        layouts = set(conn.scalars(sa.text("SELECT layout FROM screens")))
        manifests = conn.scalar(sa.text("SELECT count(*) FROM manifests"))
        languages = set(conn.scalars(sa.text("SELECT language FROM notice_texts")))
        closures = conn.scalar(sa.text("SELECT count(*) FROM closures"))
        waiting = list(conn.scalars(sa.text("SELECT label FROM tickets ORDER BY id")))
        counters = conn.scalar(sa.text("SELECT count(*) FROM queue_counters"))
        kiosks = conn.scalar(sa.text("SELECT count(*) FROM kiosks"))
    engine.dispose()
    assert roles == {"admin", "publisher", "editor", "counter"}
    assert statuses == {"approved"}
    assert layouts == {"hall", "counter", "queue"}
    assert manifests == 3
    assert waiting == ["A-001", "A-002", "B-001", "A-003", "C-001"]
    assert (counters, kiosks) == (3, 1)
    assert "/kiosk/#token=" in demo.stdout and "/counter/" in demo.stdout
    assert {"ja", "en", "zh-Hans", "ko", "pt", "vi"} <= languages
    assert closures == 1
    assert len(list((tmp_path / "media").rglob("*.png"))) >= 2


def _demo(tmp_path: Path, port: int, *extra: str) -> str:
    """Run `signage demo` until it answers, then stop it; returns what it printed."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
    out = tmp_path / f"demo-{len(list(tmp_path.glob('demo-*')))}.log"
    with out.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "signage", "demo", "--port", str(port), *extra],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environ,
            cwd=tmp_path,
        )
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            else:
                raise AssertionError(out.read_text())
        finally:
            process.terminate()
            process.wait(timeout=30)
    return out.read_text()


def test_the_demo_prints_roles_and_restarts_with_its_data(tmp_path: Path) -> None:
    port = free_port()
    first = _demo(tmp_path, port)
    assert re.search(r"suzuki\s+\S+\s+counter staff, 市役所 本庁舎", first), first
    assert re.search(r"sato\s+\S+\s+publisher \(approves notices\), all sites", first)
    assert "./scripts/demo --keep" in first
    database = tmp_path / ".demo-data" / "signage.db"
    engine = create_sync_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        before = dict(conn.execute(sa.text("SELECT username, password_hash FROM users")).all())
    engine.dispose()
    second = _demo(tmp_path, port, "--keep")
    assert "goes on with its data" in second and "suzuki" not in second
    with engine.connect() as conn:
        after = dict(conn.execute(sa.text("SELECT username, password_hash FROM users")).all())
    engine.dispose()
    assert after == before  # the same accounts, with the passwords printed at first
    third = _demo(tmp_path, port)  # without --keep: a fresh demo
    assert "suzuki" in third
