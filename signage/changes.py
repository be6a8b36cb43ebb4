"""One path from a change to the screens.

Domain functions say what changed, as a typed record on the session
(`changes.record(db, SiteChanged(site.id))`). This module alone knows what each kind of
change reaches: which screens' manifests to rebuild, which sites' queue boards to
refresh, which calls to announce, which devices to tell, and whether the scheduler's next
content boundary may have moved. `settle` turns the records into that work. It runs once
before the transaction commits (`db.transaction`, `db.commit`): the rebuilt manifests are
written in the same transaction, and the hub, the announcer and the scheduler hear of
them only after the commit (`db.on_commit`); a rollback drops both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.protocol import Command
from signage import manifests, metrics, schedules
from signage.db import before_commit, on_commit
from signage.live.hub import CLOSE_REVOKED, Hub
from signage.models import (
    PlaylistItem,
    QueueService,
    ScheduleEntry,
    Screen,
)

if TYPE_CHECKING:
    from signage.alerts.delivery import AlertPusher
    from signage.jobs import Jobs
    from signage.queue.announcer import Announcer
    from signage.queue.tickets import Call
    from signage.webhooks import Sender

PENDING = "changes"  # session.info key of the records not yet settled
OUTLETS = "outlets"  # session.info key of the app's `Outlets`


# --- what domain code records ----------------------------------------------------------


@dataclass(frozen=True)
class SiteChanged:
    """Its name, time zone or languages: every manifest and the board of the site (if it
    has a queue)."""

    site_id: int


@dataclass(frozen=True)
class ClosureChanged:
    """A closure day added or removed: the site's timelines move."""

    site_id: int


@dataclass(frozen=True)
class NoticeChanged:
    notice_id: int


@dataclass(frozen=True)
class PlaylistChanged:
    playlist_id: int


@dataclass(frozen=True)
class ScreenChanged:
    """Anything of one screen: name, site, layout, default playlist, groups, counter."""

    screen_id: int


@dataclass(frozen=True)
class ScheduleChanged:
    """A schedule created, edited or deleted; `before`: the screens it reached before."""

    schedule_id: int
    before: frozenset[int] = frozenset()


@dataclass(frozen=True)
class CounterChanged:
    """Its number or name (carried by the manifests of the screens above it), services."""

    counter_id: int
    site_id: int


@dataclass(frozen=True)
class ServiceChanged:
    site_id: int


@dataclass(frozen=True)
class QueueRulesChanged:
    site_id: int


@dataclass(frozen=True)
class QueueChanged:
    """Tickets moved (issued, served, held, a counter opened...): the site's boards."""

    site_id: int


@dataclass(frozen=True)
class TicketIssued:
    """Its number is spoken ahead, so its call never waits for the voice."""

    site_id: int
    prefix: str
    number: int
    languages: tuple[str, ...]


@dataclass(frozen=True)
class TicketCalled:
    call: Call


@dataclass(frozen=True)
class ScreenPaired:
    """A device now shows this screen; the one it replaced (if any) is disconnected."""

    screen_id: int
    token_hash: str
    replaced: bool


@dataclass(frozen=True)
class ScreenRevoked:
    screen_id: int


@dataclass(frozen=True)
class ScreenCommand:
    """A remote command (reload, identify, screenshot) for one screen."""

    screen_id: int
    event: Command = field(hash=False)


@dataclass(frozen=True)
class AlertsChanged:
    """An alert raised, confirmed, cleared, replaced or expired: what these screens show."""

    screen_ids: frozenset[int]


@dataclass(frozen=True)
class WindowMoved:
    """The hour turned (or a boundary passed): every manifest is rebuilt from `now`."""

    now: datetime


Change = (
    SiteChanged
    | ClosureChanged
    | NoticeChanged
    | PlaylistChanged
    | ScreenChanged
    | ScheduleChanged
    | CounterChanged
    | ServiceChanged
    | QueueRulesChanged
    | QueueChanged
    | TicketIssued
    | TicketCalled
    | ScreenPaired
    | ScreenRevoked
    | ScreenCommand
    | WindowMoved
    | AlertsChanged
)


def record(db: AsyncSession, change: Change) -> None:
    """Say what changed; `settle` works out what it reaches before this session commits."""
    db.info.setdefault(PENDING, []).append(change)
    before_commit(db, settle)


# --- who hears of it after commit ------------------------------------------------------


@dataclass
class Outlets:
    """The app's parts that hear of changes after commit (given to every session)."""

    hub: Hub
    announcer: Announcer | None = None
    jobs: Jobs | None = None
    alerts: AlertPusher | None = None
    webhooks: Sender | None = None  # woken when a transaction wrote to the webhook outbox


def outlets_of(db: AsyncSession) -> Outlets | None:
    outlets = db.info.get(OUTLETS)
    return outlets if isinstance(outlets, Outlets) else None


# --- what a change reaches -------------------------------------------------------------


@dataclass
class Reach:
    """What a batch of changes reaches (the answer of `reach`)."""

    screens: set[int] = field(default_factory=set)  # manifests to rebuild
    boards: set[int] = field(default_factory=set)  # sites whose queue boards to refresh
    calls: list[Call] = field(default_factory=list)
    voices: list[TicketIssued] = field(default_factory=list)
    paired: list[ScreenPaired] = field(default_factory=list)
    revoked: list[int] = field(default_factory=list)
    commands: list[ScreenCommand] = field(default_factory=list)
    alerts: set[int] = field(default_factory=set)  # screens whose alerts to send again
    replan: bool = False  # the next notice/schedule boundary may have moved
    now: datetime | None = None


async def reach(db: AsyncSession, changes: Iterable[Change]) -> Reach:
    """The one table of what each kind of change reaches."""
    out = Reach()
    playlists: set[int] = set()
    for change in changes:
        match change:
            case SiteChanged(site_id):
                out.screens |= await _site_screens(db, site_id)
                if await _has_queue(db, site_id):  # its board shows the languages and day
                    out.boards.add(site_id)
            case ClosureChanged(site_id):
                out.screens |= await _site_screens(db, site_id)
                out.replan = True
            case NoticeChanged(notice_id):
                playlists |= set(
                    await db.scalars(
                        sa.select(PlaylistItem.playlist_id).where(
                            PlaylistItem.notice_id == notice_id
                        )
                    )
                )
                out.replan = True
            case PlaylistChanged(playlist_id):
                playlists.add(playlist_id)
                out.replan = True  # a notice with its own validity may have come or gone
            case ScreenChanged(screen_id):
                out.screens.add(screen_id)
            case ScheduleChanged(schedule_id, before):
                out.screens |= before
                entry = await db.get(ScheduleEntry, schedule_id)
                if entry is not None:
                    out.screens |= await schedules.screens_of(db, entry)
                out.replan = True
            case CounterChanged(counter_id, site_id):
                out.screens |= set(
                    await db.scalars(sa.select(Screen.id).where(Screen.counter_id == counter_id))
                )
                out.boards.add(site_id)
            case ServiceChanged(site_id) | QueueRulesChanged(site_id) | QueueChanged(site_id):
                out.boards.add(site_id)
            case TicketIssued():
                out.voices.append(change)
                out.boards.add(change.site_id)
            case TicketCalled(call):
                out.calls.append(call)
                out.boards.add(call.site_id)
            case ScreenPaired(screen_id):
                out.screens.add(screen_id)
                out.paired.append(change)
            case ScreenRevoked(screen_id):
                out.revoked.append(screen_id)
            case ScreenCommand():
                out.commands.append(change)
            case AlertsChanged(screen_ids):
                out.alerts |= screen_ids
            case WindowMoved(now):
                out.screens |= set(await db.scalars(sa.select(Screen.id)))
                out.now = now
    out.screens |= await manifests.screens_for_playlists(db, playlists)
    return out


async def _site_screens(db: AsyncSession, site_id: int) -> set[int]:
    return set(await db.scalars(sa.select(Screen.id).where(Screen.site_id == site_id)))


async def _has_queue(db: AsyncSession, site_id: int) -> bool:
    found = await db.scalar(
        sa.select(QueueService.id).where(QueueService.site_id == site_id).limit(1)
    )
    return found is not None


# --- doing it --------------------------------------------------------------------------


async def settle(db: AsyncSession) -> list[int]:
    """Rebuild what the recorded changes reach, in this transaction, and hand the rest to
    the hub, the announcer and the scheduler once it commits. Returns the screens whose
    manifest changed."""
    pending: list[Change] = db.info.pop(PENDING, [])
    if not pending:
        return []
    found = await reach(db, pending)
    rebuilt = await manifests.rebuild(db, found.screens, found.now) if found.screens else []
    outlets = outlets_of(db)
    if outlets is not None:
        on_commit(db, lambda: _publish(outlets, found, rebuilt))
    return [r.screen_id for r in rebuilt]


def _publish(outlets: Outlets, found: Reach, rebuilt: list[manifests.Rebuilt]) -> None:
    """After commit, in this order: alerts (read afresh and sent by the alert pusher), new
    manifests, devices, commands, calls, boards."""
    hub, announcer = outlets.hub, outlets.announcer
    if found.alerts and outlets.alerts is not None:
        outlets.alerts.changed(found.alerts)
    for manifest in rebuilt:
        hub.set_manifest(manifest.screen_id, manifest.version, manifest.body)
    for paired in found.paired:
        hub.paired(paired.token_hash)
        if paired.replaced:
            hub.disconnect(paired.screen_id, CLOSE_REVOKED)
    for screen_id in found.revoked:
        hub.disconnect(screen_id, CLOSE_REVOKED)
    for command in found.commands:
        hub.publish(command.event, [command.screen_id])
    for voice in found.voices:
        metrics.ticket_issued(voice.site_id)
    for call in found.calls:
        metrics.call_made(call.site_id, call.recall)
    if announcer is not None:
        for voice in found.voices:
            announcer.prepare(voice.prefix, voice.number, voice.languages)
        for call in found.calls:
            announcer.call(call)
        for site_id in sorted(found.boards):
            announcer.changed(site_id)
    if found.replan and outlets.jobs is not None:
        _background(outlets.jobs.replan())


_tasks: set[asyncio.Task[None]] = set()


def _background(work: Coroutine[Any, Any, None]) -> None:
    """Never inside the transaction: on SQLite a second writer in this process would wait
    for this one."""
    task = asyncio.get_running_loop().create_task(work)
    _tasks.add(task)  # keep a reference until it is done
    task.add_done_callback(_tasks.discard)
