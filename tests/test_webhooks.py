"""Webhooks (signage/webhooks.py) against real HTTP receivers on 127.0.0.1: a call becomes
a signed POST the receiver verifies with its own HMAC, a failing receiver gets retries
with backoff until the last attempt, a hanging receiver never holds up a call, a screen
going offline becomes an event, several senders deliver each event once, and bad input
in the administrators' pages changes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from signage import webhooks
from signage.app import create_app
from signage.db import transaction, utcnow
from signage.live.pairing import token_hash
from signage.models import (
    AuditEntry,
    QueueCounter,
    QueueService,
    QueueSite,
    Role,
    Screen,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from signage.queue import tickets
from signage.settings import Settings

from .conftest import PG_URL, STAFF_PASSWORD, add_site, add_user, csrf_token, login
from .procs import Processes, post_form
from .procs import login as login_to

SECRET = re.compile(r"data-webhook-secret>([^<]+)</code>")


@dataclass
class Receiver:
    """A small web server that keeps what it is sent; `status` is its answer, and while
    `gate` is not set it holds every request (a target that hangs)."""

    url: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    got: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.got]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    target = Receiver()
    target.gate.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            target.arrived.set()
            target.gate.wait(timeout=20)
            target.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(target.status)
            for name, value in target.headers.items():
                self.send_header(name, value)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    target.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/signage?from=cms"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield target
    target.gate.set()
    server.shutdown()
    server.server_close()


@dataclass
class Site:
    site_id: int
    counter_id: int
    service_id: int


def queue_site(engine: sa.Engine, code: str = "honcho", name: str = "本庁舎") -> Site:
    site_id = add_site(engine, code, name)
    with Session(engine) as session, session.begin():
        service = QueueService(site_id=site_id, prefix="A", name="住民票", open=True)
        session.add_all([QueueSite(site_id=site_id, opens_at="00:00", closes_at="23:59"), service])
        session.flush()
        counter = QueueCounter(site_id=site_id, number=1, open=True, services=[service])
        session.add(counter)
        session.flush()
        return Site(site_id, counter.id, service.id)


def post(client: TestClient, path: str, data: dict[str, object]) -> Any:
    return client.post(path, data={**data, "csrf_token": csrf_token(client, "/account")})


def add_webhook(client: TestClient, site_id: int, url: str, *events: str) -> tuple[int, str]:
    response = post(
        client,
        "/webhooks",
        {"site_id": str(site_id), "name": "RPA", "url": url, "events": list(events)},
    )
    assert response.status_code == 200, response.text
    match = SECRET.search(response.text)
    assert match, "the secret is shown once"
    found = re.search(r'href="/webhooks/(\d+)"', response.text)
    assert found
    return int(found.group(1)), match.group(1)


def deliveries(engine: sa.Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(WebhookDelivery.event, WebhookDelivery.state, WebhookDelivery.attempts)
            .order_by(WebhookDelivery.id)
        )  # fmt: skip
        return [tuple(row) for row in rows]  # type: ignore[misc]


@pytest.fixture
def admin(client: TestClient, db: sa.Engine) -> TestClient:
    add_user(db, "chief", Role.ADMIN)
    login(client, "chief")
    return client


def deliver(client: TestClient, now: datetime | None = None) -> int:
    sender: webhooks.Sender = client.app.state.webhooks  # type: ignore[attr-defined]
    assert client.portal is not None
    return int(client.portal.call(sender.deliver_due, now))


def test_a_call_sends_a_signed_post_that_the_receiver_verifies(
    admin: TestClient, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    webhook_id, secret = add_webhook(
        admin, site.site_id, receiver.url, webhooks.QUEUE_CALL, webhooks.TICKET_STATUS
    )
    assert secret.startswith("whsec_")
    with db.connect() as conn:
        sealed = conn.scalar(sa.select(Webhook.secret).where(Webhook.id == webhook_id))
    assert sealed and secret not in sealed  # kept sealed, never as it is
    assert secret not in admin.get(f"/webhooks/{webhook_id}").text  # shown once only
    counter = f"/counter/{site.counter_id}"
    assert post(admin, counter + "/issue", {"service_id": site.service_id}).status_code == 303
    assert post(admin, counter + "/next", {}).status_code == 303
    assert sorted(event for event, _, _ in deliveries(db)) == [
        "queue.call", "ticket.status", "ticket.status",
    ]  # fmt: skip
    assert deliver(admin) == 3
    assert deliver(admin) == 0  # each event once
    assert [state for _, state, _ in deliveries(db)] == ["delivered"] * 3
    assert len(receiver.got) == 3
    by_type: dict[str, list[dict[str, Any]]] = {}
    for headers, body in receiver.got:
        # What a receiver does: HMAC-SHA256 of "<t>.<body>" with the secret, compared.
        parts = dict(p.split("=", 1) for p in headers["x-signage-signature"].split(","))
        assert parts["t"] == headers["x-signage-timestamp"]
        assert abs(time.time() - int(parts["t"])) < 60
        mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256)
        assert hmac.compare_digest(mac.hexdigest(), parts["v1"])
        event = json.loads(body)
        assert headers["x-signage-event"] == event["type"]
        assert headers["x-signage-event-id"] == event["id"]
        assert headers["content-type"] == "application/json"
        assert event["site"] == {"id": site.site_id, "code": "honcho", "name": "本庁舎"}
        by_type.setdefault(event["type"], []).append(event["data"])
        assert webhooks.verify(secret, headers["x-signage-signature"], body, time.time())
        assert not webhooks.verify("whsec_other", headers["x-signage-signature"], body, time.time())
    [call] = by_type["queue.call"]
    assert (call["label"], call["counter"], call["service"], call["recall"]) == (
        "A-001", 1, "住民票", False,
    )  # fmt: skip
    statuses = [(d["action"], d["status"], d["label"]) for d in by_type["ticket.status"]]
    assert sorted(statuses) == [("call", "called", "A-001"), ("issue", "waiting", "A-001")]
    page = admin.get(f"/webhooks/{webhook_id}", headers={"HX-Request": "true"}).text
    assert page.count('data-outcome="delivered"') == 3 and "HTTP 200" in page


def test_a_rolled_back_change_sends_nothing(admin: TestClient, db: sa.Engine) -> None:
    site = queue_site(db)
    add_webhook(admin, site.site_id, "http://127.0.0.1:9/never", webhooks.TICKET_STATUS)
    app = admin.app

    async def issue_then_fail() -> None:
        async with transaction(app.state.db) as session:  # type: ignore[attr-defined]
            await tickets.issue(session, site_id=site.site_id, service_id=site.service_id)
            raise RuntimeError("the change fails after the ticket was made")

    assert admin.portal is not None
    with pytest.raises(RuntimeError):
        admin.portal.call(issue_then_fail)
    assert deliveries(db) == []
    # Nobody waiting: the refused call writes nothing either.
    assert post(admin, f"/counter/{site.counter_id}/next", {}).status_code == 409
    assert deliveries(db) == []


def test_a_failing_receiver_gets_retries_with_backoff_then_the_event_fails(
    settings: Settings, db: sa.Engine, receiver: Receiver
) -> None:
    receiver.status = 500
    site = queue_site(db)
    add_user(db, "chief", Role.ADMIN)
    app = create_app(
        Settings.load(
            environ={}, env_file=None, data_dir=settings.data_dir,
            database_url=settings.database_url, secret_key=settings.secret_key,
            vendor_dir=settings.vendor_dir, voice=False, webhook_attempts=3,
            webhook_retry_seconds=60.0,
        ),
        scheduler=False,
    )  # fmt: skip
    clock = [utcnow()]
    app.state.webhooks.clock = lambda: clock[0]
    with TestClient(app, follow_redirects=False) as client:
        login(client, "chief")
        webhook_id, _ = add_webhook(client, site.site_id, receiver.url, webhooks.QUEUE_CALL)
        assert post(client, f"/webhooks/{webhook_id}/test", {}).status_code == 303
        start = clock[0] = utcnow()
        assert deliver(client, start) == 1
        with db.connect() as conn:
            first_retry = conn.scalar(sa.select(WebhookDelivery.next_attempt_at))
        assert first_retry is not None
        assert start + timedelta(seconds=45) <= first_retry <= start + timedelta(seconds=75)
        assert deliver(client, first_retry - timedelta(seconds=1)) == 0  # not due yet
        clock[0] = first_retry
        assert deliver(client, first_retry) == 1
        with db.connect() as conn:
            second_retry = conn.scalar(sa.select(WebhookDelivery.next_attempt_at))
        assert second_retry is not None
        wait = second_retry - first_retry
        assert timedelta(seconds=90) <= wait <= timedelta(seconds=150)  # doubled, ±25 %
        clock[0] = second_retry
        assert deliver(client, second_retry) == 1
        assert deliver(client, second_retry + timedelta(days=2)) == 0  # failed: no more
        page = client.get(f"/webhooks/{webhook_id}").text
    assert deliveries(db) == [("webhook.test", "failed", 3)]
    assert [h["x-signage-attempt"] for h, _ in receiver.got] == ["1", "2", "3"]
    assert len({h["x-signage-event-id"] for h, _ in receiver.got}) == 1  # one event, retried
    assert page.count("HTTP 500") == 3
    assert page.count('data-outcome="retry"') == 2 and page.count('data-outcome="failed"') == 1
    with db.connect() as conn:
        attempts = conn.execute(sa.select(WebhookAttempt.attempt, WebhookAttempt.outcome)).all()
    assert sorted(attempts) == [(1, "retry"), (2, "retry"), (3, "failed")]


def test_a_redirect_is_not_followed_and_a_slow_answer_times_out(
    admin: TestClient, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    webhook_id, _ = add_webhook(admin, site.site_id, receiver.url, webhooks.QUEUE_CALL)
    receiver.status, receiver.headers = 302, {"location": receiver.url + "&moved=1"}
    assert post(admin, f"/webhooks/{webhook_id}/test", {}).status_code == 303
    assert deliver(admin) == 1
    assert len(receiver.got) == 1  # the Location was not asked for
    app: Any = admin.app
    quick = webhooks.Sender(
        app.state.db, app.state.readonly_db, "test-secret-key", webhooks.Policy(timeout=0.3)
    )
    receiver.gate.clear()
    assert post(admin, f"/webhooks/{webhook_id}/test", {}).status_code == 303
    assert admin.portal is not None
    started = time.monotonic()
    assert admin.portal.call(quick.deliver_due) == 1
    assert time.monotonic() - started < 5  # the receiver holds it for 20 s
    receiver.gate.set()
    with db.connect() as conn:
        log = conn.execute(
            sa.select(WebhookAttempt.status_code, WebhookAttempt.error, WebhookAttempt.outcome)
            .order_by(WebhookAttempt.id)
        ).all()  # fmt: skip
    assert [tuple(row) for row in log] == [
        (302, "redirects are not followed", "retry"),
        (None, "no answer within 0.3 s", "retry"),
    ]


def test_the_backoff_doubles_with_jitter() -> None:
    policy = webhooks.Policy(attempts=12, retry_seconds=45)
    assert policy.delay(1, lambda: 0.0) == timedelta(seconds=33.75)
    assert policy.delay(1, lambda: 1.0) == timedelta(seconds=56.25)
    assert policy.delay(3, lambda: 0.5) == timedelta(seconds=180)
    total = sum((policy.delay(n, lambda: 0.5) for n in range(1, 12)), timedelta())
    assert timedelta(hours=20) < total < timedelta(hours=30)  # about a day


def test_a_hanging_receiver_never_holds_up_a_call(
    admin: TestClient, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    add_webhook(admin, site.site_id, receiver.url, webhooks.QUEUE_CALL)
    assert admin.portal is not None
    admin.portal.call(admin.app.state.webhooks.start)  # type: ignore[attr-defined]
    receiver.gate.clear()  # from now on the receiver holds every request
    counter = f"/counter/{site.counter_id}"
    for _ in range(2):
        post(admin, counter + "/issue", {"service_id": site.service_id})
    assert post(admin, counter + "/next", {}).status_code == 303
    assert receiver.arrived.wait(timeout=10), "the background sender posts the first call"
    # The receiver is still holding that request; the next call answers anyway.
    assert post(admin, counter + "/next", {}).status_code == 303
    assert not receiver.gate.is_set() and receiver.got == []
    assert [event for event, _, _ in deliveries(db)] == ["queue.call", "queue.call"]
    receiver.gate.set()
    deadline = time.monotonic() + 15
    while len(receiver.got) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(b["data"]["label"] for b in receiver.bodies()) == ["A-001", "A-002"]


def test_several_senders_deliver_each_event_once(
    admin: TestClient, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    add_webhook(admin, site.site_id, receiver.url, webhooks.TICKET_STATUS)
    for _ in range(12):
        post(admin, f"/counter/{site.counter_id}/issue", {"service_id": site.service_id})
    app = admin.app
    senders = [
        webhooks.Sender(app.state.db, app.state.readonly_db, "test-secret-key", holder=name)  # type: ignore[attr-defined]
        for name in ("process-1", "process-2", "process-3")
    ]

    async def all_at_once() -> list[int]:
        return list(await asyncio.gather(*(s.deliver_due() for s in senders)))

    assert admin.portal is not None
    counts = admin.portal.call(all_at_once)
    assert sum(counts) == 12
    labels = sorted(b["data"]["label"] for b in receiver.bodies())
    assert labels == [f"A-{n:03d}" for n in range(1, 13)]  # each once
    assert {state for _, state, _ in deliveries(db)} == {"delivered"}


@pytest.mark.skipif(not PG_URL, reason="several server processes need PostgreSQL")
def test_two_server_processes_deliver_each_event_once(
    processes: Processes, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    secret = webhooks.new_secret()
    with Session(db) as session, session.begin():
        webhook = Webhook(
            site_id=site.site_id, name="RPA", url=receiver.url, events="ticket.status", secret=""
        )
        session.add(webhook)
        session.flush()
        webhook.secret = webhooks.seal("test-secret-key", webhook.id, secret)
    processes.cli("create-admin", "chief", "--password-stdin", stdin=STAFF_PASSWORD + "\n")
    servers = [processes.serve() for _ in range(2)]
    staff = [login_to(server.url, "chief", STAFF_PASSWORD) for server in servers]
    for number in range(10):
        issued = post_form(
            staff[number % 2], f"/counter/{site.counter_id}/issue",
            {"service_id": site.service_id}, page="/account",
        )  # fmt: skip
        assert issued.status_code == 303, issued.text[-300:]
    deadline = time.monotonic() + 30
    while len(receiver.got) < 10:
        assert time.monotonic() < deadline, processes.logs()
        time.sleep(0.1)
    time.sleep(3)  # both senders look again (every 2 s): nothing is sent twice
    assert len(receiver.got) == 10
    assert len({h["x-signage-event-id"] for h, _ in receiver.got}) == 10
    for headers, body in receiver.got:
        assert webhooks.verify(secret, headers["x-signage-signature"], body, time.time())
    assert deliveries(db) == [("ticket.status", "delivered", 1)] * 10
    for http in staff:
        http.close()


def test_a_screen_going_offline_and_back_is_an_event(
    admin: TestClient, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    token = secrets.token_urlsafe(24)
    with Session(db) as session, session.begin():
        screen = Screen(
            site_id=site.site_id, name="1F ロビー", layout="hall", token_hash=token_hash(token)
        )
        session.add(screen)
        session.flush()
        screen_id = screen.id
    add_webhook(admin, site.site_id, receiver.url, webhooks.SCREEN_OFFLINE, webhooks.SCREEN_ONLINE)
    app: Any = admin.app
    assert admin.portal is not None

    def watch(now: datetime) -> list[tuple[int, str]]:
        async def run() -> list[tuple[int, str]]:
            async with transaction(app.state.db) as session:
                return await webhooks.watch_screens(session, app.state.hub, now)

        assert admin.portal is not None
        return list(admin.portal.call(run))

    def connected() -> None:
        deadline = time.monotonic() + 10
        while screen_id not in app.state.hub.online() or screen_id not in app.state.hub.status:
            assert time.monotonic() < deadline, "the player was never welcomed"
            time.sleep(0.02)

    hello = {
        "type": "hello", "token": token, "protocol": 1, "epoch": None, "seq": 0,
        "manifest_version": 0, "player": {"kind": "test", "version": "1"},
    }  # fmt: skip
    with admin.websocket_connect("/player/ws") as ws:
        ws.send_text(json.dumps(hello))
        assert json.loads(ws.receive_text())["type"] == "welcome"
        connected()
        assert watch(utcnow()) == []  # first look: noted, no event
        assert watch(utcnow() + timedelta(seconds=30)) == []  # still online
    assert watch(utcnow()) == []  # just gone: a restart or a blip, not yet offline
    assert watch(utcnow() + timedelta(minutes=2)) == [(screen_id, "screen.offline")]
    assert watch(utcnow() + timedelta(minutes=3)) == []  # told once
    with admin.websocket_connect("/player/ws") as ws:
        ws.send_text(json.dumps(hello))
        assert json.loads(ws.receive_text())["type"] == "welcome"
        connected()
        assert watch(utcnow() + timedelta(seconds=1)) == [(screen_id, "screen.online")]
    assert deliver(admin) == 2
    events = [(b["type"], b["data"]["screen_id"], b["data"]["name"]) for b in receiver.bodies()]
    assert sorted(events) == [
        ("screen.offline", screen_id, "1F ロビー"), ("screen.online", screen_id, "1F ロビー"),
    ]  # fmt: skip


def _dump(engine: sa.Engine) -> list[list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return [
            sorted(tuple(row) for row in conn.execute(sa.select(table)))
            for table in (Webhook, WebhookDelivery, AuditEntry)
        ]


def test_bad_input_in_the_admin_pages_gets_a_4xx_and_changes_nothing(
    client: TestClient, db: sa.Engine
) -> None:
    mine = queue_site(db)
    other = queue_site(db, "kita", "北支所")
    add_user(db, "all", Role.ADMIN)
    add_user(db, "local", Role.ADMIN, site_id=mine.site_id, language="en")
    login(client, "all")
    theirs, _ = add_webhook(client, other.site_id, "https://hooks.example.jp/a", "queue.call")
    login(client, "local")
    ours, _ = add_webhook(client, mine.site_id, "https://hooks.example.jp/b", "queue.call")
    before = _dump(db)
    good = {"site_id": str(mine.site_id), "name": "RPA", "events": ["queue.call"]}
    for url, message in [
        ("not an address", "Enter an address"),
        ("ftp://files.example.jp/hook", "Only http:// and https://"),
        ("javascript:alert(1)", "Only http:// and https://"),
        ("http://user:pw@hooks.example.jp/", "user name and password"),
        ("https://hooks.example.jp:99999/", "Enter an address"),
        ("", "This field is required"),
    ]:
        response = post(client, "/webhooks", {**good, "url": url})
        assert response.status_code == 422, url
        assert message in response.text, url
        response = post(client, f"/webhooks/{ours}", {**good, "url": url})
        assert response.status_code == 422, url
    for form in [
        {**good, "url": "https://x.example.jp/", "events": ["screen.exploded"]},
        {**good, "url": "https://x.example.jp/", "events": []},
        {**good, "url": "https://x.example.jp/", "site_id": "abc"},
    ]:
        assert post(client, "/webhooks", form).status_code == 422, form
    # Another site's webhook and site are not there for a site's administrator.
    form = {**good, "url": "https://x.example.jp/"}
    assert post(client, "/webhooks", {**form, "site_id": str(other.site_id)}).status_code == 404
    assert client.get(f"/webhooks/{theirs}").status_code == 404
    for action in ("", "/test", "/secret", "/delete"):
        assert post(client, f"/webhooks/{theirs}{action}", form).status_code == 404, action
    assert "hooks.example.jp/a" not in client.get("/webhooks").text
    # Without the CSRF token nothing is done either.
    refused = client.post(f"/webhooks/{ours}/delete", data={})
    assert refused.status_code == 403
    assert _dump(db) == before
    # A publisher may not manage webhooks at all.
    add_user(db, "pub", Role.PUBLISHER, site_id=mine.site_id)
    login(client, "pub")
    assert client.get("/webhooks").status_code == 403
    assert post(client, f"/webhooks/{ours}/delete", {}).status_code == 403
    assert _dump(db) == before


def test_administrators_edit_turn_off_renew_and_delete(
    admin: TestClient, db: sa.Engine, receiver: Receiver
) -> None:
    site = queue_site(db)
    webhook_id, old = add_webhook(admin, site.site_id, receiver.url, webhooks.QUEUE_CALL)
    response = post(
        admin,
        f"/webhooks/{webhook_id}",
        {"name": "Web site", "url": receiver.url, "events": ["ticket.status"], "enabled": ""},
    )
    assert response.status_code == 303
    with db.connect() as conn:
        row = conn.execute(sa.select(Webhook.name, Webhook.events, Webhook.enabled)).one()
    assert tuple(row) == ("Web site", "ticket.status", False)
    # Turned off: nothing is queued for it, and it cannot be tested.
    post(admin, f"/counter/{site.counter_id}/issue", {"service_id": site.service_id})
    assert deliveries(db) == []
    assert post(admin, f"/webhooks/{webhook_id}/test", {}).status_code == 409
    post(admin, f"/webhooks/{webhook_id}", {
        "name": "Web site", "url": receiver.url, "events": ["ticket.status"], "enabled": "1",
    })  # fmt: skip
    response = post(admin, f"/webhooks/{webhook_id}/secret", {})
    match = SECRET.search(response.text)
    assert response.status_code == 200 and match and match.group(1) != old
    test = admin.post(
        f"/webhooks/{webhook_id}/test",
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_token(admin, "/account")},
    )
    assert test.status_code == 200 and 'id="delivery-log"' in test.text
    assert deliver(admin) == 1
    [(headers, body)] = receiver.got
    assert webhooks.verify(match.group(1), headers["x-signage-signature"], body, time.time())
    assert not webhooks.verify(old, headers["x-signage-signature"], body, time.time())
    assert post(admin, f"/webhooks/{webhook_id}/delete", {}).status_code == 303
    assert deliveries(db) == []
    with db.connect() as conn:
        actions = list(conn.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
    assert [a for a in actions if a.startswith("webhook.")] == [
        "webhook.create", "webhook.update", "webhook.update", "webhook.new_secret",
        "webhook.test", "webhook.delete",
    ]  # fmt: skip


def test_check_url() -> None:
    assert webhooks.check_url("https://rpa.city.example/hooks?x=1") is None
    assert webhooks.check_url("http://127.0.0.1:8080/") is None
    for bad in (
        "https://",
        "mailto:a@b",
        "https://a.example/#x",
        "https://日本.jp/",
        "http://a b/",
    ):
        assert webhooks.check_url(bad) is not None, bad
