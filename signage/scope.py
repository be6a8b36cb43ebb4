"""Every id a request names is looked up here, within the acting user's sites.

Staff of all sites (`site_id` None) reach every site; everyone else, and every device
(a kiosk), reaches its own site only. Another site's object and a missing one get the
same answer, 404, so a request cannot even learn that the other exists.

Notices, pictures and playlists without a site are shared by all sites: everyone may see
and use them; only staff of all sites may change them (`change=True`). Layouts are built
into the code and the same for every site. Usage::

    notice = await scope.get(db, user, Notice, notice_id)
    picture = await scope.get(db, user, Media, image_id, site=notice.site_id)
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement

from signage.errors import Forbidden, NotFound
from signage.i18n import N_
from signage.models import (
    Base,
    Closure,
    Kiosk,
    Media,
    Notice,
    Playlist,
    QueueCounter,
    QueueService,
    QueueSite,
    ScheduleEntry,
    Screen,
    ScreenGroup,
    Site,
    Ticket,
    User,
    Webhook,
)


class Actor(Protocol):
    """Whoever acts: a staff user, or a device that belongs to one site (a kiosk)."""

    @property
    def site_id(self) -> int | None: ...


class Anywhere(enum.Enum):
    ANYWHERE = "anywhere"


ANYWHERE = Anywhere.ANYWHERE


class _AllSites:
    """The actor of the command line and the demo, which works for every site."""

    site_id: int | None = None


ALL_SITES: Actor = _AllSites()
T = TypeVar("T", bound=Base)

# Rows of these tables without a site are shared by all sites.
SHARED: tuple[type[Base], ...] = (Notice, Media, Playlist)

NOT_FOUND: dict[type[Base], str] = {
    Site: N_("This site does not exist."),
    User: N_("This user does not exist."),
    Notice: N_("This notice does not exist."),
    Media: N_("This picture does not exist."),
    Playlist: N_("This playlist does not exist."),
    Screen: N_("This screen does not exist."),
    ScreenGroup: N_("This group of screens does not exist."),
    ScheduleEntry: N_("This schedule does not exist."),
    Closure: N_("This closure day does not exist."),
    QueueService: N_("This service does not exist."),
    QueueCounter: N_("This counter does not exist."),
    Kiosk: N_("This kiosk does not exist."),
    Ticket: N_("This ticket does not exist."),
    QueueSite: N_("This site does not exist."),
    Webhook: N_("This webhook does not exist."),
}


def _site_column(model: type[Base]) -> QueryableAttribute[Any]:
    """The column that says which site a row belongs to (misuse fails at once)."""
    if model is Site:
        return Site.id
    column = getattr(model, "site_id", None)
    if not isinstance(column, QueryableAttribute):
        raise TypeError(f"{model.__name__} has no site; teach signage.scope where it lives")
    return column


def _of_site(model: type[Base], site: int) -> ColumnElement[bool]:
    """Rows of `model` that belong to `site`."""
    if model is ScheduleEntry:
        # A schedule belongs to the site of the screen or the group it puts content on.
        screens = sa.select(Screen.id).where(Screen.site_id == site)
        groups = sa.select(ScreenGroup.id).where(ScreenGroup.site_id == site)
        return sa.or_(ScheduleEntry.screen_id.in_(screens), ScheduleEntry.group_id.in_(groups))
    return _site_column(model) == site


def _shared(model: type[Base]) -> ColumnElement[bool]:
    return _site_column(model).is_(None)


def visible(
    actor: Actor, model: type[Base], site: int | Anywhere | None = ANYWHERE
) -> ColumnElement[bool]:
    """The condition on rows of `model` that `actor` may name.

    With `site`, only rows that may be used by something of that site (its own rows and
    shared ones); `site=None` means by something shared by all sites (shared rows only).
    """
    conditions: list[ColumnElement[bool]] = []
    if actor.site_id is not None:
        own = _of_site(model, actor.site_id)
        conditions.append(sa.or_(own, _shared(model)) if model in SHARED else own)
    if site is None:
        conditions.append(_shared(model) if model in SHARED else sa.false())
    elif not isinstance(site, Anywhere):
        own = _of_site(model, site)
        conditions.append(sa.or_(own, _shared(model)) if model in SHARED else own)
    return sa.and_(sa.true(), *conditions)


async def get(
    db: AsyncSession,
    actor: Actor,
    model: type[T],
    row_id: int | None,
    *,
    site: int | Anywhere | None = ANYWHERE,
    change: bool = False,
) -> T:
    """The row of `model` with `row_id` if `actor` may name it, else NotFound (404).

    `site`: the site of what will refer to the row (see `visible`). `change`: the actor
    is about to change the row; a shared row may be changed by staff of all sites only.
    """
    message = NOT_FOUND.get(model, N_("This page does not exist."))
    if row_id is None or not 0 < row_id < 2**31:
        raise NotFound(message)  # beyond what an id column holds (PostgreSQL would refuse)
    key = sa.inspect(model).primary_key[0]
    row = await db.scalar(sa.select(model).where(key == row_id, visible(actor, model, site)))
    if row is None:
        raise NotFound(message)
    if change and actor.site_id is not None and getattr(row, "site_id", 0) is None:
        raise Forbidden(N_("This is shared by all sites: only staff of all sites can change it."))
    return row
