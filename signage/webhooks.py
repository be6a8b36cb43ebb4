"""Webhooks: systems outside the CMS (an RPA robot, the resident-records system, a city's
web site) hear of a site's queue calls, ticket changes and screens going offline by a
signed POST. `docs/webhooks.md` shows what they receive and how to check the signature.

Domain code says what happened (`queue_called`, `ticket_changed`, `screen_presence`); just
before its transaction commits, one row per subscribed webhook is written to the outbox
(`webhook_deliveries`) in that same transaction, so a rollback sends nothing and a crash
loses nothing. A `Sender` in each server process claims due rows (an UPDATE that only one
process wins; `FOR UPDATE SKIP LOCKED` on PostgreSQL), posts them with a short timeout and
no redirects, logs every attempt and retries failures with exponential backoff and jitter
until the last attempt fails. A call never waits for any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import re
import secrets
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy import event as orm_event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from signage import audit, changes, scope, totp
from signage.db import before_commit, first_line, on_commit, transaction, unreachable, utcnow
from signage.errors import Conflict, ValidationFailed
from signage.i18n import N_
from signage.live import fleet
from signage.models import (
    QueueCounter,
    QueueService,
    Screen,
    ScreenPresence,
    Site,
    Ticket,
    User,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
)
from signage.permissions import Permission, require

if TYPE_CHECKING:
    from signage.live.hub import Hub
    from signage.queue.tickets import Call

log = logging.getLogger("signage.webhooks")

QUEUE_CALL = "queue.call"
TICKET_STATUS = "ticket.status"
SCREEN_OFFLINE = "screen.offline"
SCREEN_ONLINE = "screen.online"
TEST = "webhook.test"  # the "send test" button; sent whatever the webhook subscribes to
EVENTS: dict[str, str] = {
    QUEUE_CALL: N_("Queue calls (each call and recall)"),
    TICKET_STATUS: N_("Ticket status (issued, called, served, held, transferred, no-show...)"),
    SCREEN_OFFLINE: N_("A screen went offline"),
    SCREEN_ONLINE: N_("A screen is back online"),
}
OUTCOMES: dict[str, str] = {
    "delivered": N_("Delivered"),
    "retry": N_("Failed; will be tried again"),
    "failed": N_("Failed; no more tries"),
}
SECRET_PURPOSE = b"signage webhook secret v1"
PENDING = "webhook_events"  # session.info key of the events not yet in the outbox
LOG_SHOWN = 50  # attempts on the delivery log page
KEPT = timedelta(days=30)  # finished deliveries and their attempts
# A screen silent this long after its player went away counts as offline: a server
# restart (players reconnect within seconds) is not an outage.
OFFLINE_GRACE = timedelta(seconds=60)
_NAME_MAX, _URL_MAX = 100, 500


# --- the secret and the signature -------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def seal(secret_key: str, webhook_id: int, secret: str) -> str:
    """The secret encrypted for one webhook row (as two-step secrets are, another key)."""
    return totp.seal(secret_key, webhook_id, secret, purpose=SECRET_PURPOSE)


def unseal(secret_key: str, webhook_id: int, sealed: str) -> str | None:
    return totp.unseal(secret_key, webhook_id, sealed, purpose=SECRET_PURPOSE)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Signage-Signature` header: HMAC-SHA256 of "<timestamp>.<body>" with the secret."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: float, tolerance: int = 300) -> bool:
    """What a receiver does (docs/webhooks.md): the signature matches and is recent."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return abs(now - timestamp) <= tolerance and hmac.compare_digest(expected, parts.get("v1", ""))


# --- subscriptions ----------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookInput:
    name: str
    url: str
    events: tuple[str, ...]
    enabled: bool = True


def check_url(url: str) -> str | None:
    """Why `url` cannot be a webhook's target, or None: http(s) with a host, no user name
    or password in it (they would show in the log), nothing after `#`."""
    if len(url) > _URL_MAX:
        return N_("This is too long.")
    if not url or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return N_("Enter an address such as https://rpa.city.example/hooks/signage.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return N_("Enter an address such as https://rpa.city.example/hooks/signage.")
    if parts.scheme not in ("http", "https"):
        return N_("Only http:// and https:// addresses can receive webhooks.")
    if not parts.hostname or port == 0:
        return N_("Enter an address such as https://rpa.city.example/hooks/signage.")
    if parts.username is not None or parts.password is not None:
        return N_("Leave the user name and password out of the address.")
    if parts.fragment or "#" in url:
        return N_("Leave out the part after #.")
    if not url.isascii():
        return N_("Write the address in ASCII (punycode for international names).")
    return None


def _check(data: WebhookInput) -> None:
    errors: dict[str, str] = {}
    if not data.name:
        errors["name"] = N_("This field is required.")
    elif len(data.name) > _NAME_MAX:
        errors["name"] = N_("This is too long.")
    problem = check_url(data.url)
    if problem:
        errors["url"] = problem
    if not data.events:
        errors["events"] = N_("Choose at least one event.")
    elif not set(data.events) <= set(EVENTS):
        errors["events"] = N_("Choose one of the options.")
    if errors:
        raise ValidationFailed(errors)


def _events(data: WebhookInput) -> str:
    return ",".join(event for event in EVENTS if event in data.events)


async def list_webhooks(db: AsyncSession, user: User) -> list[Webhook]:
    require(user, Permission.MANAGE_WEBHOOKS)
    return list(
        await db.scalars(
            sa.select(Webhook)
            .where(scope.visible(user, Webhook))
            .order_by(Webhook.site_id, Webhook.name, Webhook.id)
        )
    )


async def get_webhook(db: AsyncSession, user: User, webhook_id: int) -> Webhook:
    require(user, Permission.MANAGE_WEBHOOKS)
    return await scope.get(db, user, Webhook, webhook_id)


async def create_webhook(
    db: AsyncSession, user: User, ip: str, site_id: int | None, data: WebhookInput, secret_key: str
) -> tuple[Webhook, str]:
    """A new webhook of a site the user works for, and its secret (returned once)."""
    require(user, Permission.MANAGE_WEBHOOKS)
    site = await scope.get(db, user, Site, site_id)
    _check(data)
    secret = new_secret()
    webhook = Webhook(
        site_id=site.id,
        name=data.name,
        url=data.url,
        events=_events(data),
        secret="",
        enabled=data.enabled,
    )
    db.add(webhook)
    await db.flush()
    webhook.secret = seal(secret_key, webhook.id, secret)
    audit.record(
        db, user, "webhook.create", "webhook", webhook.id, webhook.name,
        after=webhook.audit_view(), ip=ip,
    )  # fmt: skip
    return webhook, secret


async def update_webhook(
    db: AsyncSession, user: User, ip: str, webhook_id: int, data: WebhookInput
) -> Webhook:
    webhook = await get_webhook(db, user, webhook_id)
    _check(data)
    before = webhook.audit_view()
    webhook.name, webhook.url = data.name, data.url
    webhook.events, webhook.enabled = _events(data), data.enabled
    audit.record(
        db, user, "webhook.update", "webhook", webhook.id, webhook.name,
        before=before, after=webhook.audit_view(), ip=ip,
    )  # fmt: skip
    return webhook


async def new_webhook_secret(
    db: AsyncSession, user: User, ip: str, webhook_id: int, secret_key: str
) -> tuple[Webhook, str]:
    """Replace the secret (the old one stops working at once); the new one is shown once."""
    webhook = await get_webhook(db, user, webhook_id)
    secret = new_secret()
    webhook.secret = seal(secret_key, webhook.id, secret)
    audit.record(db, user, "webhook.new_secret", "webhook", webhook.id, webhook.name, ip=ip)
    return webhook, secret


async def delete_webhook(db: AsyncSession, user: User, ip: str, webhook_id: int) -> None:
    """The webhook, what it still had to send and its log."""
    webhook = await get_webhook(db, user, webhook_id)
    audit.record(
        db, user, "webhook.delete", "webhook", webhook.id, webhook.name,
        before=webhook.audit_view(), ip=ip,
    )  # fmt: skip
    await db.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.webhook_id == webhook.id))
    await db.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    await db.delete(webhook)


async def send_test(db: AsyncSession, user: User, ip: str, webhook_id: int) -> None:
    """Queue a `webhook.test` event for this webhook alone; the log shows how it went."""
    webhook = await get_webhook(db, user, webhook_id)
    if not webhook.enabled:
        raise Conflict(N_("This webhook is turned off. Turn it on to send a test."))
    site = await db.get(Site, webhook.site_id)
    assert site is not None
    data: dict[str, object] = {"message": "A test from the signage CMS", "by": user.username}
    event_id = uuid.uuid4().hex
    _outbox(db, webhook, TEST, event_id, _body(TEST, event_id, site, data))
    audit.record(db, user, "webhook.test", "webhook", webhook.id, webhook.name, ip=ip)
    _wake_after_commit(db)


@dataclass(frozen=True)
class LogLine:
    at: datetime
    event: str
    attempt: int
    status_code: int | None
    error: str
    duration_ms: int
    outcome: str


async def delivery_log(db: AsyncSession, webhook: Webhook, limit: int = LOG_SHOWN) -> list[LogLine]:
    """The last attempts of this webhook, newest first."""
    rows = await db.scalars(
        sa.select(WebhookAttempt)
        .where(WebhookAttempt.webhook_id == webhook.id)
        .order_by(WebhookAttempt.at.desc(), WebhookAttempt.id.desc())
        .limit(limit)
    )
    return [
        LogLine(r.at, r.event, r.attempt, r.status_code, r.error, r.duration_ms, r.outcome)
        for r in rows
    ]


async def waiting(db: AsyncSession, webhook: Webhook) -> int:
    """Events of this webhook not delivered yet (being retried, or not tried yet)."""
    count = await db.scalar(
        sa.select(sa.func.count())
        .select_from(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.state == "pending")
    )
    return int(count or 0)


# --- events, into the outbox in the transaction of the change ----------------------------


@dataclass(frozen=True)
class _Event:
    site_id: int
    event: str
    data: dict[str, object]
    at: datetime = field(default_factory=utcnow)


def _record(db: AsyncSession, event: _Event) -> None:
    db.info.setdefault(PENDING, []).append(event)
    before_commit(db, _write_outbox)


def queue_called(db: AsyncSession, call: Call) -> None:
    """A ticket was called (or called again) to a counter."""
    _record(
        db,
        _Event(
            call.site_id,
            QUEUE_CALL,
            {
                "ticket_id": call.ticket_id,
                "label": call.label,
                "service": call.service,
                "counter": call.counter,
                "counter_id": call.counter_id,
                "counter_name": call.counter_name,
                "recall": call.recall,
                "called_at": call.at.isoformat(),
            },
        ),
    )


def ticket_changed(db: AsyncSession, ticket: Ticket, action: str) -> None:
    """A ticket was issued or a counter acted on it (`action` as in tickets.Action)."""
    _record(
        db,
        _Event(
            ticket.site_id,
            TICKET_STATUS,
            {
                "ticket_id": ticket.id,
                "label": ticket.label,
                "action": action,
                "status": ticket.status,
                "service_id": ticket.service_id,
                "counter_id": ticket.counter_id,
                "priority": ticket.priority,
            },
        ),
    )


def _body(
    event: str, event_id: str, site: Site, data: dict[str, object], at: datetime | None = None
) -> str:
    return json.dumps(
        {
            "id": event_id,
            "type": event,
            "created_at": (at or utcnow()).isoformat(),
            "site": {"id": site.id, "code": site.code, "name": site.name},
            "data": data,
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def _outbox(db: AsyncSession, webhook: Webhook, event: str, event_id: str, body: str) -> None:
    db.add(
        WebhookDelivery(
            webhook_id=webhook.id, event=event, event_id=event_id, body=body, state="pending",
            attempts=0, next_attempt_at=utcnow(),
        )
    )  # fmt: skip


async def _names(db: AsyncSession, event: _Event) -> dict[str, object]:
    """A ticket's service name and counter number, for receivers that show them."""
    data = dict(event.data)
    if event.event == TICKET_STATUS:
        service = await db.get(QueueService, data["service_id"])
        counter_id = data.get("counter_id")
        counter = await db.get(QueueCounter, counter_id) if isinstance(counter_id, int) else None
        data["service"] = service.name if service is not None else ""
        data["counter"] = counter.number if counter is not None else None
    return data


async def _write_outbox(db: AsyncSession) -> None:
    """Just before commit: one outbox row per event and enabled webhook subscribed to it."""
    events: list[_Event] = db.info.pop(PENDING, [])
    if not events:
        return
    site_ids = {e.site_id for e in events}
    hooks = list(
        await db.scalars(
            sa.select(Webhook).where(Webhook.site_id.in_(site_ids), Webhook.enabled.is_(True))
        )
    )
    wrote = False
    for event in events:
        targets = [
            h for h in hooks if h.site_id == event.site_id and event.event in h.events.split(",")
        ]
        if not targets:
            continue
        site = await db.get(Site, event.site_id)
        if site is None:
            continue
        event_id = uuid.uuid4().hex
        body = _body(event.event, event_id, site, await _names(db, event), event.at)
        for webhook in targets:
            _outbox(db, webhook, event.event, event_id, body)
            wrote = True
    if wrote:
        await db.flush()
        _wake_after_commit(db)


@orm_event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(PENDING, None)  # a change that rolled back is no event


def _wake_after_commit(db: AsyncSession) -> None:
    outlets = changes.outlets_of(db)
    if outlets is not None and outlets.webhooks is not None:
        on_commit(db, outlets.webhooks.wake)


# --- screens going offline (the `screen_watch` job) ---------------------------------------


def _screen_data(screen: Screen, since: datetime, last_seen: datetime | None) -> dict[str, object]:
    return {
        "screen_id": screen.id,
        "name": screen.name,
        "since": since.isoformat(),
        "last_seen_at": last_seen.isoformat() if last_seen else None,
    }


async def watch_screens(db: AsyncSession, hub: Hub, now: datetime) -> list[tuple[int, str]]:
    """Compare each paired screen of a site with a screen webhook to its last known state;
    a change becomes a `screen.offline` or `screen.online` event. Returns what changed.
    A screen first looked at is only noted (no event)."""
    watched = sa.or_(
        Webhook.events.contains(SCREEN_OFFLINE), Webhook.events.contains(SCREEN_ONLINE)
    )
    site_ids = set(
        await db.scalars(sa.select(Webhook.site_id).where(Webhook.enabled.is_(True), watched))
    )
    if not site_ids:
        return []
    screens = list(
        await db.scalars(
            sa.select(Screen).where(Screen.site_id.in_(site_ids), Screen.token_hash.is_not(None))
        )
    )
    said = await hub.fleet(s.id for s in screens)
    known = {
        row.screen_id: row
        for row in await db.scalars(
            sa.select(ScreenPresence).where(ScreenPresence.screen_id.in_([s.id for s in screens]))
        )
    }
    changed: list[tuple[int, str]] = []
    for screen in screens:
        status = said.get(screen.id, {})
        heard = status.get("at") or screen.last_seen_at
        online = fleet.is_online(status, screen.last_seen_at, now)
        row = known.get(screen.id)
        if row is None:
            db.add(ScreenPresence(screen_id=screen.id, online=online, since=now))
            continue
        if row.online == online:
            continue
        if not online and heard is not None and now - heard < OFFLINE_GRACE:
            continue  # gone a moment ago: a restart, or a network blip
        row.online, row.since = online, now
        event = SCREEN_ONLINE if online else SCREEN_OFFLINE
        _record(db, _Event(screen.site_id, event, _screen_data(screen, now, heard), now))
        changed.append((screen.id, event))
    return changed


async def prune(db: AsyncSession, now: datetime) -> None:
    """Forget finished deliveries (and their attempts) after `KEPT`."""
    old = sa.select(WebhookDelivery.id).where(
        WebhookDelivery.state != "pending", WebhookDelivery.finished_at < now - KEPT
    )
    await db.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(old)))
    await db.execute(
        sa.delete(WebhookDelivery).where(
            WebhookDelivery.state != "pending", WebhookDelivery.finished_at < now - KEPT
        )
    )


# --- sending ------------------------------------------------------------------------------


class PostFailed(Exception):
    """The target could not be reached or did not answer as HTTP."""


_STATUS_LINE = re.compile(rb"^HTTP/1\.[01] (\d{3})")


async def post(url: str, body: bytes, headers: dict[str, str], seconds: float) -> int:
    """POST `body` to `url` and return the status code; never follows a redirect. The whole
    exchange (connect, TLS, send, the answer's first line) has `seconds` seconds."""
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = [f"POST {target} HTTP/1.1", f"Host: {parts.netloc}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    try:
        async with asyncio.timeout(seconds):
            reader, writer = await asyncio.open_connection(
                host, port, ssl=ssl.create_default_context() if https else None,
                server_hostname=host if https else None,
            )  # fmt: skip
            try:
                writer.write("\r\n".join(lines).encode("latin-1") + body)
                await writer.drain()
                first = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
    except TimeoutError:
        raise PostFailed(f"no answer within {seconds:g} s") from None
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise PostFailed(str(exc) or type(exc).__name__) from None
    match = _STATUS_LINE.match(first)
    if match is None:
        raise PostFailed("the answer was not HTTP")
    return int(match.group(1))


@dataclass(frozen=True)
class Policy:
    """How deliveries are tried: `attempts` in all, the n-th retry after about
    `retry_seconds` × 2^(n-1) (±25 %), each with `timeout` seconds."""

    attempts: int = 12
    retry_seconds: float = 45.0
    timeout: float = 5.0

    def delay(self, attempt: int, rng: Callable[[], float] = random.random) -> timedelta:
        """Wait before the try after `attempt` (1 = after the first one failed)."""
        base = self.retry_seconds * 2 ** (attempt - 1)
        return timedelta(seconds=base * (0.75 + 0.5 * rng()))


@dataclass(frozen=True)
class _Claimed:
    delivery_id: int
    webhook_id: int
    url: str
    secret: str | None
    event: str
    event_id: str
    body: str
    attempt: int
    enabled: bool


class Sender:
    """Delivers the outbox from one server process; several processes share the work by
    claiming rows (each row is sent by the process that claimed it)."""

    BATCH = 20  # rows one claim takes
    POLL_SECONDS = 2.0  # how often the outbox is looked at without a wake-up

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        readonly: async_sessionmaker[AsyncSession],
        secret_key: str,
        policy: Policy | None = None,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.readonly = readonly
        self.secret_key = secret_key
        self.policy = policy or Policy()
        self.holder = holder or f"{uuid.uuid4().hex[:12]}"
        self.clock = clock
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[int]] = set()
        self._failing = False

    def wake(self) -> None:
        """Something was written to the outbox here: look now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        tasks = [t for t in (self._task, *self._sending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            if len(self._sending) >= 4:
                continue  # slow targets: what they hold waits, the rest is claimed later
            task = asyncio.get_running_loop().create_task(self._guarded())
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)

    async def _guarded(self) -> int:
        try:
            sent = await self.deliver_due()
        except sa.exc.SQLAlchemyError as exc:
            if not unreachable(exc):
                log.exception("webhooks: delivering failed")
            elif not self._failing:
                log.warning("webhooks wait: the database is unreachable (%s)", first_line(exc))
            self._failing = True
            return 0
        except Exception:  # a bug: logged, and the next look tries again
            log.exception("webhooks: delivering failed")
            return 0
        self._failing = False
        return sent

    async def deliver_due(self, now: datetime | None = None) -> int:
        """Claim the deliveries due at `now` and try each once; how many were tried."""
        now = now or self.clock()
        async with self.readonly() as db:
            due = await db.scalar(sa.select(WebhookDelivery.id).where(_due(now)).limit(1))
        if due is None:
            return 0
        claimed = await self._claim(now)
        await asyncio.gather(*(self._attempt(c) for c in claimed))
        return len(claimed)

    async def _claim(self, now: datetime) -> list[_Claimed]:
        until = now + timedelta(seconds=self.policy.timeout + 60)
        async with transaction(self.sessions) as db:
            ids = list(
                await db.scalars(
                    sa.select(WebhookDelivery.id)
                    .where(_due(now))
                    .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                    .limit(self.BATCH)
                    .with_for_update(skip_locked=True)
                )
            )
            if not ids:
                return []
            # Conditional: of two processes that read the same rows, one takes each.
            await db.execute(
                sa.update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(ids), _due(now))
                .values(claimed_by=self.holder, claimed_until=until)
                .execution_options(synchronize_session=False)
            )
            rows = await db.execute(
                sa.select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.id.in_(ids), WebhookDelivery.claimed_by == self.holder)
            )
            return [
                _Claimed(
                    d.id, w.id, w.url, unseal(self.secret_key, w.id, w.secret), d.event,
                    d.event_id, d.body, d.attempts + 1, w.enabled,
                )
                for d, w in rows
            ]  # fmt: skip

    async def _attempt(self, claimed: _Claimed) -> None:
        if not claimed.enabled or claimed.secret is None:
            # Turned off since (or sealed with another SIGNAGE_SECRET_KEY): not sent.
            error = "turned off" if not claimed.enabled else "secret unreadable"
            await self._finish(claimed, None, error, 0, "failed")
            return
        body = claimed.body.encode()
        timestamp = int(self.clock().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "signage-webhooks/1",
            "X-Signage-Event": claimed.event,
            "X-Signage-Event-Id": claimed.event_id,
            "X-Signage-Attempt": str(claimed.attempt),
            "X-Signage-Timestamp": str(timestamp),
            "X-Signage-Signature": signature(claimed.secret, timestamp, body),
        }
        started = time.monotonic()
        status: int | None = None
        error = ""
        try:
            status = await post(claimed.url, body, headers, self.policy.timeout)
        except PostFailed as exc:
            error = str(exc)[:200]
        duration = int((time.monotonic() - started) * 1000)
        if status is not None and 200 <= status < 300:
            outcome = "delivered"
        else:
            if status is not None and 300 <= status < 400:
                error = "redirects are not followed"
            outcome = "failed" if claimed.attempt >= self.policy.attempts else "retry"
        await self._finish(claimed, status, error, duration, outcome)

    async def _finish(
        self, claimed: _Claimed, status: int | None, error: str, duration: int, outcome: str
    ) -> None:
        now = self.clock()
        values: dict[str, object] = {
            "attempts": claimed.attempt, "claimed_by": None, "claimed_until": None,
        }  # fmt: skip
        if outcome == "retry":
            values["next_attempt_at"] = now + self.policy.delay(claimed.attempt)
        else:
            values |= {"state": outcome, "finished_at": now}
        async with transaction(self.sessions) as db:
            mine = await db.execute(
                sa.update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == claimed.delivery_id,
                    WebhookDelivery.claimed_by == self.holder,
                )
                .values(values)
                .execution_options(synchronize_session=False)
            )
            if mine.rowcount != 1:  # type: ignore[attr-defined]
                return  # deleted meanwhile (with its webhook)
            db.add(
                WebhookAttempt(
                    webhook_id=claimed.webhook_id, delivery_id=claimed.delivery_id,
                    event=claimed.event, attempt=claimed.attempt, at=now, status_code=status,
                    error=error, duration_ms=duration, outcome=outcome,
                )
            )  # fmt: skip
        if outcome != "delivered":
            log.info(
                "webhook %s: %s attempt %d %s (%s)", claimed.webhook_id, claimed.event,
                claimed.attempt, outcome, status or error,
            )  # fmt: skip


def _due(now: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(
        WebhookDelivery.state == "pending",
        WebhookDelivery.next_attempt_at <= now,
        sa.or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
    )
