"""Sites of a municipality: the main city hall and its branch offices."""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.languages import parse_language_list
from signage import audit
from signage.errors import NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import Site, User

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
    return site
