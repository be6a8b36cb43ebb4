"""Alert feeds pushed to the JSON API: `POST /api/v1/alerts/cap` (a CAP 1.2 document) and
`POST /api/v1/alerts/jma` (a JMA disaster-information XML report, bare or in an EDXL-DE
envelope), each authenticated by an API token (`Authorization: Bearer ...`,
`signage create-api-token NAME`). The body is the XML document itself.

A document is parsed safely (content/alerts/xmlsafe.py), mapped through the configured
rules (content/alerts/rules.py, SIGNAGE_ALERT_RULES) and its drafts handed to
`signage.alerts.service.ingest` (signage/alerts/feeds.py), each for the screens of the
site it names. A refused
document (or token) gets a 4xx naming what is wrong and changes nothing; only an audit
entry of the refusal is kept, at most one per address and reason a minute.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from content.alerts.model import AlertDraft
from content.alerts.rules import Rules
from content.alerts.xmlsafe import Refused
from signage import api_tokens, audit
from signage.alerts import feeds
from signage.db import transaction, utcnow
from signage.errors import Forbidden, PayloadTooLarge, Unauthorized, ValidationFailed
from signage.i18n import N_
from signage.openapi import operation
from signage.web import client_ip

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
    if "alerts:feed" not in token.scope_set:
        await _refused(request, kind, actor, "token", "without the scope alerts:feed")
        raise Forbidden(
            N_("This API token does not have the scope this needs: %(scope)s."),
            scope="alerts:feed",
        )
    try:
        data = await request.body()
    except PayloadTooLarge:
        await _refused(request, kind, actor, "document", "over the size limit")
        raise
    rules: Rules = request.app.state.alert_rules
    now: datetime = utcnow()
    try:
        drafts = feeds.drafts_of("cap" if kind == "cap" else "jma", rules, data, now)
    except Refused as exc:
        await _refused(request, kind, actor, exc.field, exc.message)
        if "size limit" in exc.message:
            raise PayloadTooLarge(N_("The document is over the size limit.")) from None
        raise ValidationFailed({exc.field: exc.message}, N_("The document was refused.")) from None
    async with transaction(request.app.state.db) as db:
        accepted = await feeds.accept(
            db, drafts, source=f"{kind}:{token.name}", ip=client_ip(request), now=now
        )
    done = accepted.done
    return JSONResponse(
        {
            "drafts": [draft_json(d) for d in drafts],
            "raised": [a.identifier for a in done.raised],
            "replaced": [a.identifier for a in done.replaced],
            "cancelled": [a.identifier for a in done.cancelled],
            "ignored": [{"identifier": i, "why": why} for i, why in accepted.ignored],
        },
        status_code=202,
    )


_FEED_ERRORS = "The drafts the rules made and what became of each (docs/alerts.md)."


@operation(
    summary="Post a CAP 1.2 alert document",
    scopes=("alerts:feed",),
    body="xml",
    body_type="application/xml",
    status=202,
    description=_FEED_ERRORS,
)
async def alerts_cap(request: Request) -> Response:
    return await _post(request, "cap")


@operation(
    summary="Post a JMA disaster-information XML report (bare or in EDXL-DE)",
    scopes=("alerts:feed",),
    body="xml",
    body_type="application/xml",
    status=202,
    description=_FEED_ERRORS,
)
async def alerts_jma(request: Request) -> Response:
    return await _post(request, "jma")
