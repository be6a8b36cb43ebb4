"""Kiosks: the ticket machines of a site, each with its own device token."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage import audit, scope
from signage.db import utcnow
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import Kiosk, User
from signage.queue.counters import check_manager, site_for

KIOSK_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")


SEEN_EVERY = timedelta(minutes=1)


def kiosk_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_kiosk(
    db: AsyncSession, user: User, ip: str, site_id: int, name: str
) -> tuple[Kiosk, str]:
    """A new kiosk and its device token (shown once, as a link; only its hash is kept)."""
    check_manager(user)
    await site_for(db, user, site_id)
    if not name:
        raise ValidationFailed({"name": N_("This field is required.")})
    token = secrets.token_urlsafe(32)
    kiosk = Kiosk(site_id=site_id, name=name[:100], token_hash=kiosk_token_hash(token))
    db.add(kiosk)
    await db.flush()
    audit.record(
        db, user, "kiosk.create", "kiosk", kiosk.id, kiosk.name, after=kiosk.audit_view(), ip=ip
    )
    return kiosk, token


async def revoke_kiosk(db: AsyncSession, user: User, ip: str, kiosk_id: int) -> None:
    check_manager(user)
    kiosk = await scope.get(db, user, Kiosk, kiosk_id)
    audit.record(
        db, user, "kiosk.revoke", "kiosk", kiosk.id, kiosk.name, before=kiosk.audit_view(), ip=ip
    )
    await db.delete(kiosk)


async def list_kiosks(db: AsyncSession, site_id: int) -> list[Kiosk]:
    return list(
        await db.scalars(sa.select(Kiosk).where(Kiosk.site_id == site_id).order_by(Kiosk.id))
    )


async def kiosk_for(db: AsyncSession, token: str | None) -> Kiosk | None:
    """The kiosk holding this token, or None (the token is checked by its hash)."""
    if not token or not KIOSK_TOKEN.match(token):
        return None
    kiosk = await db.scalar(sa.select(Kiosk).where(Kiosk.token_hash == kiosk_token_hash(token)))
    now = utcnow()
    # "Last seen" to the minute: a kiosk asking every 20 s need not write each time.
    if kiosk is not None and (kiosk.last_seen_at is None or now - kiosk.last_seen_at > SEEN_EVERY):
        kiosk.last_seen_at = now
    return kiosk
