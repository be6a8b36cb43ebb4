"""Emergency alerts pushed to players through the real server's hub, as the server side
sends them (the `alerts` state message of docs/protocol.md), for the player tests: the
server in a thread with the demo city hall loaded."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from signage.live.pairing import token_hash
from signage.models import Screen
from signage.settings import Settings

from .browser import Page
from .test_fanout import ThreadServer

BOARD = "1階 呼び出し表示"
HALL = "1階 待合ホール"
RED = (0xA3, 0x00, 0x00)


@contextmanager
def serving(settings: Settings) -> Iterator[ThreadServer]:
    """The real server (uvicorn with the options of `signage serve`) in a thread."""
    server = ThreadServer(settings)
    server.thread.start()
    deadline = time.monotonic() + 30
    while not server.server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    try:
        yield server
    finally:
        server.server.should_exit = True
        server.thread.join(timeout=30)


def load_demo(settings: Settings) -> dict[str, str]:
    """Load the demo city hall into the server's database: screen name -> its token."""
    return load_demo_accounts(settings)[0]


def load_demo_accounts(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    """Load the demo city hall: (screen name -> its token, user name -> password)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
        "SIGNAGE_DATABASE_URL": settings.database_url,
        "SIGNAGE_DATA_DIR": str(settings.data_dir),
    }
    loaded = subprocess.run(
        [sys.executable, "-m", "signage", "load-demo"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr
    tokens = {}
    for line in loaded.stdout.splitlines():
        if "/player/#token=" in line:
            name, link = line.strip().rsplit(": ", 1)
            tokens[name] = link.rsplit("#token=", 1)[1]
    assert BOARD in tokens and HALL in tokens, loaded.stdout
    passwords = dict(re.findall(r"^\s+(\w+)\s+(\S+)  ", loaded.stdout, re.M))
    return tokens, passwords


def screen_id_of(db: sa.Engine, token: str) -> int:
    with db.connect() as conn:
        return int(
            conn.execute(sa.select(Screen.id).where(Screen.token_hash == token_hash(token))).one()[
                0
            ]
        )


def alert(
    alert_id: str,
    *,
    mode: str = "takeover",
    level: str = "severe",
    drill: bool = False,
    expires_in: float = 3600,
    issued: datetime | None = None,
    voice: list[dict[str, str]] | None = None,
    alarm: str | None = None,
    now: datetime | None = None,  # the server's time
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "id": alert_id,
        "level": level,
        "mode": mode,
        "drill": drill,
        "issued_at": (issued or now).isoformat(),
        "expires_at": (now + timedelta(seconds=expires_in)).isoformat(),
        "texts": [
            {
                "language": "ja",
                "headline": "地震が発生しました",
                "body": "落ち着いて頭を守ってください。",
            },
            {
                "language": "en",
                "headline": "An earthquake occurred",
                "body": "Stay calm and protect your head.",
            },
        ],
        "voice": voice or [],
        "alarm": alarm,
    }


def push(server: ThreadServer, screen_id: int, alerts: list[dict[str, Any]]) -> int:
    """Send (and keep in the hub) this screen's list, newer than any before; its revision."""
    hub = server.app.state.hub
    revision = max(time.time_ns() // 1000, server.call(lambda: hub.alerts_revision) + 1)
    body = {"type": "alerts", "revision": revision, "alerts": alerts}
    text = json.dumps(body, ensure_ascii=False)
    server.call(hub.set_alerts, revision, {text: [screen_id]})
    return revision


def open_board(page: Page, server: ThreadServer, token: str) -> None:
    page.goto(f"http://127.0.0.1:{server.port}/player/#token={token}")
    page.wait_for("!!document.querySelector('[data-board] .board-now')", timeout=15)


def shown(server: ThreadServer, screen_id: int) -> list[str]:
    status = server.call(lambda: dict(server.app.state.hub.status.get(screen_id, {})))
    return list(status.get("alerts") or [])


def call(label: str, counter: int, audio: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "kind": "queue.call",
        "ticket": sum(map(ord, label)),
        "label": label,
        "service": label[0],
        "service_names": {"ja": "住民票"},
        "counter": counter,
        "counter_id": counter,
        "counter_name": f"{counter}番",
        "recall": False,
        "at": datetime.now(UTC).isoformat(),
        "highlight_seconds": 10,
        "audio": audio,
        "texts": {"ja": f"{label}番の方"},
    }
