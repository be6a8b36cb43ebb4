"""Pairing players with screens, and revoking them (see docs/protocol.md)."""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage import audit, changes
from signage.db import utcnow
from signage.errors import BadRequest, NotFound, TooManyRequests, ValidationFailed
from signage.i18n import N_
from signage.models import PairingRequest, Screen, User

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LIFETIME = timedelta(minutes=15)
OPEN_CODES_PER_ADDRESS = 10
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{22,128}$")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def valid_token(token: object) -> bool:
    return isinstance(token, str) and bool(_TOKEN.match(token))


def _new_code() -> str:
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(6))
    return f"{raw[:3]}-{raw[3:]}"


def normalise_code(code: str) -> str:
    """What staff type, as stored: upper case with one hyphen, spaces and dashes ignored."""
    cleaned = re.sub(r"[^A-Za-z0-9]", "", code).upper()
    return f"{cleaned[:3]}-{cleaned[3:]}" if len(cleaned) == 6 else cleaned


async def request_pairing(db: AsyncSession, token: str, ip: str) -> PairingRequest:
    """A player asks to be paired; returns its (new or still open) request with a code."""
    if not valid_token(token):
        raise BadRequest(N_("The device token is missing or not valid."))
    now = utcnow()
    await db.execute(sa.delete(PairingRequest).where(PairingRequest.expires_at < now))
    digest = token_hash(token)
    existing = await db.scalar(sa.select(PairingRequest).where(PairingRequest.token_hash == digest))
    if existing is not None:
        return existing
    if await db.scalar(sa.select(Screen.id).where(Screen.token_hash == digest)) is not None:
        raise BadRequest(N_("This device is already paired."))
    open_codes = await db.scalar(
        sa.select(sa.func.count()).select_from(PairingRequest).where(PairingRequest.ip == ip)
    )
    if (open_codes or 0) >= OPEN_CODES_PER_ADDRESS:
        raise TooManyRequests()
    while True:
        code = _new_code()
        if await db.scalar(sa.select(PairingRequest.id).where(PairingRequest.code == code)) is None:
            break
    request = PairingRequest(
        code=code, token_hash=digest, ip=ip[:64], created_at=now, expires_at=now + CODE_LIFETIME
    )
    db.add(request)
    await db.flush()
    return request


async def open_request(db: AsyncSession, digest: str) -> PairingRequest | None:
    return await db.scalar(
        sa.select(PairingRequest).where(
            PairingRequest.token_hash == digest, PairingRequest.expires_at >= utcnow()
        )
    )


async def claim(db: AsyncSession, user: User, ip: str, code: str, screen: Screen) -> Screen:
    """Give `screen` the device that shows `code`; its previous device is disconnected."""
    request = await db.scalar(
        sa.select(PairingRequest).where(
            PairingRequest.code == normalise_code(code), PairingRequest.expires_at >= utcnow()
        )
    )
    if request is None:
        raise ValidationFailed(
            {"code": N_("No screen shows this code. Check it, or reload the screen.")}
        )
    previous = screen.token_hash
    screen.token_hash = request.token_hash
    screen.paired_at = utcnow()
    await db.delete(request)
    await db.flush()
    audit.record(
        db,
        user,
        "screen.pair",
        "screen",
        screen.id,
        screen.name,
        after={"paired": screen.paired_at.isoformat()},
        ip=ip,
    )
    changes.record(db, changes.ScreenPaired(screen.id, request.token_hash, bool(previous)))
    return screen


async def revoke(db: AsyncSession, user: User, ip: str, screen: Screen) -> None:
    if screen.token_hash is None:
        raise NotFound(N_("This screen has no paired device."))
    screen.token_hash = None
    screen.paired_at = None
    audit.record(
        db,
        user,
        "screen.revoke",
        "screen",
        screen.id,
        screen.name,
        before={"paired": True},
        after={"paired": False},
        ip=ip,
    )
    changes.record(db, changes.ScreenRevoked(screen.id))
