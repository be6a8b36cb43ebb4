"""Sites of a municipality: the main city hall and its branch offices."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.languages import parse_language_list
from signage import audit, changes
from signage.errors import Forbidden, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import Closure, QueueSite, Screen, Site, User

CODE_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")


@dataclass
class SiteInput:
    code: str
    name: str
    name_en: str
    timezone: str
    languages: str
    active: bool = True


async def list_sites(db: AsyncSession, *, only_active: bool = False) -> list[Site]:
    query = sa.select(Site).order_by(Site.id)
    if only_active:
        query = query.where(Site.active)
    return list((await db.scalars(query)).all())


async def sites_for(db: AsyncSession, user: User) -> list[Site]:
    """The open sites this user may work on: all of them, or their own."""
    return [s for s in await list_sites(db, only_active=True) if user.site_id in (None, s.id)]


async def get_site(db: AsyncSession, site_id: int) -> Site:
    site = await db.get(Site, site_id)
    if site is None:
        raise NotFound(N_("This site does not exist."))
    return site


async def _validate(db: AsyncSession, data: SiteInput, site_id: int | None) -> str:
    errors: dict[str, str] = {}
    if not CODE_PATTERN.match(data.code):
        errors["code"] = N_("Use lower-case letters, digits and hyphens (up to 32).")
    else:
        clash = await db.scalar(sa.select(Site.id).where(Site.code == data.code))
        if clash is not None and clash != site_id:
            errors["code"] = N_("Another site already uses this code.")
    if not data.name:
        errors["name"] = N_("This field is required.")
    try:
        zoneinfo.ZoneInfo(data.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = N_("Unknown time zone. Use a name such as Asia/Tokyo.")
    languages = ""
    try:
        languages = ",".join(parse_language_list(data.languages))
    except ValueError:
        errors["languages"] = N_("Choose at least one of the listed languages.")
    if errors:
        raise ValidationFailed(errors)
    return languages


async def create_site(db: AsyncSession, actor: User | None, ip: str, data: SiteInput) -> Site:
    languages = await _validate(db, data, None)
    site = Site(
        code=data.code,
        name=data.name,
        name_en=data.name_en,
        timezone=data.timezone,
        languages=languages,
        active=data.active,
    )
    db.add(site)
    await db.flush()
    db.add(QueueSite(site_id=site.id))  # the site's queue rules, with their defaults
    audit.record(
        db, actor, "site.create", "site", site.id, site.name, after=site.audit_view(), ip=ip
    )
    return site


async def update_site(
    db: AsyncSession, actor: User, ip: str, site_id: int, data: SiteInput
) -> Site:
    site = await get_site(db, site_id)
    languages = await _validate(db, data, site_id)
    before = site.audit_view()
    site.code, site.name, site.name_en = data.code, data.name, data.name_en
    site.timezone, site.languages, site.active = data.timezone, languages, data.active
    after = site.audit_view()
    if before != after:
        audit.record(
            db, actor, "site.update", "site", site.id, site.name, before=before, after=after, ip=ip
        )
        changes.record(db, changes.SiteChanged(site.id))
    return site


async def list_closures(db: AsyncSession, user: User) -> list[Closure]:
    query = sa.select(Closure).order_by(Closure.day, Closure.site_id)
    if user.site_id is not None:
        query = query.where(Closure.site_id == user.site_id)
    return list((await db.scalars(query)).all())


async def add_closure(
    db: AsyncSession, user: User, ip: str, site_id: int, day: date, reason: str
) -> Closure:
    site = await get_site(db, site_id)
    if user.site_id is not None and user.site_id != site_id:
        raise Forbidden(N_("This belongs to another site."))
    clash = await db.scalar(
        sa.select(Closure.id).where(Closure.site_id == site_id, Closure.day == day)
    )
    if clash is not None:
        raise ValidationFailed({"day": N_("This day is already a closure day.")})
    closure = Closure(site_id=site_id, day=day, reason=reason)
    db.add(closure)
    await db.flush()
    audit.record(
        db,
        user,
        "closure.create",
        "site",
        site.id,
        site.name,
        after={"closure": day.isoformat(), "reason": reason},
        ip=ip,
    )
    changes.record(db, changes.ClosureChanged(site_id))
    return closure


async def remove_closure(db: AsyncSession, user: User, ip: str, closure_id: int) -> int:
    closure = await db.get(Closure, closure_id)
    if closure is None or (user.site_id is not None and closure.site_id != user.site_id):
        raise NotFound(N_("This closure day does not exist."))
    site = await get_site(db, closure.site_id)
    audit.record(
        db,
        user,
        "closure.delete",
        "site",
        site.id,
        site.name,
        before={"closure": closure.day.isoformat(), "reason": closure.reason},
        ip=ip,
    )
    await db.delete(closure)
    await db.flush()
    changes.record(db, changes.ClosureChanged(site.id))
    return site.id


async def screen_ids(db: AsyncSession, site_id: int) -> list[int]:
    return list(await db.scalars(sa.select(Screen.id).where(Screen.site_id == site_id)))
