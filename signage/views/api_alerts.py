"""Alert feeds pushed to the JSON API: `POST /api/v1/alerts/cap` (a CAP 1.2 document) and
`POST /api/v1/alerts/jma` (a JMA disaster-information XML report, bare or in an EDXL-DE
envelope), each authenticated by an API token (`Authorization: Bearer ...`,
`signage create-api-token NAME`). The body is the XML document itself.

A document is parsed safely (content/alerts/xmlsafe.py), mapped through the configured
rules (content/alerts/rules.py, SIGNAGE_ALERT_RULES) and its drafts handed to
`signage.alerts.service.ingest`, each for the screens of the site it names. A refused
document (or token) gets a 4xx naming what is wrong and changes nothing; only an audit
entry of the refusal is kept, at most one per address and reason a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from content.alerts.cap import parse_cap
from content.alerts.jma import parse_jma
from content.alerts.model import AlertDraft
from content.alerts.rules import Rules, cap_drafts, jma_drafts
from content.alerts.xmlsafe import MAX_BYTES, Refused
from signage import api_tokens, audit
from signage.alerts import service
from signage.db import transaction, utcnow
from signage.errors import PayloadTooLarge, Unauthorized, ValidationFailed
from signage.i18n import N_
from signage.models import Alert, Site
from signage.web import client_ip

OPEN = service.OPEN_STATES
PER_KEY_SECONDS = 60.0  # one audit entry per address and reason a minute
MAX_PER_MINUTE = 30  # and at most this many refusal entries a minute in all


@dataclass
class RefusalLog:
    """Decides which refusals get an audit entry, so a flood of bad posts cannot fill the
    audit log (per process; each process keeps its own count)."""

    last: dict[tuple[str, str, str], float] = field(default_factory=dict)
    window: list[float] = field(default_factory=list)

    def allow(self, key: tuple[str, str, str], now: float) -> bool:
        self.window = [t for t in self.window if now - t < 60.0]
        if len(self.last) > 10_000:
            self.last = {k: t for k, t in self.last.items() if now - t < PER_KEY_SECONDS}
        if now - self.last.get(key, -PER_KEY_SECONDS) < PER_KEY_SECONDS:
            return False
        if len(self.window) >= MAX_PER_MINUTE:
            return False
        self.last[key] = now
        self.window.append(now)
        return True


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def _refused(request: Request, kind: str, actor: str, field_name: str, message: str) -> None:
    """The audit entry of a refusal, in its own transaction (rate-limited)."""
    ip = client_ip(request)
    log: RefusalLog = request.app.state.feed_refusals
    if not log.allow((ip, kind, field_name), time.monotonic()):
        return
    async with transaction(request.app.state.db) as db:
        audit.record(
            db, None, "alert_feed.refused", "alert_feed", kind, field_name,
            after={"field": field_name, "message": message[:300]}, ip=ip, actor_name=actor,
        )  # fmt: skip


def draft_json(draft: AlertDraft) -> dict[str, Any]:
    return {
        "identifier": draft.identifier,
        "level": draft.level.value,
        "mode": draft.mode.value,
        "drill": draft.drill,
        "cancel": draft.cancel,
        "replaces": draft.replaces,
        "areas": list(draft.areas),
        "sent_at": draft.sent_at.isoformat(),
        "effective_at": draft.effective_at.isoformat(),
        "expires_at": draft.expires_at.isoformat(),
        "texts": [
            {"language": t.language, "headline": t.headline, "body": t.body} for t in draft.texts
        ],
    }


async def _post(request: Request, kind: str) -> Response:
    async with transaction(request.app.state.db) as db:
        token = await api_tokens.token_for(db, _bearer(request))
        actor = f"api:{token.name}" if token else "api"
    if token is None:
        await _refused(request, kind, actor, "token", "missing or not valid")
        raise Unauthorized(N_("The API token is missing or not valid."))
    try:
        data = await request.body()
    except PayloadTooLarge:
        await _refused(request, kind, actor, "document", "over the size limit")
        raise
    rules: Rules = request.app.state.alert_rules
    now: datetime = utcnow()
    try:
        if kind == "cap":
            drafts = cap_drafts(rules, parse_cap(data, max_bytes=MAX_BYTES), now)
        else:
            drafts = jma_drafts(rules, parse_jma(data, max_bytes=MAX_BYTES), now)
    except Refused as exc:
        await _refused(request, kind, actor, exc.field, exc.message)
        if "size limit" in exc.message:
            raise PayloadTooLarge(N_("The document is over the size limit.")) from None
        raise ValidationFailed({exc.field: exc.message}, N_("The document was refused.")) from None
    async with transaction(request.app.state.db) as db:
        sites = await _site_ids(db, drafts)
        ready: list[AlertDraft] = []
        ignored: list[tuple[str, str]] = []
        for draft in drafts:
            if not draft.areas or draft.areas[0] not in sites:
                ignored.append((draft.identifier, "no such site"))
                continue
            current = await _current(db, draft)
            if current is None:
                ignored.append((draft.identifier, "older than the one shown"))
                continue
            ready.append(current)
        done = await service.ingest(
            db,
            ready,
            source=f"{kind}:{token.name}",
            targets=lambda d: service.Targets("sites", (sites[d.areas[0]],)),
            ip=client_ip(request),
            now=now,
        )
    return JSONResponse(
        {
            "drafts": [draft_json(d) for d in drafts],
            "raised": [a.identifier for a in done.raised],
            "replaced": [a.identifier for a in done.replaced],
            "cancelled": [a.identifier for a in done.cancelled],
            "ignored": [{"identifier": i, "why": why} for i, why in ignored + done.ignored],
        },
        status_code=202,
    )


async def _site_ids(db: AsyncSession, drafts: list[AlertDraft]) -> dict[str, int]:
    codes = {d.areas[0] for d in drafts if d.areas}
    if not codes:
        return {}
    rows = await db.execute(sa.select(Site.code, Site.id).where(Site.code.in_(codes)))
    return {code: site_id for code, site_id in rows}


async def _current(db: AsyncSession, draft: AlertDraft) -> AlertDraft | None:
    """`draft` with `replaces` naming the alert of its thread that is shown now (rules.py:
    an Update may name an alert already replaced; a JMA report names its thread), or
    None when the one shown is newer than this report (a late, older serial)."""
    if draft.replaces is None:
        return draft
    same = Alert.source == draft.source
    shown = await db.scalar(
        sa.select(Alert).where(same, Alert.identifier == draft.replaces, Alert.state.in_(OPEN))
    )
    if shown is None:
        # An alert that was itself replaced: follow the chain to the one shown now.
        alert = await db.scalar(sa.select(Alert).where(same, Alert.identifier == draft.replaces))
        for _ in range(50):
            if alert is None or alert.state in OPEN or alert.replaced_by is None:
                break
            alert = await db.get(Alert, alert.replaced_by)
        shown = alert if alert is not None and alert.state in OPEN else None
    if shown is None and "@" in draft.replaces:
        # A thread: "<thread>@<site>" stands for every "<thread>:<version>@<site>".
        thread, _, site = draft.replaces.rpartition("@")
        shown = await db.scalar(
            sa.select(Alert)
            .where(
                same,
                Alert.state.in_(OPEN),
                Alert.identifier.startswith(f"{thread}:", autoescape=True),
                Alert.identifier.endswith(f"@{site}", autoescape=True),
            )
            .order_by(Alert.id.desc())
            .limit(1)
        )
    if shown is None:
        return draft
    if shown.issued_at > draft.sent_at:
        return None
    return replace(draft, replaces=shown.identifier)


async def alerts_cap(request: Request) -> Response:
    return await _post(request, "cap")


async def alerts_jma(request: Request) -> Response:
    return await _post(request, "jma")
