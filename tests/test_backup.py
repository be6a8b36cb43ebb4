"""`signage backup` and `signage restore` as docs/deploy.md tells an operator to run them:
the demo city hall backed up, the database and data folder wiped, restored, and all of it
there again (rows, logins, media files, screens' tokens, the kiosk and its queue), on
SQLite and on PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from websockets.sync.client import connect

from signage.db import create_sync_engine
from signage.models import Base

from .conftest import PG_URL, LiveServer, free_port
from .test_players import _hello

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
# Rows a running server writes by itself (the jobs' lease), not data that is restored.
VOLATILE = {"job_leases"}


def _env(data: Path, database_url: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
        "SIGNAGE_DATA_DIR": str(data),
        "SIGNAGE_DATABASE_URL": database_url,
        "SIGNAGE_PORT": str(free_port()),
        "SIGNAGE_LOG_LEVEL": "warning",
        "SIGNAGE_VOICE": "false",
    }


def _signage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signage", *args],
        capture_output=True, text=True, env=env, timeout=180, check=False,
    )  # fmt: skip


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in primary key order."""
    engine = create_sync_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
            rows = {
                table.name: [
                    tuple(row)
                    for row in conn.execute(sa.select(table).order_by(*table.primary_key.columns))
                ]
                for table in Base.metadata.sorted_tables
                if table.name not in VOLATILE
            }
    finally:
        engine.dispose()
    return rows | {"alembic_version": [(version,)]}


def _files(data: Path) -> dict[str, str]:
    return {
        str(path.relative_to(data)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(data.rglob("*"))
        if path.is_file() and not path.name.startswith("signage.db")
    }


def _wipe(data: Path, url: str) -> None:
    shutil.rmtree(data)
    if url.startswith("postgresql"):
        engine = create_sync_engine(url)
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        engine.dispose()


def test_back_up_wipe_restore_and_the_demo_is_all_there(db: sa.Engine, tmp_path: Path) -> None:
    data = tmp_path / "data"
    url = PG_URL or f"sqlite:///{data / 'signage.db'}"
    env = _env(data, PG_URL)  # empty: SQLite in the data folder, as by default
    loaded = _signage(env, "load-demo")
    assert loaded.returncode == 0, loaded.stderr
    passwords = dict(re.findall(r"^    (\w+)\s+(\S+)  ", loaded.stdout, re.M))
    players = re.findall(r"/player/#token=([\w-]+)", loaded.stdout)
    kiosk = re.search(r"/kiosk/#token=([\w-]+)", loaded.stdout)
    assert len(passwords) == 5 and len(players) == 3 and kiosk, loaded.stdout
    rows, files = _rows(url), _files(data)
    assert len(rows["users"]) == 5 and len(rows["tickets"]) == 5
    assert any(name.startswith("media/") and name.endswith(".png") for name in files)
    assert "secret_key" in files

    made = _signage(env, "backup", str(tmp_path / "backups"))
    assert made.returncode == 0, made.stderr
    (archive,) = (tmp_path / "backups").glob("signage-*.tar.gz")
    assert str(archive) in made.stdout
    assert archive.stat().st_mode & 0o077 == 0  # it holds the secret key
    assert not [p for p in (tmp_path / "backups").iterdir() if p != archive]  # no leftovers

    # Over a database that holds data, restore refuses and changes nothing...
    extra = _signage(env, "create-admin", "extra")
    assert extra.returncode == 0, extra.stderr
    refused = _signage(env, "restore", str(archive))
    assert refused.returncode == 1
    assert refused.stderr.startswith("signage: error: the database already holds data (2 sites")
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert len(_rows(url)["users"]) == 6
    # ... and replaces all of it with --force.
    forced = _signage(env, "restore", "--force", str(archive))
    assert forced.returncode == 0, forced.stderr
    assert _rows(url) == rows

    # The steps of docs/deploy.md: wipe the database and the data folder, restore.
    # A new install that started once has the tables, empty: restored into as they are.
    _wipe(data, url)
    assert _signage(env, "migrate").returncode == 0
    restored = _signage(env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert "restored" in restored.stdout
    assert _rows(url) == rows
    assert _files(data) == files

    server = LiveServer(env, tmp_path / "server.log")
    server.start()
    try:
        _check_the_demo_works(server, passwords, players, kiosk.group(1), data)
    finally:
        server.stop()


def _check_the_demo_works(
    server: LiveServer, passwords: dict[str, str], players: list[str], kiosk: str, data: Path
) -> None:
    for username, password in passwords.items():
        with httpx.Client(base_url=server.url, timeout=30) as staff:
            found = TOKEN.search(staff.get("/login").text)
            assert found
            login = staff.post(
                "/login",
                data={"username": username, "password": password, "csrf_token": found.group(1)},
            )
            assert login.status_code == 303, (username, login.text[-300:])
            if username == "admin":
                page = staff.get("/notices")
                assert page.status_code == 200
                assert "開庁時間" in page.text and "市県民税 納期限のお知らせ" in page.text
    pictures = [p for p in (data / "media").rglob("*.png") if p.parent.name != "voice"]
    assert pictures
    for picture in pictures:
        served = httpx.get(f"{server.url}/media/files/{picture.name}", timeout=30)
        assert served.status_code == 200 and served.content == picture.read_bytes()
    # The screens' device tokens still pair them: each is welcomed with its manifest.
    ws_url = server.url.replace("http://", "ws://") + "/player/ws"
    for token in players:
        with connect(ws_url, additional_headers={"Origin": server.url}, open_timeout=10) as ws:
            ws.send(_hello(token))
            welcome = json.loads(ws.recv(timeout=10))
            assert welcome["type"] == "welcome", welcome
    # The kiosk's token works, with its services.
    setup = httpx.get(
        f"{server.url}/api/kiosk/setup", headers={"Authorization": f"Bearer {kiosk}"}, timeout=30
    )
    assert setup.status_code == 200, setup.text
    assert sorted(s["prefix"] for s in setup.json()["services"]) == ["A", "B", "C"]


def test_backups_are_kept_for_the_days_asked_and_bad_archives_are_refused(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = _env(data, "")
    assert _signage(env, "migrate").returncode == 0
    folder = tmp_path / "backups"
    folder.mkdir()
    old = folder / "signage-20200101T023000Z.tar.gz"
    old.write_bytes(b"an old archive")
    other = folder / "notes.txt"
    other.write_text("not ours")
    made = _signage(env, "backup", str(folder), "--keep-days", "14")
    assert made.returncode == 0, made.stderr
    assert not old.exists() and other.exists()
    assert f"removed {old}" in made.stdout
    (archive,) = folder.glob("signage-*.tar.gz")
    with tarfile.open(archive) as opened:
        names = opened.getnames()
    assert names[:2] == ["manifest.json", "database.sqlite3"]
    assert "data/secret_key" in names

    # Into a data folder that is gone, with no database at all.
    shutil.rmtree(data)
    restored = _signage(env, "restore", str(archive))
    assert restored.returncode == 0, restored.stderr
    assert (data / "signage.db").is_file() and (data / "secret_key").is_file()

    # Something that is not a backup, or a backup with a path outside its folders.
    for bad, why in (
        (other, "is not an archive made by `signage backup`"),
        (tmp_path / "missing.tar.gz", "there is no file"),
    ):
        result = _signage(env, "restore", str(bad))
        assert result.returncode == 1
        assert why in result.stderr and "Traceback" not in result.stderr
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(archive) as source, tarfile.open(evil, "w:gz") as target:
        for member in source.getmembers():
            target.addfile(member, source.extractfile(member))
        info = tarfile.TarInfo("data/../../escaped")
        target.addfile(info)
    shutil.rmtree(data)
    result = _signage(env, "restore", str(evil))
    assert result.returncode == 1
    assert "which a backup never does" in result.stderr
    assert not (tmp_path / "escaped").exists() and not (data / "signage.db").exists()
    # A backup to a folder that cannot be made fails in one line and leaves nothing.
    blocked = _signage(env, "backup", str(other / "below"))
    assert blocked.returncode == 1 and "cannot make the folder" in blocked.stderr


@pytest.mark.skipif(bool(PG_URL), reason="the archive of a SQLite database")
def test_restore_refuses_an_archive_of_another_kind_of_database(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", "")
    assert _signage(env, "migrate").returncode == 0
    made = _signage(env, "backup", str(tmp_path / "b.tar.gz"))
    assert made.returncode == 0, made.stderr
    pg_env = env | {"SIGNAGE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    result = _signage(pg_env, "restore", str(tmp_path / "b.tar.gz"))
    assert result.returncode == 1
    assert "holds a sqlite database but SIGNAGE_DATABASE_URL names postgresql" in result.stderr


def test_backup_of_postgresql_needs_pg_dump(tmp_path: Path) -> None:
    env = _env(tmp_path / "data", "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    (tmp_path / "bin").mkdir()
    env["PATH"] = str(tmp_path / "bin")  # no PostgreSQL programs (python runs by its path)
    result = _signage(env, "backup", str(tmp_path / "backups"))
    assert result.returncode == 1
    assert "pg_dump is not installed" in result.stderr and "Traceback" not in result.stderr
    assert not list((tmp_path / "backups").iterdir())  # no partial archive


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    result = subprocess.run(
        [sys.executable, "-m", "signage", "--version"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert result.stdout.strip() == f"signage {version('signage')}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version("signage"))


@pytest.mark.skipif(bool(PG_URL), reason="SQLite's online backup under a serving server")
def test_sqlite_backups_while_the_server_writes_are_consistent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = _env(data, "")
    loaded = _signage(env, "load-demo")
    assert loaded.returncode == 0, loaded.stderr
    kiosk = re.search(r"/kiosk/#token=([\w-]+)", loaded.stdout)
    assert kiosk
    server = LiveServer(env, tmp_path / "server.log")
    server.start()
    stop = threading.Event()
    issued: list[int] = []

    def issue_tickets() -> None:
        headers = {"Authorization": f"Bearer {kiosk.group(1)}"}
        with httpx.Client(base_url=server.url, headers=headers, timeout=30) as client:
            services = [s["id"] for s in client.get("/api/kiosk/setup").json()["services"]]
            while not stop.is_set() and len(issued) < 400:
                made = client.post("/api/kiosk/tickets", json={"service": services[0]})
                issued.append(made.status_code)

    writer = threading.Thread(target=issue_tickets)
    writer.start()
    try:
        archives = []
        for n in range(3):
            made = _signage(env, "backup", str(tmp_path / f"during-{n}.tar.gz"))
            assert made.returncode == 0, made.stderr
            archives.append(tmp_path / f"during-{n}.tar.gz")
    finally:
        stop.set()
        writer.join(timeout=60)
        server.stop()
    assert issued and set(issued) == {201}
    final = sqlite3.connect(data / "signage.db")
    labels = [row[0] for row in final.execute("SELECT label FROM tickets ORDER BY id")]
    final.close()
    assert len(labels) == 5 + len(issued)
    counts = []
    for archive in archives:
        folder = tmp_path / archive.name.removesuffix(".tar.gz")
        with tarfile.open(archive) as opened:
            opened.extract("database.sqlite3", folder, filter="data")
        copy = sqlite3.connect(folder / "database.sqlite3")
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        got = [row[0] for row in copy.execute("SELECT label FROM tickets ORDER BY id")]
        copy.close()
        assert got == labels[: len(got)]  # a moment of the database: no ticket missing
        counts.append(len(got))
    assert counts == sorted(counts) and counts[-1] > 5  # taken while tickets were issued
