"""`/metrics` (Prometheus) and `/readyz`: who may read the metrics, what they say about a
real city hall (the demo) with a real player, kiosk and counter, and that counts made in
two worker processes of `signage serve --workers 2` add up whichever worker answers."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from signage.app import create_app
from signage.db import create_engine, migrate, session_factory, utcnow
from signage.demo import Demo, load_demo
from signage.models import Alert, Screen, Ticket
from signage.settings import Settings

from .conftest import PG_URL, csrf_token, login
from .procs import Processes
from .test_redis_hub import RedisServer, redis_server  # noqa: F401 (the fixture)

LOCAL = ("127.0.0.1", 50000)
OUTSIDE = ("203.0.113.9", 50000)
TOKEN = "a-long-metrics-token-for-tests"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition, by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def _app(settings: Settings, **overrides: object) -> TestClient:
    changed = Settings(**{**settings.__dict__, **overrides})
    return TestClient(create_app(changed, scheduler=False), follow_redirects=False, client=LOCAL)


# --- who may read them ----------------------------------------------------------------


def _get(settings: Settings, client: tuple[str, int], **kwargs: object) -> httpx.Response:
    changed = Settings(**{**settings.__dict__, **kwargs.pop("overrides", {})})  # type: ignore[arg-type]
    app = create_app(changed, scheduler=False)
    with TestClient(app, client=client) as http:
        return http.get("/metrics", **kwargs)  # type: ignore[arg-type]


def test_the_allowed_addresses_read_the_metrics_and_others_are_told_what_to_do(
    settings: Settings, db: sa.Engine
) -> None:
    answer = _get(settings, LOCAL)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert "signage_database_up 1.0" in answer.text
    refused = _get(settings, OUTSIDE)
    assert refused.status_code == 403
    assert "203.0.113.9" in refused.text and "SIGNAGE_METRICS_ALLOW" in refused.text
    assert "signage_" not in refused.text
    # The same address as a dual-stack listener sees it.
    assert _get(settings, ("::ffff:127.0.0.1", 50000)).status_code == 200
    assert _get(settings, ("::ffff:203.0.113.9", 50000)).status_code == 403
    # A network in the list lets its addresses in.
    assert _get(settings, OUTSIDE, overrides={"metrics_allow": "203.0.113.0/24"}).status_code == 200
    # Through a proxy that is not trusted, the address is the proxy's: not believed.
    proxied = _get(settings, LOCAL, headers={"X-Forwarded-For": "198.51.100.7"})
    assert proxied.status_code == 403
    # An empty list lets no address in.
    assert _get(settings, LOCAL, overrides={"metrics_allow": ""}).status_code == 403


def test_the_token_opens_the_metrics_from_anywhere(settings: Settings, db: sa.Engine) -> None:
    token = {"metrics_token": TOKEN}
    right = {"Authorization": f"Bearer {TOKEN}"}
    assert _get(settings, OUTSIDE, overrides=token, headers=right).status_code == 200
    missing = _get(settings, OUTSIDE, overrides=token)
    assert missing.status_code == 401 and "Authorization: Bearer" in missing.text
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = _get(settings, OUTSIDE, overrides=token, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "SIGNAGE_METRICS_TOKEN" in wrong.text
    # A wrong token is refused even from an allowed address; no token there still works.
    assert (
        _get(settings, LOCAL, overrides=token, headers={"Authorization": "Basic x"}).status_code
        == 401
    )
    assert _get(settings, LOCAL, overrides=token).status_code == 200
    # Without a token setting, any token is refused, saying so.
    unset = _get(settings, OUTSIDE, headers=right)
    assert unset.status_code == 401 and "not set" in unset.text


# --- what they say ---------------------------------------------------------------------


def _demo(settings: Settings) -> Demo:
    async def load() -> Demo:
        engine = create_engine(settings.database_url)
        try:
            return await load_demo(session_factory(engine), settings.media_dir)
        finally:
            await engine.dispose()

    return asyncio.run(load())


def wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.05)


def test_the_metrics_follow_a_city_hall_at_work(settings: Settings, db: sa.Engine) -> None:
    demo = _demo(settings)
    with db.connect() as conn:
        screens = dict(conn.execute(sa.select(Screen.name, Screen.id)).all())
        site_of = dict(conn.execute(sa.select(Screen.id, Screen.site_id)).all())
    name, token = next(iter(demo.players.items()))
    screen_id = screens[name]
    site = str(site_of[screen_id])
    with _app(settings) as http:
        before = samples(http.get("/metrics").text)
        assert value(before, "signage_screens", site=site, state="offline") >= 1
        assert value(before, "signage_screens", site=site, state="online") == 0

        # A player connects and has not yet acknowledged its manifest: it is behind.
        with http.websocket_connect("/player/ws") as ws:
            ws.send_text(
                json.dumps(
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
            )
            version = 0
            while not version:
                message = json.loads(ws.receive_text())
                if message["type"] == "manifest":
                    version = message["version"]
            found = samples(http.get("/metrics").text)
            assert value(found, "signage_screens", site=site, state="online") == 1
            assert value(found, "signage_manifest_behind_screens", site=site) == 1
            assert value(found, "signage_manifest_lag_seconds", site=site) >= 0
            ws.send_text(json.dumps({"type": "ack", "manifest_version": version}))
            wait_for(
                lambda: (
                    value(
                        samples(http.get("/metrics").text),
                        "signage_manifest_behind_screens",
                        site=site,
                    )
                    == 0
                )
            )

            # The kiosk issues two tickets; counter staff call one.
            kiosk = {"Authorization": f"Bearer {demo.kiosk}"}
            setup = http.get("/api/kiosk/setup", headers=kiosk).json()
            service = setup["services"][0]
            for _ in range(2):
                made = http.post(
                    "/api/kiosk/tickets", json={"service": service["id"]}, headers=kiosk
                )
                assert made.status_code == 201, made.text
            with db.connect() as conn:
                queue_site = str(conn.scalar(sa.select(Ticket.site_id).limit(1)))
            login(http, "suzuki", demo.passwords["suzuki"])
            console = f"/counter/{next(iter(demo.counters.values()))}"
            called = http.post(
                console + "/next",
                data={"csrf_token": csrf_token(http, console)},
                headers={"HX-Request": "true"},
            )
            assert called.status_code == 200, called.text[-300:]
            # An alert drill reaches the player's screen.
            with db.begin() as conn:
                conn.execute(
                    sa.insert(Alert).values(
                        source="manual",
                        identifier="drill-1",
                        level="severe",
                        mode="takeover",
                        drill=True,
                        texts=[],
                        targets={"screens": [screen_id]},
                        screens=[screen_id],
                        state="active",
                        issued_at=utcnow(),
                        effective_at=utcnow() - timedelta(seconds=5),
                        expires_at=utcnow() + timedelta(minutes=30),
                    )
                )

            def pushed() -> bool:
                now = samples(http.get("/metrics").text)
                return value(now, "signage_push_latency_seconds_count") > value(
                    before, "signage_push_latency_seconds_count"
                )

            wait_for(pushed)  # the call's event went out through the hub
        after = samples(http.get("/metrics").text)
    assert (
        value(after, "signage_tickets_issued_total", site=queue_site)
        - value(before, "signage_tickets_issued_total", site=queue_site)
        == 2
    )
    assert (
        value(after, "signage_calls_total", site=queue_site, kind="call")
        - value(before, "signage_calls_total", site=queue_site, kind="call")
        == 1
    )
    with db.connect() as conn:
        waiting = conn.scalar(
            sa.select(sa.func.count()).select_from(Ticket).where(Ticket.status == "waiting")
        )
        by_status = dict(
            conn.execute(sa.select(Ticket.status, sa.func.count()).group_by(Ticket.status)).all()
        )
    assert sum(v for (n, _), v in after.items() if n == "signage_queue_waiting") == waiting
    for status, count in by_status.items():
        assert value(after, "signage_tickets_today", site=queue_site, status=status) == count
    assert value(after, "signage_tickets_today", site=queue_site, status="called") == 1
    assert (
        value(
            after, "signage_queue_longest_wait_seconds", site=queue_site, service=service["prefix"]
        )
        >= 0
    )
    assert (
        value(after, "signage_alerts", site=site, level="severe", drill="true", state="active") == 1
    )
    assert value(after, "signage_screens", site=site, state="online") == 0  # it left
    assert any(n == "signage_site_info" and dict(labels)["site"] == site for n, labels in after)
    assert value(after, "signage_push_latency_seconds_bucket", le="+Inf") == value(
        after, "signage_push_latency_seconds_count"
    )


# --- ready or not ----------------------------------------------------------------------


def test_ready_when_the_database_is_migrated_and_the_hub_answers(
    settings: Settings, db: sa.Engine
) -> None:
    with _app(settings) as http:
        answer = http.get("/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "status": "ready",
        "checks": {"database": "ok", "migrations": "ok", "hub": "ok"},
    }


def test_not_ready_on_a_database_behind_the_newest_migration(
    settings: Settings, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    migrate(url, "0008")
    with _app(settings, database_url=url) as http:
        answer = http.get("/readyz")
        health = http.get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "not ready" and body["checks"]["database"] == "ok"
    assert (
        "0008" in body["checks"]["migrations"] and "signage migrate" in body["checks"]["migrations"]
    )
    assert health.status_code == 200  # alive, not ready


def test_not_ready_while_the_redis_hub_does_not_answer(
    settings: Settings,
    db: sa.Engine,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    with _app(settings, hub_url=redis_server.url) as http:
        assert http.get("/readyz").status_code == 200
        redis_server.stop()
        answer = http.get("/readyz")
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["database"] == "ok" and checks["migrations"] == "ok"
        assert checks["hub"].startswith("Redis does not answer")
        redis_server.start()
        wait_for(lambda: http.get("/readyz").status_code == 200)


# --- several worker processes ----------------------------------------------------------


def _children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def _metrics_dir(pid: int) -> Path:
    """The folder `serve` gave its workers (their environment says)."""
    for child in _children(pid):
        environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        for item in environ:
            if item.startswith(b"PROMETHEUS_MULTIPROC_DIR="):
                return Path(item.split(b"=", 1)[1].decode())
    raise AssertionError("no worker has PROMETHEUS_MULTIPROC_DIR")


def _issued_by_file(folder: Path) -> dict[str, float]:
    """Tickets each worker counted, from its own file."""
    counted = {}
    for path in sorted(folder.glob("counter_*.db")):
        for family in MultiProcessCollector.merge([str(path)]):
            for sample in family.samples:
                if sample.name == "signage_tickets_issued_total":
                    counted[path.name] = counted.get(path.name, 0.0) + sample.value
    return counted


@pytest.mark.skipif(
    not PG_URL, reason="several worker processes need PostgreSQL: set SIGNAGE_TEST_DATABASE_URL"
)
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_counts_of_two_workers_add_up_whichever_answers(
    processes: Processes,
    db: sa.Engine,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    server = processes.serve("--workers", "2", HUB_URL=redis_server.url, JOB_LEASE_SECONDS="3")
    out = processes.cli("load-demo")
    kiosk = re.search(r"/kiosk/#token=([A-Za-z0-9_-]+)", out)
    assert kiosk, out
    wait_for(lambda: len(_children(server.pid)) >= 2, 30)
    folder = _metrics_dir(server.pid)
    headers = {"Authorization": f"Bearer {kiosk.group(1)}"}
    service = httpx.get(server.url + "/api/kiosk/setup", headers=headers, timeout=30).json()
    service_id = service["services"][0]["id"]
    with db.connect() as conn:
        demo_tickets = conn.scalar(sa.select(sa.func.count()).select_from(Ticket))
    made = 0
    lock = threading.Lock()

    def issue() -> None:
        nonlocal made
        # A new connection each time: either worker may accept it.
        answer = httpx.post(
            server.url + "/api/kiosk/tickets",
            json={"service": service_id},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 201, answer.text
        with lock:
            made += 1

    deadline = time.monotonic() + 60
    while len([v for v in _issued_by_file(folder).values() if v > 0]) < 2:
        assert time.monotonic() < deadline, (_issued_by_file(folder), processes.logs())
        batch = [threading.Thread(target=issue) for _ in range(6)]
        for thread in batch:
            thread.start()
        for thread in batch:
            thread.join()
    per_worker = _issued_by_file(folder)
    assert sum(per_worker.values()) == made
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Ticket)) == demo_tickets + made
    # Whichever worker answers (a new connection each time), the sum of both.
    for _ in range(8):
        text = httpx.get(server.url + "/metrics", timeout=30).text
        found = samples(text)
        assert sum(v for (n, _), v in found.items() if n == "signage_tickets_issued_total") == made
        assert value(found, "signage_job_runs_total", job="lease", result="success") >= 1
    # Ending `serve` removes the folder it made.
    server.stop()
    assert not folder.exists()


@pytest.mark.skipif(
    not PG_URL, reason="the outage is a proxy in front of PostgreSQL: set SIGNAGE_TEST_DATABASE_URL"
)
def test_not_ready_while_the_database_cannot_be_reached(
    processes: Processes, db: sa.Engine
) -> None:
    pg = urlsplit(PG_URL)
    proxy = processes.proxy((pg.hostname or "127.0.0.1", pg.port or 5432))
    server = processes.serve(DATABASE_URL=proxy.postgresql_url(PG_URL))
    assert httpx.get(server.url + "/readyz", timeout=15).status_code == 200
    proxy.cut()
    try:
        answer = httpx.get(server.url + "/readyz", timeout=30)
        assert answer.status_code == 503
        checks = answer.json()["checks"]
        assert checks["database"].startswith("unreachable") and checks["hub"] == "ok"
        # The metrics say so too, without the values read from the database.
        found = samples(httpx.get(server.url + "/metrics", timeout=30).text)
        assert value(found, "signage_database_up") == 0
        assert not any(name == "signage_screens" for name, _ in found)
    finally:
        proxy.resume()
    wait_for(lambda: httpx.get(server.url + "/readyz", timeout=30).status_code == 200, 30)
