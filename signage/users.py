"""Staff accounts: creating, changing, disabling, passwords and language."""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from signage import audit, auth, scope
from signage.db import utcnow
from signage.errors import ValidationFailed
from signage.i18n import LANGUAGES, N_
from signage.models import Role, Site, User

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")


@dataclass
class UserInput:
    display_name: str
    role: str
    site_id: int | None
    language: str
    active: bool = True


async def list_users(db: AsyncSession, actor: scope.Actor = scope.ALL_SITES) -> list[User]:
    query = sa.select(User).where(scope.visible(actor, User)).order_by(User.username)
    return list((await db.scalars(query)).all())


async def get_user(db: AsyncSession, actor: scope.Actor, user_id: int) -> User:
    """Administrators of one site reach that site's accounts only."""
    return await scope.get(db, actor, User, user_id)


async def _check_fields(
    db: AsyncSession, actor: scope.Actor, data: UserInput, errors: dict[str, str]
) -> None:
    if not data.display_name:
        errors["display_name"] = N_("This field is required.")
    if data.role not in set(Role):
        errors["role"] = N_("Choose one of the options.")
    if data.language not in LANGUAGES:
        errors["language"] = N_("Choose one of the options.")
    if data.site_id is not None:
        await scope.get(db, actor, Site, data.site_id)
    elif actor.site_id is not None:
        errors["site_id"] = N_("You can only work on your own site.")
    if data.role == Role.COUNTER and data.site_id is None:
        errors["site_id"] = N_("Counter staff must belong to a site.")


async def create_user(
    db: AsyncSession, actor: User | None, ip: str, username: str, password: str, data: UserInput
) -> User:
    username = username.strip().lower()
    errors: dict[str, str] = {}
    if not USERNAME_PATTERN.match(username):
        errors["username"] = N_(
            "Use 3 to 64 lower-case letters, digits, dots, hyphens or underscores."
        )
    elif await db.scalar(sa.select(User.id).where(User.username == username)) is not None:
        errors["username"] = N_("This user name is taken.")
    problem = auth.password_problem(password)
    if problem:
        errors["password"] = problem
    await _check_fields(db, actor or scope.ALL_SITES, data, errors)
    if errors:
        raise ValidationFailed(errors)
    user = User(
        username=username,
        display_name=data.display_name,
        password_hash=auth.hash_password(password),
        role=data.role,
        site_id=data.site_id,
        language=data.language,
        active=data.active,
    )
    db.add(user)
    await db.flush()
    audit.record(
        db, actor, "user.create", "user", user.id, user.username, after=user.audit_view(), ip=ip
    )
    return user


async def _active_admins(db: AsyncSession) -> int:
    count = await db.scalar(
        sa.select(sa.func.count())
        .select_from(User)
        .where(User.role == Role.ADMIN.value, User.active)
    )
    return count or 0


async def update_user(
    db: AsyncSession, actor: User, ip: str, user_id: int, data: UserInput
) -> User:
    user = await get_user(db, actor, user_id)
    errors: dict[str, str] = {}
    await _check_fields(db, actor, data, errors)
    losing_admin = (
        user.role == Role.ADMIN and user.active and (data.role != Role.ADMIN or not data.active)
    )
    if losing_admin and user.id == actor.id:
        errors["role" if data.role != Role.ADMIN else "active"] = N_(
            "You cannot remove your own administrator access."
        )
    elif losing_admin and await _active_admins(db) <= 1:
        errors["role"] = N_("At least one active administrator must remain.")
    if errors:
        raise ValidationFailed(errors)
    before = user.audit_view()
    user.display_name, user.role, user.site_id = data.display_name, data.role, data.site_id
    user.language, user.active = data.language, data.active
    after = user.audit_view()
    if before != after:
        audit.record(
            db,
            actor,
            "user.update",
            "user",
            user.id,
            user.username,
            before=before,
            after=after,
            ip=ip,
        )
    if not user.active or before["role"] != after["role"]:
        # A disabled account, or one whose rights changed, must log in afresh at once.
        await auth.end_all_sessions(db, user.id)
    return user


async def reset_password(
    db: AsyncSession, actor: User, ip: str, user_id: int, password: str
) -> User:
    user = await get_user(db, actor, user_id)
    problem = auth.password_problem(password)
    if problem:
        raise ValidationFailed({"password": problem})
    user.password_hash = auth.hash_password(password)
    user.password_changed_at = utcnow()
    await auth.end_all_sessions(db, user.id)
    audit.record(db, actor, "user.reset_password", "user", user.id, user.username, ip=ip)
    return user


async def change_own_password(
    db: AsyncSession, user: User, ip: str, current: str, new: str, keep_token: str
) -> None:
    errors: dict[str, str] = {}
    if not auth.verify_password(user.password_hash, current):
        errors["current_password"] = N_("The current password is not right.")
    problem = auth.password_problem(new)
    if problem:
        errors["new_password"] = problem
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = auth.hash_password(new)
    user.password_changed_at = utcnow()
    await auth.end_all_sessions(db, user.id, keep_token=keep_token)
    audit.record(db, user, "user.change_password", "user", user.id, user.username, ip=ip)


async def set_language(db: AsyncSession, user: User, ip: str, language: str) -> None:
    if language not in LANGUAGES:
        raise ValidationFailed({"language": N_("Choose one of the options.")})
    if user.language != language:
        audit.record(
            db,
            user,
            "user.set_language",
            "user",
            user.id,
            user.username,
            before={"language": user.language},
            after={"language": language},
            ip=ip,
        )
        user.language = language
