"""Two-step sign-in: authenticator codes (RFC 6238), the sealed secret, recovery codes
and the half-done login between the password and the code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from datetime import timedelta
from urllib.parse import quote

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy.ext.asyncio import AsyncSession

from signage import audit, auth
from signage.db import utcnow
from signage.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from signage.i18n import N_
from signage.models import PendingLogin, RecoveryCode, User
from signage.permissions import Permission, allowed

STEP_SECONDS = 30
DIGITS = 6
# Codes one step before or after now are accepted too: phone clocks drift.
DRIFT_STEPS = 1
RECOVERY_CODE_COUNT = 10
# How long the password stays good for while the person finds their phone.
PENDING_FOR = timedelta(minutes=5)
ISSUER = "City Hall Signage"

CODE_FAILED = N_("This code is not right. Enter the current code from your app.")
SIGN_IN_CODE_FAILED = N_("This code is not right, or it was used already.")
PENDING_ENDED = N_("Signing in took too long. Enter your user name and password again.")


class WrongCode(ValidationFailed):
    """A wrong code or password where one was asked for: it counts as a failed login."""


# Recovery codes carry 50 random bits, so a lighter argon2 than for passwords (the
# OWASP minimum) keeps ten checks quick without making a stolen hash any easier to use.
_code_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_RECOVERY_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l


# -- RFC 6238 ---------------------------------------------------------------------------


def new_secret() -> str:
    """160 random bits in base32, as authenticator apps expect (RFC 4226 section 4)."""
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii").rstrip("=")


def code_at(secret: str, step: int) -> str:
    """The code of a 30-second step: HOTP (RFC 4226) of the step counter, SHA-1, 6 digits."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


def step_of(now: float) -> int:
    return int(now // STEP_SECONDS)


def matching_step(secret: str, code: str, now: float) -> int | None:
    """The step (now ± 1) whose code this is, or None."""
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):  # "²" is a digit too
        return None
    current = step_of(now)
    found = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if hmac.compare_digest(code_at(secret, step), code):
            found = step
    return found


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// address an authenticator app reads from the QR code."""
    label = quote(f"{ISSUER}:{username}", safe=":@")
    issuer = quote(ISSUER)
    return (
        f"otpauth://totp/{label}?secret={secret}&issuer={issuer}"
        f"&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}"
    )


def grouped(secret: str) -> str:
    """The secret in groups of four, for typing it into an app by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


# -- the secret at rest ------------------------------------------------------------------


TOTP_PURPOSE = b"signage totp secret v1"


def _cipher(secret_key: str, purpose: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )
    return AESGCM(key)


def seal(secret_key: str, user_id: int, secret: str, *, purpose: bytes = TOTP_PURPOSE) -> str:
    """Encrypt the secret for one user (the user id is bound in, so rows cannot be swapped).
    Another `purpose` (a webhook's secret) derives another key from SIGNAGE_SECRET_KEY."""
    nonce = secrets.token_bytes(12)
    sealed = _cipher(secret_key, purpose).encrypt(nonce, secret.encode(), str(user_id).encode())
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(
    secret_key: str, user_id: int, sealed: str | None, *, purpose: bytes = TOTP_PURPOSE
) -> str | None:
    """The secret, or None if there is none or it was sealed with another SIGNAGE_SECRET_KEY."""
    if not sealed or not sealed.startswith("v1."):
        return None
    try:
        raw = base64.urlsafe_b64decode(sealed[3:])
        plain = _cipher(secret_key, purpose).decrypt(raw[:12], raw[12:], str(user_id).encode())
    except (InvalidTag, ValueError):
        return None
    return plain.decode()


# -- recovery codes ----------------------------------------------------------------------


def _recovery_code() -> str:
    chars = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
    return f"{chars[:5]}-{chars[5:]}"


def _normalised(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


async def _replace_recovery_codes(db: AsyncSession, user: User) -> list[str]:
    await db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = [_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    for code in codes:
        db.add(RecoveryCode(user_id=user.id, code_hash=_code_hasher.hash(_normalised(code))))
    return codes


async def recovery_codes_left(db: AsyncSession, user: User) -> int:
    count = await db.scalar(
        sa.select(sa.func.count())
        .select_from(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))
    )
    return count or 0


async def _use_recovery_code(db: AsyncSession, user: User, code: str, ip: str) -> bool:
    wanted = _normalised(code)
    if len(wanted) != 10:
        return False
    unused = (
        await db.scalars(
            sa.select(RecoveryCode).where(
                RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)
            )
        )
    ).all()
    for row in unused:
        try:
            _code_hasher.verify(row.code_hash, wanted)
        except (VerificationError, InvalidHashError):
            continue
        # Conditional, so two requests racing with the same code cannot both win.
        used = await db.execute(
            sa.update(RecoveryCode)
            .where(RecoveryCode.id == row.id, RecoveryCode.used_at.is_(None))
            .values(used_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            return False
        left = await recovery_codes_left(db, user)
        audit.record(
            db,
            user,
            "user.two_step_recovery_used",
            "user",
            user.id,
            user.username,
            after={"recovery_codes_left": left},
            ip=ip,
        )
        return True
    return False


# -- turning it on and off ---------------------------------------------------------------


def is_on(user: User) -> bool:
    return user.totp_enabled_at is not None


def may_use(user: User) -> bool:
    """Whether `user` may (and, with SIGNAGE_REQUIRE_TOTP, must) use two-step sign-in."""
    return allowed(user, Permission.USE_TWO_STEP)


def must_set_up(user: User, required: bool) -> bool:
    """True while SIGNAGE_REQUIRE_TOTP holds this user back from everything but set-up."""
    return required and may_use(user) and not is_on(user)


def setup_secret(user: User, secret_key: str) -> str:
    """The secret being set up, made once and kept until it is confirmed (a reload shows
    the same QR code); never available again once two-step sign-in is on."""
    if is_on(user):
        raise Conflict(N_("Two-step sign-in is already on."))
    if not may_use(user):
        raise Forbidden()
    secret = unseal(secret_key, user.id, user.totp_secret)
    if secret is None:
        secret = new_secret()
        user.totp_secret = seal(secret_key, user.id, secret)
    return secret


async def _accept_code(db: AsyncSession, user: User, secret: str, code: str, now: float) -> bool:
    step = matching_step(secret, code, now)
    if step is None:
        return False
    # Replay protection: a step is accepted once, and never one older than the last.
    accepted = await db.execute(
        sa.update(User)
        .where(
            User.id == user.id,
            sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    if accepted.rowcount != 1:  # type: ignore[attr-defined]
        return False
    user.totp_last_step = step
    return True


async def confirm_setup(
    db: AsyncSession, user: User, secret_key: str, code: str, now: float, ip: str
) -> list[str]:
    """Turn two-step sign-in on with a first code from the app; returns the recovery
    codes, which exist in clear only in this answer."""
    secret = setup_secret(user, secret_key)
    if not await _accept_code(db, user, secret, code.strip().replace(" ", ""), now):
        raise ValidationFailed({"code": CODE_FAILED})
    user.totp_enabled_at = utcnow()
    codes = await _replace_recovery_codes(db, user)
    audit.record(db, user, "user.two_step_on", "user", user.id, user.username, ip=ip)
    return codes


async def check_code(
    db: AsyncSession, user: User, secret_key: str, code: str, now: float, ip: str
) -> bool:
    """A current authenticator code (once) or an unused recovery code (used up)."""
    if not is_on(user):
        return False
    code = code.strip()
    digits = code.replace(" ", "")
    if len(digits) == DIGITS and digits.isascii() and digits.isdigit():
        secret = unseal(secret_key, user.id, user.totp_secret)
        return secret is not None and await _accept_code(db, user, secret, digits, now)
    return await _use_recovery_code(db, user, code, ip)


async def new_recovery_codes(
    db: AsyncSession, user: User, secret_key: str, code: str, now: float, ip: str
) -> list[str]:
    if not await check_code(db, user, secret_key, code, now, ip):
        raise WrongCode({"code": SIGN_IN_CODE_FAILED})
    codes = await _replace_recovery_codes(db, user)
    audit.record(db, user, "user.two_step_new_codes", "user", user.id, user.username, ip=ip)
    return codes


def _clear(user: User) -> None:
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None


async def turn_off(
    db: AsyncSession,
    user: User,
    secret_key: str,
    password: str,
    code: str,
    now: float,
    ip: str,
) -> None:
    errors: dict[str, str] = {}
    if not auth.verify_password(user.password_hash, password):
        errors["current_password"] = N_("The current password is not right.")
    elif not await check_code(db, user, secret_key, code, now, ip):
        errors["code"] = SIGN_IN_CODE_FAILED
    if errors:
        raise WrongCode(errors)
    _clear(user)
    await db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    audit.record(db, user, "user.two_step_off", "user", user.id, user.username, ip=ip)


async def reset(
    db: AsyncSession, actor: User | None, ip: str, target: User, actor_name: str = ""
) -> None:
    """An administrator (or, with no user, the command line) takes someone's second
    factor away: a lost phone."""
    if not is_on(target) and target.totp_secret is None:
        raise Conflict(N_("This user does not use two-step sign-in."))
    _clear(target)
    await db.execute(sa.delete(RecoveryCode).where(RecoveryCode.user_id == target.id))
    await db.execute(sa.delete(PendingLogin).where(PendingLogin.user_id == target.id))
    audit.record(
        db,
        actor,
        "user.two_step_reset",
        "user",
        target.id,
        target.username,
        ip=ip,
        actor_name=actor_name,
    )


# -- the half-done login -----------------------------------------------------------------


def _pending_key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_pending(db: AsyncSession, user: User, next_path: str, ip: str) -> str:
    """Remember that this user gave the right password; the token goes in a cookie."""
    token = secrets.token_urlsafe(32)
    db.add(PendingLogin(id=_pending_key(token), user_id=user.id, next_path=next_path, ip=ip[:64]))
    return token


async def load_pending(db: AsyncSession, token: str) -> tuple[PendingLogin, User]:
    pending = await db.get(PendingLogin, _pending_key(token)) if token else None
    user = await db.get(User, pending.user_id) if pending is not None else None
    if (
        pending is None
        or user is None
        or not user.active
        or not is_on(user)
        or utcnow() - pending.created_at > PENDING_FOR
    ):
        raise Unauthorized(PENDING_ENDED)
    return pending, user


async def end_pending(db: AsyncSession, user: User) -> None:
    await db.execute(sa.delete(PendingLogin).where(PendingLogin.user_id == user.id))


async def prune_pending(db: AsyncSession) -> None:
    await db.execute(
        sa.delete(PendingLogin).where(PendingLogin.created_at < utcnow() - PENDING_FOR)
    )
