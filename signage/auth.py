"""Staff authentication: argon2 passwords, server-side sessions, login rate limiting
(the second step of two-step sign-in is in `totp.py`)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession

from signage.db import utcnow
from signage.errors import TooManyRequests, Unauthorized
from signage.i18n import N_
from signage.models import LoginFailure, StaffSession, User

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
# A session's last-seen time is written at most this often, to keep page loads read-only.
_TOUCH_EVERY = timedelta(seconds=60)

LOGIN_FAILED = N_("Wrong user name or password.")
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> str | None:
    """Why a new password is not acceptable, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("Use at least 10 characters.")
    if len(password) > 200:
        return N_("Use at most 200 characters.")
    return None


def generate_password() -> str:
    """A random password that is easy to read aloud and type (no 0/O, 1/l)."""
    alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def _session_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta
    absolute: timedelta
    max_failures: int
    window: timedelta


async def _lock_counters(db: AsyncSession, *keys: str) -> None:
    """Serialise attempts on these counters until the transaction ends.

    SQLite begins every writing transaction IMMEDIATE, which already serialises them; on
    PostgreSQL a transaction-scoped advisory lock per key does it across server processes
    (taken in sorted order, so two attempts never wait for each other in a cycle).
    """
    bind = db.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        await db.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


async def reserve_attempt(
    db: AsyncSession, policy: SessionPolicy, username: str, ip: str, now: datetime
) -> int:
    """Count one password attempt before the password is checked, or raise TooManyRequests.

    The attempt is written as a failure at once, in the caller's (short) transaction,
    under a lock on its counters: parallel guesses cannot all read "4 failures" and all go
    on to be checked. A right answer gives it back (`release_attempt`).
    """
    username = username.strip().lower()[:64]
    ip = ip[:64]
    await _lock_counters(db, "login-user:" + username, "login-ip:" + ip)
    since = now - policy.window
    by_user = await db.scalar(
        sa.select(sa.func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.username == username, LoginFailure.at > since)
    )
    by_ip = await db.scalar(
        sa.select(sa.func.count())
        .select_from(LoginFailure)
        .where(LoginFailure.ip == ip, LoginFailure.at > since)
    )
    if (by_user or 0) >= policy.max_failures or (by_ip or 0) >= policy.max_failures * 4:
        raise TooManyRequests()
    attempt = LoginFailure(username=username, ip=ip, at=now)
    db.add(attempt)
    await db.flush()
    return attempt.id


async def authenticate(db: AsyncSession, username: str, password: str) -> User:
    """Return the active user with these credentials or raise with one uniform message.

    The caller first counts the attempt with `reserve_attempt` in a transaction of its
    own, so a failure counts even though this request fails.
    """
    username = username.strip().lower()
    user = await db.scalar(sa.select(User).where(User.username == username))
    if user is None:
        verify_password(_DUMMY_HASH, password)
        raise Unauthorized(LOGIN_FAILED)
    if not verify_password(user.password_hash, password) or not user.active:
        raise Unauthorized(LOGIN_FAILED)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    # Earlier failures are forgotten only once the login is complete (`start_session`):
    # a right password must not reset the count of wrong second-step codes. The caller
    # gives back this attempt's own reservation (`release_attempt`).
    return user


async def release_attempt(db: AsyncSession, attempt_id: int) -> None:
    """The attempt reserved with `reserve_attempt` turned out right: it is no failure."""
    await db.execute(sa.delete(LoginFailure).where(LoginFailure.id == attempt_id))


async def prune_failures(db: AsyncSession, policy: SessionPolicy) -> None:
    await db.execute(sa.delete(LoginFailure).where(LoginFailure.at < utcnow() - policy.window))


async def start_session(
    db: AsyncSession, user: User, ip: str, user_agent: str, old_token: str | None
) -> str:
    """Create a session and return its token; the session it replaces (if any) ends."""
    if old_token:
        await end_session(db, old_token)
    await db.execute(sa.delete(LoginFailure).where(LoginFailure.username == user.username))
    token = secrets.token_urlsafe(32)
    db.add(
        StaffSession(
            id=_session_key(token), user_id=user.id, ip=ip[:64], user_agent=user_agent[:255]
        )
    )
    return token


async def end_session(db: AsyncSession, token: str) -> None:
    await db.execute(sa.delete(StaffSession).where(StaffSession.id == _session_key(token)))


async def end_all_sessions(db: AsyncSession, user_id: int, keep_token: str | None = None) -> None:
    query = sa.delete(StaffSession).where(StaffSession.user_id == user_id)
    if keep_token:
        query = query.where(StaffSession.id != _session_key(keep_token))
    await db.execute(query)


async def load_session(db: AsyncSession, policy: SessionPolicy, token: str) -> User:
    """The user of a live session; raises Unauthorized (and ends it) if it has expired."""
    session = await db.get(StaffSession, _session_key(token))
    if session is None:
        raise Unauthorized(N_("Your session has ended. Please log in again."))
    now = utcnow()
    user = await db.get(User, session.user_id)
    expired = now - session.last_seen_at > policy.idle or now - session.created_at > policy.absolute
    if expired or user is None or not user.active:
        # Expired rows are removed by the housekeeping job (`prune_sessions`).
        raise Unauthorized(N_("Your session has ended. Please log in again."))
    if now - session.last_seen_at > _TOUCH_EVERY:
        session.last_seen_at = now
    return user


async def prune_sessions(db: AsyncSession, policy: SessionPolicy) -> None:
    now = utcnow()
    await db.execute(
        sa.delete(StaffSession).where(
            sa.or_(
                StaffSession.last_seen_at < now - policy.idle,
                StaffSession.created_at < now - policy.absolute,
            )
        )
    )
