"""API tokens: what a system outside the CMS (an RPA robot, the resident-records system, a
CAP feed, a JMA relay) sends as `Authorization: Bearer <token>` to the JSON API
(docs/api.md). Only the token's SHA-256 is stored; it is shown once.

A token may do what its scopes name, within its site (none: every site), until it is
revoked. It acts through the same domain functions as staff do, as a user that is never
stored (`acting_user`): the audit log names it "api:NAME".
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage import audit, scope
from signage.db import utcnow
from signage.errors import Conflict, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import ApiToken, Role, Site, User

TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,128}$")
NAME = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SEEN_EVERY = timedelta(minutes=1)

# Every scope a token may carry, and what it lets the token do.
SCOPES: dict[str, str] = {
    "notices:read": N_("Read notices"),
    "notices:write": N_("Write notices and send them for approval"),
    "notices:approve": N_("Approve notices"),
    "playlists:write": N_("Add notices to playlists"),
    "queue:read": N_("Read queue state and statistics"),
    "tickets:write": N_("Issue queue tickets"),
    "screens:read": N_("Read screens and their status"),
    "alerts:read": N_("Read active alerts"),
    "alerts:write": N_("Raise and clear alerts"),
    "alerts:feed": N_("Post CAP and JMA alert feeds"),
}
# Scopes that act with a publisher's permissions; the others with an editor's.
_PUBLISHER_SCOPES = frozenset(
    {"notices:approve", "playlists:write", "tickets:write", "alerts:write"}
)  # fmt: skip


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def actor_name(token: ApiToken) -> str:
    """How the audit log names what a token did."""
    return f"api:{token.name}"[:64]


def acting_user(token: ApiToken) -> User:
    """The token as the actor of domain functions: a user that is never stored, of the
    token's site, with the role its scopes need (each endpoint checks its scope first)."""
    role = Role.PUBLISHER if token.scope_set & _PUBLISHER_SCOPES else Role.EDITOR
    return User(
        username=actor_name(token),
        display_name=actor_name(token),
        role=role.value,
        site_id=token.site_id,
        language="en",
        active=True,
    )


def _check(name: str, scopes: Iterable[str], site_id: int | None) -> list[str]:
    errors: dict[str, str] = {}
    chosen = sorted(set(scopes))
    if not NAME.match(name):
        errors["name"] = N_("Use up to 64 letters, digits and the characters _ . : -")
    if not chosen:
        errors["scopes"] = N_("Choose at least one.")
    elif any(s not in SCOPES for s in chosen):
        errors["scopes"] = N_("Choose one of the options.")
    elif "alerts:feed" in chosen and site_id is not None:
        # A feed names the places it is about; the rules map them to sites.
        errors["scopes"] = N_("Alert feeds need a token for every site.")
    if errors:
        raise ValidationFailed(errors)
    return chosen


async def create_token(
    db: AsyncSession,
    name: str,
    *,
    actor_name: str = "",
    user: User | None = None,
    ip: str = "",
    scopes: Iterable[str] = ("alerts:feed",),
    site_id: int | None = None,
) -> str:
    """A new token named `name` (letters, digits, _ . : -); returned once, never stored.

    `user` (an administrator; None for the command line, named by `actor_name`) may give
    it only a site they reach; staff of one site cannot make a token for every site."""
    chosen = _check(name, scopes, site_id)
    actor = user or scope.ALL_SITES
    if site_id is not None:
        await scope.get(db, actor, Site, site_id)
    elif actor.site_id is not None:
        raise ValidationFailed({"site_id": N_("You can only work on your own site.")})
    if await db.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise Conflict(N_("An API token with this name already exists."))
    token = secrets.token_urlsafe(32)
    row = ApiToken(
        name=name, token_hash=token_hash(token), scopes=" ".join(chosen), site_id=site_id
    )
    db.add(row)
    await db.flush()
    audit.record(
        db, user, "api_token.create", "api_token", row.id, name,
        after=row_view(row), ip=ip, actor_name=actor_name,
    )  # fmt: skip
    return token


def row_view(row: ApiToken) -> dict[str, object]:
    return {"name": row.name, "scopes": row.scopes, "site_id": row.site_id}


async def list_tokens(db: AsyncSession, user: User) -> list[ApiToken]:
    """The tokens `user` may see: those of their sites (all of them for staff of all sites)."""
    query = sa.select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())
    if user.site_id is not None:
        query = query.where(ApiToken.site_id == user.site_id)
    return list(await db.scalars(query))


async def revoke_token(db: AsyncSession, user: User, ip: str, token_id: int) -> ApiToken:
    """Revoke a token at once: its next request gets 401. Its row stays, for the audit log."""
    query = sa.select(ApiToken).where(ApiToken.id == token_id)
    if user.site_id is not None:
        query = query.where(ApiToken.site_id == user.site_id)
    row = await db.scalar(query)
    if row is None:
        raise NotFound(N_("This API token does not exist."))
    if row.revoked_at is not None:
        raise Conflict(N_("This API token is already revoked."))
    row.revoked_at = utcnow()
    audit.record(
        db, user, "api_token.revoke", "api_token", row.id, row.name, before=row_view(row), ip=ip
    )
    return row


async def token_for(db: AsyncSession, token: str | None) -> ApiToken | None:
    """The API token row for this token, or None (checked by its hash; a revoked one is
    None too)."""
    if not token or not TOKEN.match(token):
        return None
    row = await db.scalar(
        sa.select(ApiToken).where(
            ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None)
        )
    )
    now = utcnow()
    if row is not None and (row.last_used_at is None or now - row.last_used_at > SEEN_EVERY):
        row.last_used_at = now
    return row
