"""Emergency alerts: raising (by staff or a feed), confirming, clearing and expiring.

Targets are looked up within the acting user's sites (signage.scope): another site's
screen or site is a 404. Every step is audited; a drill under its own actions
("drill.raise", ...), so it is never confused with a real alert. Every change records
`changes.AlertsChanged` with the screens it reaches; after commit each of them is sent
its whole list of alerts (signage/alerts/delivery.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.alerts.model import AlertDraft
from signage import audit, changes, scope
from signage.alerts.delivery import live_alerts
from signage.db import utcnow
from signage.errors import Conflict, Forbidden, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import Alert, AlertState, Screen, Site, User
from signage.permissions import Permission, require

TargetKind = Literal["all", "sites", "screens"]
OPEN_STATES = (AlertState.PENDING.value, AlertState.ACTIVE.value)


@dataclass(frozen=True)
class Targets:
    """All screens the actor may reach, or chosen sites, or chosen screens."""

    kind: TargetKind = "all"
    ids: tuple[int, ...] = ()

    def stored(self) -> dict[str, object]:
        return {"all": True} if self.kind == "all" else {self.kind: list(self.ids)}


EVERYWHERE = Targets()


@dataclass(frozen=True)
class Policy:
    """The settings that rule manual alerts."""

    second_publisher: bool = False
    max_hours: int = 3


@dataclass
class Ingested:
    """What `ingest` did with a batch of drafts."""

    raised: list[Alert] = field(default_factory=list)
    replaced: list[Alert] = field(default_factory=list)
    cancelled: list[Alert] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)  # (identifier, why)


def _prefix(alert: Alert) -> str:
    return "drill" if alert.drill else "alert"


def _label(alert: Alert) -> str:
    headline = alert.texts[0]["headline"] if alert.texts else alert.identifier
    return ("[訓練/DRILL] " if alert.drill else "") + headline


def _audit(
    db: AsyncSession,
    actor: User | None,
    step: str,
    alert: Alert,
    ip: str,
    *,
    before: dict[str, object] | None = None,
    actor_name: str = "",
) -> None:
    audit.record(
        db,
        actor,
        f"{_prefix(alert)}.{step}",
        "alert",
        alert.id,
        _label(alert),
        before=before,
        after=alert.audit_view(),
        ip=ip,
        actor_name=actor_name,
    )


def visible(actor: scope.Actor) -> sa.ColumnElement[bool]:
    """Alerts the actor may see and act on: staff of one site see their site's alerts."""
    if actor.site_id is None:
        return sa.true()
    return Alert.site_id == actor.site_id


async def get(db: AsyncSession, actor: scope.Actor, alert_id: int | None) -> Alert:
    if alert_id is None or not 0 < alert_id < 2**31:
        raise NotFound(N_("This alert does not exist."))
    alert = await db.scalar(sa.select(Alert).where(Alert.id == alert_id, visible(actor)))
    if alert is None:
        raise NotFound(N_("This alert does not exist."))
    return alert


async def list_alerts(db: AsyncSession, actor: scope.Actor, limit: int = 100) -> list[Alert]:
    """Open ones first (newest first), then the ended ones, newest first."""
    rows = list(
        await db.scalars(
            sa.select(Alert).where(visible(actor)).order_by(Alert.id.desc()).limit(limit)
        )
    )
    return [a for a in rows if a.state in OPEN_STATES] + [
        a for a in rows if a.state not in OPEN_STATES
    ]


async def resolve(db: AsyncSession, actor: scope.Actor, targets: Targets) -> list[int]:
    """The screens the targets mean, each looked up within the actor's sites (404 else)."""
    if targets.kind == "all":
        query = sa.select(Screen.id).where(scope.visible(actor, Screen))
        return sorted(await db.scalars(query))
    if not targets.ids:
        raise ValidationFailed({"targets": N_("Choose at least one.")})
    found: set[int] = set()
    if targets.kind == "sites":
        for site_id in targets.ids:
            site = await scope.get(db, actor, Site, site_id)
            found |= set(await db.scalars(sa.select(Screen.id).where(Screen.site_id == site.id)))
    else:
        for screen_id in targets.ids:
            found.add((await scope.get(db, actor, Screen, screen_id)).id)
    return sorted(found)


def check_expiry(draft: AlertDraft, now: datetime, policy: Policy) -> None:
    if draft.expires_at <= now:
        raise ValidationFailed({"expires_at": N_("Choose a time in the future.")})
    if draft.expires_at - now > timedelta(hours=policy.max_hours):
        raise ValidationFailed(
            {"expires_at": N_("An alert can stay up for at most the configured hours.")}
        )


def draft_alert(
    draft: AlertDraft, screens: list[int], targets: Targets, site_id: int | None, state: str
) -> Alert:
    return Alert(
        source=draft.source,
        identifier=draft.identifier,
        level=draft.level.value,
        mode=draft.mode.value,
        drill=draft.drill,
        texts=[
            {"language": t.language, "headline": t.headline, "body": t.body} for t in draft.texts
        ],
        targets=targets.stored(),
        screens=screens,
        site_id=site_id,
        state=state,
        issued_at=draft.sent_at,
        effective_at=draft.effective_at,
        expires_at=draft.expires_at,
    )


async def raise_alert(
    db: AsyncSession,
    draft: AlertDraft,
    *,
    targets: Targets,
    actor: User,
    ip: str,
    policy: Policy,
    template: str = "",
    now: datetime | None = None,
) -> Alert:
    """A staff member raises an alert they have seen previewed and confirmed: it is shown at
    once, unless it is real and the settings ask a second publisher to confirm it."""
    require(actor, Permission.RAISE_ALERTS)
    now = now or utcnow()
    if not draft.texts:
        raise ValidationFailed({"template": N_("Choose a template or write a text.")})
    check_expiry(draft, now, policy)
    screens = await resolve(db, actor, targets)
    if not screens:
        raise ValidationFailed({"targets": N_("No screen is among the chosen targets.")})
    waits = policy.second_publisher and not draft.drill
    alert = draft_alert(
        draft,
        screens,
        targets,
        actor.site_id,
        AlertState.PENDING.value if waits else AlertState.ACTIVE.value,
    )
    alert.template = template[:32]
    alert.created_by = actor.id
    if not waits:
        alert.confirmed_by = actor.id
    db.add(alert)
    await db.flush()
    _audit(db, actor, "raise", alert, ip)
    if not waits:
        changes.record(db, changes.AlertsChanged(frozenset(screens)))
    return alert


async def confirm(
    db: AsyncSession, alert_id: int, *, actor: User, ip: str, now: datetime | None = None
) -> Alert:
    """A second publisher confirms a real alert another one raised: it is shown now."""
    require(actor, Permission.RAISE_ALERTS)
    alert = await get(db, actor, alert_id)
    if alert.state != AlertState.PENDING:
        raise Conflict(N_("This alert is not waiting for confirmation."))
    if alert.created_by == actor.id:
        raise Forbidden(N_("Another publisher must confirm the alert you raised."))
    if alert.expires_at <= (now or utcnow()):
        raise Conflict(N_("This alert has expired."))
    before = alert.audit_view()
    alert.state, alert.confirmed_by = AlertState.ACTIVE.value, actor.id
    _audit(db, actor, "confirm", alert, ip, before=before)
    changes.record(db, changes.AlertsChanged(frozenset(alert.screens)))
    return alert


async def clear(
    db: AsyncSession, alert_id: int, *, actor: User, ip: str, now: datetime | None = None
) -> Alert:
    """End an alert now (one still waiting for confirmation is cancelled)."""
    require(actor, Permission.RAISE_ALERTS)
    alert = await get(db, actor, alert_id)
    if alert.state not in OPEN_STATES:
        raise Conflict(N_("This alert has already ended."))
    before = alert.audit_view()
    pending = alert.state == AlertState.PENDING
    alert.state = (AlertState.CANCELLED if pending else AlertState.CLEARED).value
    alert.cleared_at = now or utcnow()
    _audit(db, actor, "cancel" if pending else "clear", alert, ip, before=before)
    if not pending:
        changes.record(db, changes.AlertsChanged(frozenset(alert.screens)))
    return alert


async def expire_due(db: AsyncSession, now: datetime) -> list[int]:
    """Mark alerts past their expiry as expired (a job; a second run finds nothing)."""
    rows = list(
        await db.scalars(
            sa.select(Alert)
            .where(Alert.state.in_(OPEN_STATES), Alert.expires_at <= now)
            .with_for_update()
        )
    )
    screens: set[int] = set()
    for alert in rows:
        before = alert.audit_view()
        was_active = alert.state == AlertState.ACTIVE
        alert.state = AlertState.EXPIRED.value
        _audit(db, None, "expire", alert, "", before=before, actor_name="system")
        if was_active:
            screens |= set(alert.screens)
    if screens:
        changes.record(db, changes.AlertsChanged(frozenset(screens)))
    return [a.id for a in rows]


async def became_effective(db: AsyncSession, since: datetime, now: datetime) -> list[int]:
    """Active alerts whose `effective_at` passed in (since, now]: their screens are sent
    their alerts again (a job; running it twice sends the same list twice, harmlessly)."""
    rows = list(
        await db.scalars(
            sa.select(Alert).where(
                Alert.state == AlertState.ACTIVE,
                Alert.effective_at > Alert.issued_at,  # else sent when it was raised
                Alert.effective_at > since,
                Alert.effective_at <= now,
                Alert.expires_at > now,
            )
        )
    )
    screens = {s for a in rows for s in a.screens}
    if screens:
        changes.record(db, changes.AlertsChanged(frozenset(screens)))
    return [a.id for a in rows]


async def ingest(
    db: AsyncSession,
    drafts: Sequence[AlertDraft],
    *,
    source: str,
    targets: Targets | Callable[[AlertDraft], Targets] = EVERYWHERE,
    ip: str = "",
    now: datetime | None = None,
) -> Ingested:
    """Alerts from a feed (CAP, JMA): shown at once on the screens of `targets` (per
    draft when a function). A replay of an identifier already seen and an alert already
    expired are ignored; `replaces` updates the alert it names (the new one takes its
    place), `cancel` removes it. Audited as done by the feed (`source`)."""
    now = now or utcnow()
    done = Ingested()
    feed = f"feed:{source}"[:64]
    for draft in drafts:
        seen = await db.scalar(
            sa.select(Alert.id).where(
                Alert.source == draft.source, Alert.identifier == draft.identifier
            )
        )
        if seen is not None:
            done.ignored.append((draft.identifier, "replay"))
            continue
        old = None
        if draft.replaces:
            old = await db.scalar(
                sa.select(Alert).where(
                    Alert.source == draft.source,
                    Alert.identifier == draft.replaces,
                    Alert.state.in_(OPEN_STATES),
                )
            )
        if draft.cancel:
            if old is None:
                done.ignored.append((draft.identifier, "nothing to cancel"))
                continue
            before = old.audit_view()
            old.state, old.cleared_at = AlertState.CANCELLED.value, now
            _audit(db, None, "cancel", old, ip, before=before, actor_name=feed)
            changes.record(db, changes.AlertsChanged(frozenset(old.screens)))
            done.cancelled.append(old)
            continue
        if draft.expires_at <= now:
            done.ignored.append((draft.identifier, "expired"))
            continue
        chosen = targets(draft) if callable(targets) else targets
        screens = await resolve(db, scope.ALL_SITES, chosen)
        alert = draft_alert(draft, screens, chosen, None, AlertState.ACTIVE.value)
        db.add(alert)
        await db.flush()
        _audit(db, None, "raise", alert, ip, actor_name=feed)
        reached = set(screens)
        if old is not None:
            before = old.audit_view()
            old.state, old.cleared_at, old.replaced_by = AlertState.CLEARED.value, now, alert.id
            _audit(db, None, "replace", old, ip, before=before, actor_name=feed)
            reached |= set(old.screens)
            done.replaced.append(old)
        changes.record(db, changes.AlertsChanged(frozenset(reached)))
        done.raised.append(alert)
    return done


async def active_for_screen(db: AsyncSession, screen_id: int, now: datetime) -> list[Alert]:
    """What this screen shows now."""
    return [a for a in await live_alerts(db, now) if screen_id in a.screens]


def acknowledged(status: dict[str, object], alert: Alert) -> bool:
    """Whether the player's status (the hub's fleet status) says it shows this alert."""
    shown = status.get("alerts")
    return isinstance(shown, list) and f"a{alert.id}" in shown


def screens_of(alerts: Iterable[Alert]) -> set[int]:
    return {s for a in alerts for s in a.screens}
