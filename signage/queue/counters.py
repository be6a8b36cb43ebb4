"""Setting up a site's queue: its services, its counters and its rules (kiosks:
signage/queue/kiosks.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.announcements import PHRASES
from content.languages import LANGUAGES
from signage import audit, changes, scope
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import QueueCounter, QueueService, QueueSite, Site, User
from signage.permissions import Permission, require
from signage.queue import tickets

PREFIX = re.compile(r"^[A-Z]{1,3}$")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def check_manager(user: User) -> None:
    require(user, Permission.SET_UP_QUEUE, N_("Only publishers can change how the queue works."))


async def site_for(db: AsyncSession, user: User, site_id: int) -> Site:
    return await scope.get(db, user, Site, site_id)


async def list_services(db: AsyncSession, site_id: int) -> list[QueueService]:
    return list(
        await db.scalars(
            sa.select(QueueService)
            .where(QueueService.site_id == site_id)
            .order_by(QueueService.position, QueueService.id)
        )
    )


async def list_counters(db: AsyncSession, site_id: int) -> list[QueueCounter]:
    return list(
        await db.scalars(
            sa.select(QueueCounter)
            .where(QueueCounter.site_id == site_id)
            .order_by(QueueCounter.number)
        )
    )


async def counters_for(db: AsyncSession, user: User) -> list[QueueCounter]:
    """The counters this user may work at."""
    query = (
        sa.select(QueueCounter)
        .where(scope.visible(user, QueueCounter))
        .order_by(QueueCounter.site_id, QueueCounter.number)
    )
    return list(await db.scalars(query))


# --- services -------------------------------------------------------------------------


@dataclass
class ServiceInput:
    prefix: str
    name: str
    name_en: str = ""
    names: dict[str, str] = field(default_factory=dict)
    open: bool = True
    position: int = 0


async def _check_service(
    db: AsyncSession, site_id: int, data: ServiceInput, service_id: int | None
) -> None:
    errors: dict[str, str] = {}
    if not PREFIX.match(data.prefix):
        errors["prefix"] = N_("Use one to three capital letters, e.g. A.")
    else:
        clash = await db.scalar(
            sa.select(QueueService.id).where(
                QueueService.site_id == site_id, QueueService.prefix == data.prefix
            )
        )
        if clash is not None and clash != service_id:
            errors["prefix"] = N_("Another service of this site uses this letter.")
    if not data.name:
        errors["name"] = N_("This field is required.")
    unknown = [code for code in data.names if code not in LANGUAGES]
    if unknown:
        errors["names"] = N_("Choose one of the options.")
    if errors:
        raise ValidationFailed(errors)


async def create_service(
    db: AsyncSession, user: User, ip: str, site_id: int, data: ServiceInput
) -> QueueService:
    check_manager(user)
    await site_for(db, user, site_id)
    await _check_service(db, site_id, data, None)
    position = await db.scalar(
        sa.select(sa.func.coalesce(sa.func.max(QueueService.position), 0)).where(
            QueueService.site_id == site_id
        )
    )
    service = QueueService(
        site_id=site_id,
        prefix=data.prefix,
        name=data.name,
        name_en=data.name_en,
        names={k: v for k, v in data.names.items() if v},
        open=data.open,
        position=int(position or 0) + 1,
    )
    db.add(service)
    await db.flush()
    audit.record(
        db, user, "service.create", "service", service.id, service.name,
        after=service.audit_view(), ip=ip,
    )  # fmt: skip
    changes.record(db, changes.ServiceChanged(site_id))
    return service


async def update_service(
    db: AsyncSession, user: User, ip: str, service_id: int, data: ServiceInput
) -> QueueService:
    check_manager(user)
    service = await scope.get(db, user, QueueService, service_id)
    await _check_service(db, service.site_id, data, service.id)
    before = service.audit_view()
    service.prefix, service.name, service.name_en = data.prefix, data.name, data.name_en
    service.names = {k: v for k, v in data.names.items() if v}
    service.open = data.open
    audit.record(
        db, user, "service.update", "service", service.id, service.name,
        before=before, after=service.audit_view(), ip=ip,
    )  # fmt: skip
    changes.record(db, changes.ServiceChanged(service.site_id))
    return service


# --- counters -------------------------------------------------------------------------


@dataclass
class CounterInput:
    number: int
    name: str
    service_ids: list[int]


async def _check_counter(
    db: AsyncSession, user: User, site_id: int, data: CounterInput, counter_id: int | None
) -> list[QueueService]:
    errors: dict[str, str] = {}
    if not 1 <= data.number <= 999:
        errors["number"] = N_("Enter a counter number from 1 to 999.")
    else:
        clash = await db.scalar(
            sa.select(QueueCounter.id).where(
                QueueCounter.site_id == site_id, QueueCounter.number == data.number
            )
        )
        if clash is not None and clash != counter_id:
            errors["number"] = N_("Another counter of this site has this number.")
    # Services of the counter's own site only.
    services = [
        await scope.get(db, user, QueueService, service_id, site=site_id)
        for service_id in dict.fromkeys(data.service_ids)
    ]
    if not services:
        errors["service_ids"] = N_("Choose the services this counter calls.")
    if errors:
        raise ValidationFailed(errors)
    return services


async def create_counter(
    db: AsyncSession, user: User, ip: str, site_id: int, data: CounterInput
) -> QueueCounter:
    check_manager(user)
    await site_for(db, user, site_id)
    services = await _check_counter(db, user, site_id, data, None)
    counter = QueueCounter(site_id=site_id, number=data.number, name=data.name, open=False)
    counter.services = services
    db.add(counter)
    await db.flush()
    audit.record(
        db, user, "counter.create", "counter", counter.id, counter.name or str(counter.number),
        after=counter.audit_view(), ip=ip,
    )  # fmt: skip
    changes.record(db, changes.CounterChanged(counter.id, site_id))
    return counter


async def update_counter(
    db: AsyncSession, user: User, ip: str, counter_id: int, data: CounterInput
) -> QueueCounter:
    check_manager(user)
    counter = await scope.get(db, user, QueueCounter, counter_id)
    services = await _check_counter(db, user, counter.site_id, data, counter.id)
    before = counter.audit_view()
    counter.number, counter.name, counter.services = data.number, data.name, services
    audit.record(
        db, user, "counter.update", "counter", counter.id, counter.name or str(counter.number),
        before=before, after=counter.audit_view(), ip=ip,
    )  # fmt: skip
    changes.record(db, changes.CounterChanged(counter.id, counter.site_id))
    return counter


# --- rules ----------------------------------------------------------------------------


@dataclass
class RulesInput:
    opens_at: str
    closes_at: str
    normal_per_priority: int
    noshow_after_recalls: int
    highlight_seconds: int
    voice_languages: list[str]


def _check_rules(data: RulesInput) -> None:
    errors: dict[str, str] = {}
    for name in ("opens_at", "closes_at"):
        if not HHMM.match(getattr(data, name)):
            errors[name] = N_("Enter times as HH:MM, e.g. 08:30.")
    if not errors and data.opens_at >= data.closes_at:
        errors["closes_at"] = N_("Closing must be after opening.")
    if not 1 <= data.normal_per_priority <= 20:
        errors["normal_per_priority"] = N_("This number is out of range.")
    if not 0 <= data.noshow_after_recalls <= 10:
        errors["noshow_after_recalls"] = N_("This number is out of range.")
    if not 3 <= data.highlight_seconds <= 60:
        errors["highlight_seconds"] = N_("This number is out of range.")
    if any(code not in PHRASES for code in data.voice_languages):
        errors["voice_languages"] = N_("Choose one of the options.")
    if errors:
        raise ValidationFailed(errors)


async def update_rules(
    db: AsyncSession, user: User, ip: str, site_id: int, data: RulesInput
) -> QueueSite:
    check_manager(user)
    site = await site_for(db, user, site_id)
    _check_rules(data)
    settings = await tickets.queue_site(db, site_id)
    before = settings.audit_view()
    settings.opens_at, settings.closes_at = data.opens_at, data.closes_at
    settings.normal_per_priority = data.normal_per_priority
    settings.noshow_after_recalls = data.noshow_after_recalls
    settings.highlight_seconds = data.highlight_seconds
    settings.voice_languages = ",".join(data.voice_languages)
    audit.record(
        db, user, "queue.settings", "queue", site_id, site.name,
        before=before, after=settings.audit_view(), ip=ip,
    )  # fmt: skip
    changes.record(db, changes.QueueRulesChanged(site_id))
    return settings
