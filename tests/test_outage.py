"""PostgreSQL out of reach for a while: staff get a clear 503 (a page, JSON or an htmx
fragment) with one log line per request, players stay connected, nothing half-written is
kept, and the server works again once the database is back, without a restart.

The outage is a TCP proxy (tests/procs.py) between the server and the shared PostgreSQL
server, cut and resumed by the test; PostgreSQL itself is never stopped."""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from starlette.routing import Route
from starlette.testclient import TestClient
from websockets.sync.client import connect

from signage.app import create_app
from signage.db import unreachable, utcnow
from signage.live import pairing
from signage.models import Notice, Role, Screen
from signage.settings import Settings

from .conftest import PASSWORD, PG_URL, add_site, add_user, free_port
from .procs import Processes, csrf_token, login

JA = "データベースに接続できないため、保存されませんでした。"
EN = "The database cannot be reached just now, so nothing was saved."


def _hello(token: str) -> str:
    return json.dumps(
        {
            "type": "hello",
            "token": token,
            "protocol": 1,
            "epoch": None,
            "seq": 0,
            "manifest_version": 0,
            "player": {"kind": "test", "version": "1"},
        }
    )


def _notice_form(token: str, request_id: str, title: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "request_id": request_id,
        "site_id": "",
        "style": "normal",
        "title_ja": title,
        "body_ja": "",
        "action": "draft",
    }


def _last_seen(db: sa.Engine) -> datetime | None:
    with db.connect() as conn:
        return conn.scalar(sa.select(Screen.last_seen_at))


@pytest.mark.skipif(
    not PG_URL,
    reason="the outage is a proxy in front of PostgreSQL: set SIGNAGE_TEST_DATABASE_URL",
)
def test_postgresql_cut_off_gives_503_and_the_server_recovers(
    processes: Processes, db: sa.Engine
) -> None:
    site_id = add_site(db)
    add_user(db, "chief", Role.ADMIN)
    player_token = secrets.token_urlsafe(32)
    with db.begin() as conn:
        conn.execute(
            sa.insert(Screen).values(
                site_id=site_id,
                name="lobby",
                layout="hall",
                token_hash=pairing.token_hash(player_token),
                paired_at=utcnow(),
                created_at=utcnow(),
            )
        )
    pg = make_url(PG_URL)
    proxy = processes.proxy((pg.host or "127.0.0.1", pg.port or 5432))
    # Jobs renew their lease every second, so they meet the outage too.
    server = processes.serve(DATABASE_URL=proxy.postgresql_url(PG_URL), JOB_LEASE_SECONDS="3")
    staff = login(server.url, "chief", PASSWORD)
    form_token = csrf_token(staff, "/notices/new")
    player = connect(
        server.url.replace("http://", "ws://") + "/player/ws", open_timeout=10, legacy=True
    )
    try:
        player.send(_hello(player_token))
        assert json.loads(player.recv(timeout=10))["type"] == "welcome"
        # Its status is written in the next batch: the player is fully set up.
        deadline = time.monotonic() + 20
        while _last_seen(db) is None:
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.2)

        proxy.cut()
        cut_at = utcnow()
        outage_requests = 0

        health = httpx.get(server.url + "/healthz", timeout=15)
        assert health.status_code == 503
        assert health.json() == {"status": "unavailable", "database": "unreachable"}

        page = staff.get("/")
        outage_requests += 1
        assert page.status_code == 503, page.text[-500:]
        assert "text/html" in page.headers["content-type"]
        assert JA in page.text  # the user's language is not known: the default, Japanese
        staff.cookies.set("signage_lang", "en")
        english = staff.get("/notices")
        staff.cookies.delete("signage_lang")
        outage_requests += 1
        assert english.status_code == 503
        assert EN in english.text

        as_json = staff.get("/", headers={"accept": "application/json"})
        outage_requests += 1
        assert as_json.status_code == 503
        assert as_json.json()["status"] == 503
        assert as_json.json()["error"].startswith("データベース")
        kiosk = httpx.get(
            server.url + "/api/kiosk/setup",
            headers={"authorization": f"Bearer {secrets.token_urlsafe(32)}"},
            timeout=15,
        )
        outage_requests += 1
        assert kiosk.status_code == 503
        assert kiosk.json()["status"] == 503

        fragment = staff.get("/", headers={"hx-request": "true"})
        outage_requests += 1
        assert fragment.status_code == 503
        assert fragment.headers["hx-retarget"] == "#messages"
        assert fragment.text.startswith('<p class="banner error"')
        assert JA in fragment.text

        request_id = secrets.token_urlsafe(16)
        posted = staff.post(
            "/notices/new", data=_notice_form(form_token, request_id, "停電のお知らせ")
        )
        outage_requests += 1
        assert posted.status_code == 503

        # The player keeps its socket: its heartbeats are taken, pings answered.
        for _ in range(3):
            player.send(json.dumps({"type": "heartbeat", "manifest_version": 0}))
            player.ping().wait(5)
            time.sleep(2)
        assert server.alive()
    finally:
        proxy.resume()
    try:
        # Without a restart: the very first request after the outage is served.
        assert staff.get("/").status_code == 200
        assert httpx.get(server.url + "/healthz", timeout=15).status_code == 200
        with db.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(Notice)) == 0
        # The form posted during the outage kept nothing: posting it again creates it once.
        again = staff.post(
            "/notices/new", data=_notice_form(form_token, request_id, "停電のお知らせ")
        )
        assert again.status_code == 303, again.text[-500:]
        with db.connect() as conn:
            assert conn.scalar(sa.select(sa.func.count()).select_from(Notice)) == 1
        # The player's status, held back during the outage, is written now.
        player.send(json.dumps({"type": "heartbeat", "manifest_version": 0}))
        player.ping().wait(5)
        deadline = time.monotonic() + 20
        while (seen := _last_seen(db)) is None or seen < cut_at:
            assert time.monotonic() < deadline, processes.logs()
            time.sleep(0.5)
        # A stall rather than a cut (no answer, no refusal): the request waits it out.
        proxy.pause()
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(staff.get, "/notices")
            time.sleep(1.5)
            assert not waiting.done()
            proxy.resume()
            assert waiting.result(timeout=15).status_code == 200
    finally:
        player.close()
        staff.close()
    log = server.log()
    assert "Traceback" not in log, log
    # One line per request, none per job run or player report.
    assert log.count("database unreachable on ") == outage_requests, log
    assert log.count("cannot record player status") == 1, log
    assert log.count("jobs wait: the database is unreachable") == 1, log


def test_database_errors_map_to_503_and_mistakes_stay_500(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """In process: an app whose database refuses connections answers 503 in every form,
    with one warning per request and no traceback."""
    refused = f"postgresql://signage@127.0.0.1:{free_port()}/nothing"
    app = create_app(
        Settings.load(environ={}, env_file=None, **{**settings.__dict__, "database_url": refused}),
        scheduler=False,
    )
    client = TestClient(app, follow_redirects=False)  # no lifespan: it would read the database
    client.cookies.set("signage_session", "x" * 43)
    with caplog.at_level(logging.INFO):
        page = client.get("/")
        fragment = client.get("/", headers={"hx-request": "true"})
        as_json = client.get("/", headers={"accept": "application/json"})
        health = client.get("/healthz")
    assert (page.status_code, fragment.status_code, as_json.status_code) == (503, 503, 503)
    assert JA in page.text and re.search(r"<html", page.text)
    assert fragment.text.startswith('<p class="banner error"') and JA in fragment.text
    assert as_json.json() == {"error": as_json.json()["error"], "status": 503}
    assert health.status_code == 503
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 3, [r.getMessage() for r in warnings]
    assert all(r.levelno == logging.WARNING and r.exc_info is None for r in warnings)

    # A wrong statement is a bug, not an outage.
    assert not unreachable(
        sa.exc.ProgrammingError("SELECT nonsense", {}, Exception("syntax error"))
    )
    assert unreachable(sa.exc.TimeoutError("QueuePool limit reached"))


def test_a_wrong_statement_is_still_a_500(client: TestClient, db: sa.Engine) -> None:
    """Only an unreachable database is a 503: a database error from a bug reaches the
    server-error handler (500) as before."""

    async def broken(request: object) -> None:
        async with client.app.state.readonly_db() as session:  # type: ignore[attr-defined]
            await session.execute(sa.text("SELECT * FROM no_such_table"))

    client.app.router.routes.insert(0, Route("/broken", broken))  # type: ignore[attr-defined]
    with pytest.raises(sa.exc.ProgrammingError if PG_URL else sa.exc.OperationalError):
        client.get("/broken")
    quiet = TestClient(client.app, raise_server_exceptions=False)
    response = quiet.get("/broken", headers={"accept": "application/json"})
    assert response.status_code == 500
