"""`signage serve --workers N`: several server processes on one port, refused at start
unless the database and the hub are shared (PostgreSQL, Redis); the custom protocols
(request-head deadline, player websocket) in every worker."""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
import uvicorn
from websockets.sync.client import connect

from signage.cli import server_options
from signage.db import utcnow
from signage.http_protocol import HEAD_SECONDS, TimedH11Protocol
from signage.live.pairing import token_hash
from signage.live.socket import PlayerWebSocketProtocol
from signage.models import Screen
from signage.settings import PROJECT_ROOT

from .conftest import PG_URL, add_site, free_port
from .test_players import _hello


def _env(tmp_path: Path, **settings: str) -> dict[str, str]:
    return (
        {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
        | {"SIGNAGE_DATA_DIR": str(tmp_path / "data"), "SIGNAGE_LOG_LEVEL": "warning"}
        | settings
    )


def _serve(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "signage", "serve", *args],
        capture_output=True,
        text=True,
        env=_env(tmp_path, **settings),
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def _refused(result: subprocess.CompletedProcess[str], tmp_path: Path) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("signage: error: --workers 2 needs "), lines[0]
    assert not (tmp_path / "data" / "signage.db").exists()  # refused before migrating
    return lines[0]


def test_several_workers_on_the_defaults_are_refused_naming_both_settings(tmp_path: Path) -> None:
    line = _refused(_serve(tmp_path, "--workers", "2"), tmp_path)
    assert "SIGNAGE_DATABASE_URL=postgresql://" in line
    assert "SIGNAGE_HUB_URL=redis://" in line


def test_several_workers_with_the_memory_hub_are_refused(tmp_path: Path) -> None:
    # A PostgreSQL URL that nothing answers: the refusal comes before any connection.
    result = _serve(
        tmp_path,
        "--workers",
        "2",
        SIGNAGE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        SIGNAGE_HUB_URL="memory://",
    )
    line = _refused(result, tmp_path)
    assert "SIGNAGE_HUB_URL=redis://" in line
    assert "SIGNAGE_DATABASE_URL" not in line


def test_several_workers_on_sqlite_are_refused(tmp_path: Path) -> None:
    result = _serve(
        tmp_path,
        "--workers",
        "2",
        SIGNAGE_DATABASE_URL=f"sqlite:///{tmp_path / 'data' / 'signage.db'}",
        SIGNAGE_HUB_URL="redis://127.0.0.1:1/0",
    )
    line = _refused(result, tmp_path)
    assert "SIGNAGE_DATABASE_URL=postgresql://" in line
    assert "SIGNAGE_HUB_URL" not in line


def test_a_redis_hub_that_does_not_answer_stops_the_start_in_one_line(tmp_path: Path) -> None:
    result = _serve(
        tmp_path,
        "--workers",
        "2",
        SIGNAGE_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none",
        SIGNAGE_HUB_URL="redis://:secret@127.0.0.1:1/0",
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "cannot reach the Redis hub at 127.0.0.1:1" in lines[0]
    assert "secret" not in lines[0]


@pytest.mark.parametrize("workers", ["0", "-1", "two"])
def test_a_worker_count_must_be_a_whole_number_above_0(tmp_path: Path, workers: str) -> None:
    result = _serve(tmp_path, "--workers", workers)
    assert result.returncode == 2
    assert "--workers" in result.stderr and "Traceback" not in result.stderr


def test_the_protocol_classes_reach_spawned_workers_by_reference() -> None:
    # uvicorn hands its Config to each worker by pickling it (a spawned process): the
    # protocol classes must be importable by name, and arrive as the same classes.
    config = uvicorn.Config(
        "signage.cli:worker_app", factory=True, workers=2, **server_options("127.0.0.1")
    )
    copied = pickle.loads(pickle.dumps(config))  # noqa: S301 - our own object
    assert copied.http is TimedH11Protocol
    assert copied.ws is PlayerWebSocketProtocol
    assert copied.forwarded_allow_ips == "127.0.0.1"


# --- a real start of two workers ------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A Redis server of this test's own, on a free port."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    process.terminate()
    process.wait(timeout=10)


def _workers(pid: int) -> list[int]:
    """The worker processes uvicorn spawned (not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


def _paired_screen(db: sa.Engine) -> str:
    token, site_id = secrets.token_urlsafe(24), add_site(db)
    with db.begin() as conn:
        conn.execute(
            sa.insert(Screen).values(
                site_id=site_id,
                name="hall",
                layout="full",
                token_hash=token_hash(token),
                created_at=utcnow(),
                player_kind="",
                player_version="",
                manifest_ack=0,
            )
        )
    return token


def test_two_workers_serve_pages_and_players_with_our_protocols(
    database_url: str, db: sa.Engine, tmp_path: Path, redis_url: str
) -> None:
    if not PG_URL:
        pytest.skip("needs PostgreSQL: set SIGNAGE_TEST_DATABASE_URL=postgresql://...")
    token = _paired_screen(db)
    port = free_port()
    env = _env(
        tmp_path,
        SIGNAGE_DATABASE_URL=database_url,
        SIGNAGE_HUB_URL=redis_url,
        SIGNAGE_PORT=str(port),
        SIGNAGE_VENDOR_DIR=str(PROJECT_ROOT / "node_modules"),
    )
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "signage", "serve", "--workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=out,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(url + "/healthz", timeout=1) as answer:  # noqa: S310
                    assert answer.status == 200
                    break
            except OSError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        while len(_workers(server.pid)) < 2:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        workers = _workers(server.pid)
        assert len(workers) == 2

        # Several players: each says hello and is welcomed, whichever worker took it.
        for _ in range(4):
            with connect(url.replace("http", "ws") + "/player/ws", open_timeout=10) as ws:
                ws.send(_hello(token))
                assert '"welcome"' in str(ws.recv(timeout=10))

        # The request-head deadline (TimedH11Protocol) holds in the workers: connections
        # that never send a request head are closed by the server.
        silent = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]
        started = time.monotonic()
        for connection in silent:
            connection.settimeout(HEAD_SECONDS + 10)
            assert connection.recv(1) == b""
            connection.close()
        assert time.monotonic() - started < HEAD_SECONDS + 10

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0, log.read_text()
        assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
        assert "Traceback" not in log.read_text()
    finally:
        # On a failure, stop the parent the way systemd does (it stops its workers), and
        # make sure no worker outlives the test.
        started_workers = []
        with contextlib.suppress(OSError):
            started_workers = _workers(server.pid)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        for pid in started_workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
