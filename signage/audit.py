"""The audit log: every state change by staff, with who, what, when, before and after."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage.i18n import N_
from signage.models import AuditEntry, User

PAGE_SIZE = 50


ACTION_LABELS = {
    "site.create": N_("Site created"),
    "site.update": N_("Site changed"),
    "user.create": N_("User created"),
    "user.update": N_("User changed"),
    "user.reset_password": N_("Password set by an administrator"),
    "user.change_password": N_("Own password changed"),
    "user.set_language": N_("Language changed"),
    "user.two_step_on": N_("Two-step sign-in turned on"),
    "user.two_step_off": N_("Two-step sign-in turned off"),
    "user.two_step_new_codes": N_("New recovery codes made"),
    "user.two_step_recovery_used": N_("Recovery code used to log in"),
    "user.two_step_reset": N_("Two-step sign-in reset by an administrator"),
    "notice.create": N_("Notice written"),
    "notice.update": N_("Notice changed"),
    "notice.submit": N_("Notice sent for approval"),
    "notice.approve": N_("Notice approved"),
    "notice.reject": N_("Notice rejected"),
    "media.upload": N_("Picture uploaded"),
    "playlist.create": N_("Playlist created"),
    "playlist.update": N_("Playlist changed"),
    "screen.create": N_("Screen added"),
    "screen.update": N_("Screen changed"),
    "schedule.create": N_("Schedule created"),
    "schedule.update": N_("Schedule changed"),
    "schedule.delete": N_("Schedule deleted"),
    "screen.pair": N_("Screen paired"),
    "screen.revoke": N_("Screen device disconnected"),
    "screen.reload": N_("Screen told to reload"),
    "screen.identify": N_("Screen told to identify itself"),
    "closure.create": N_("Closure day added"),
    "closure.delete": N_("Closure day removed"),
    "queue.settings": N_("Queue settings changed"),
    "service.create": N_("Service added"),
    "service.update": N_("Service changed"),
    "counter.create": N_("Counter added"),
    "counter.update": N_("Counter changed"),
    "counter.open": N_("Counter opened"),
    "counter.close": N_("Counter closed"),
    "kiosk.create": N_("Kiosk added"),
    "kiosk.revoke": N_("Kiosk removed"),
    "ticket.issue": N_("Ticket issued"),
    "ticket.call": N_("Ticket called"),
    "ticket.recall": N_("Ticket called again"),
    "ticket.start": N_("Service started"),
    "ticket.finish": N_("Service finished"),
    "ticket.hold": N_("Ticket put on hold"),
    "ticket.return": N_("Held ticket called back"),
    "ticket.transfer": N_("Ticket transferred"),
    "ticket.no_show": N_("Ticket marked as no-show"),
    "ticket.cancel": N_("Ticket cancelled"),
    "api_token.create": N_("API token created"),
    "api_token.revoke": N_("API token revoked"),
    "alert_feed.refused": N_("Alert feed refused"),
    "alert.raise": N_("Alert raised"),
    "alert.confirm": N_("Alert confirmed by a second publisher"),
    "alert.clear": N_("Alert cleared"),
    "alert.cancel": N_("Alert cancelled"),
    "alert.expire": N_("Alert expired"),
    "alert.replace": N_("Alert replaced by an update"),
    "drill.raise": N_("Drill alert raised"),
    "drill.confirm": N_("Drill alert confirmed"),
    "drill.clear": N_("Drill alert cleared"),
    "drill.cancel": N_("Drill alert cancelled"),
    "drill.expire": N_("Drill alert expired"),
    "drill.replace": N_("Drill alert replaced by an update"),
    "alert_template.update": N_("Alert text changed"),
    "webhook.create": N_("Webhook added"),
    "webhook.update": N_("Webhook changed"),
    "webhook.delete": N_("Webhook deleted"),
    "webhook.new_secret": N_("Webhook secret replaced"),
    "webhook.test": N_("Webhook test sent"),
}
TARGET_LABELS = {
    "user": N_("User"),
    "site": N_("Site"),
    "notice": N_("Notice"),
    "media": N_("Picture"),
    "playlist": N_("Playlist"),
    "screen": N_("Screen"),
    "schedule": N_("Schedule"),
    "ticket": N_("Ticket"),
    "service": N_("Service"),
    "counter": N_("Counter"),
    "kiosk": N_("Kiosk"),
    "queue": N_("Queue"),
    "api_token": N_("API token"),
    "alert_feed": N_("Alert feed"),
    "alert": N_("Alert"),
    "alert_template": N_("Alert text"),
    "webhook": N_("Webhook"),
}
FIELD_LABELS = {
    "username": N_("User name"),
    "display_name": N_("Name"),
    "role": N_("Role"),
    "site_id": N_("Site"),
    "language": N_("Language"),
    "active": N_("Active"),
    "code": N_("Code"),
    "name": N_("Name"),
    "name_en": N_("Name in English"),
    "timezone": N_("Time zone"),
    "languages": N_("Screen languages"),
    "style": N_("Style"),
    "status": N_("Status"),
    "valid_from": N_("Shown from"),
    "valid_until": N_("Shown until"),
    "reason": N_("Reason"),
    "items": N_("Items"),
    "layout": N_("Layout"),
    "priority": N_("Priority"),
    "zone": N_("Area"),
    "label": N_("Number"),
    "service_id": N_("Service"),
    "counter_id": N_("Counter"),
    "for_counter_id": N_("Sent to counter"),
    "recalls": N_("Recalls"),
    "prefix": N_("Prefix"),
    "names": N_("Names in other languages"),
    "open": N_("Open"),
    "number": N_("Number"),
    "services": N_("Services"),
    "opens_at": N_("Opens at"),
    "closes_at": N_("Closes at"),
    "normal_per_priority": N_("Normal calls per priority call"),
    "noshow_after_recalls": N_("Recalls before a no-show"),
    "highlight_seconds": N_("Seconds a call is highlighted"),
    "voice_languages": N_("Languages of the voice"),
    "silent": N_("Silent"),
    "source": N_("Issued by"),
    "recovery_codes_left": N_("Recovery codes left"),
    "playlist_id": N_("Playlist"),
    "default_playlist_id": N_("Playlist when nothing is scheduled"),
    "screen_id": N_("Screen"),
    "group_id": N_("Screen group"),
    "groups": N_("Groups"),
    "image_id": N_("Picture"),
    "format": N_("Format"),
    "width": N_("Width"),
    "height": N_("Height"),
    "starts_at": N_("Starts"),
    "ends_at": N_("Ends"),
    "dayparts": N_("Times of day"),
    "cron": N_("Repeats"),
    "cron_minutes": N_("Minutes each time"),
    "days": N_("Days"),
    "day": N_("Day"),
    "closure": N_("Closure day"),
    "kind": N_("Kind"),
    "field": N_("Field"),
    "message": N_("Message"),
    "identifier": N_("Identifier"),
    "level": N_("Level"),
    "mode": N_("Shown as"),
    "drill": N_("Drill"),
    "template": N_("Template"),
    "targets": N_("Targets"),
    "screens": N_("Screens"),
    "state": N_("State"),
    "expires_at": N_("Expires"),
    "headline": N_("Headline"),
    "body": N_("Text"),
    "reviewed": N_("Checked by a speaker of the language"),
    "scopes": N_("Scopes"),
    "url": N_("Address"),
    "events": N_("Events"),
    "enabled": N_("On"),
}


def record(
    db: AsyncSession,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: object = "",
    label: str = "",
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    ip: str = "",
    actor_name: str = "",
) -> None:
    """Add an entry to the current transaction, so it commits or rolls back with the change.
    Without a user, `actor_name` names the device that acted (e.g. "kiosk:1F")."""
    if before is not None and after is not None:
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        before = {k: v for k, v in before.items() if k in changed}
        after = {k: v for k, v in after.items() if k in changed}
    db.add(
        AuditEntry(
            user_id=actor.id if actor else None,
            actor=actor.username if actor else (actor_name or "system")[:64],
            action=action,
            target_type=target_type,
            target_id=str(target_id),
            target_label=label[:200],
            before=before,
            after=after,
            ip=ip[:64],
        )
    )


async def entries(
    db: AsyncSession,
    *,
    actor: str = "",
    action: str = "",
    target_type: str = "",
    before_id: int | None = None,
    limit: int = PAGE_SIZE,
) -> list[AuditEntry]:
    """Newest first; `before_id` pages back through older entries."""
    query = sa.select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if target_type:
        query = query.where(AuditEntry.target_type == target_type)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    return list((await db.scalars(query)).all())


async def known_actions(db: AsyncSession) -> list[str]:
    return list(
        (await db.scalars(sa.select(AuditEntry.action).distinct().order_by("action"))).all()
    )
