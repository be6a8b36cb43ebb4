"""API tokens: what a system outside the CMS (a CAP feed, a JMA relay) sends as
`Authorization: Bearer <token>`. Only the token's SHA-256 is stored; it is shown once."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage import audit
from signage.db import utcnow
from signage.errors import Conflict, ValidationFailed
from signage.i18n import N_
from signage.models import ApiToken

TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SEEN_EVERY = timedelta(minutes=1)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(db: AsyncSession, name: str, *, actor_name: str) -> str:
    """A new token named `name` (letters, digits, _ . : -); returned once, never stored."""
    if not NAME.match(name):
        raise ValidationFailed(
            {"name": N_("Use up to 64 letters, digits and the characters _ . : -")}
        )
    if await db.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(N_("An API token with this name already exists."))
    token = secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=token_hash(token))
    db.add(row)
    await db.flush()
    audit.record(
        db, None, "api_token.create", "api_token", row.id, name, after={"name": name},
        actor_name=actor_name,
    )  # fmt: skip
    return token


async def token_for(db: AsyncSession, token: str | None) -> ApiToken | None:
    """The API token row for this token, or None (checked by its hash)."""
    if not token or not TOKEN.match(token):
        return None
    row = await db.scalar(sa.select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    now = utcnow()
    if row is not None and (row.last_used_at is None or now - row.last_used_at > SEEN_EVERY):
        row.last_used_at = now
    return row
