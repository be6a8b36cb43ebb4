"""What `/metrics` shows Prometheus (prometheus-client), right with several server processes.

Two kinds of values:
- Read when Prometheus scrapes, from what every process shares (the database and the
  fleet's status in the hub), so any process gives the same answer: screens online per
  site, manifest lag, queue lengths and waits, today's tickets by status, alerts.
- Counted by each process as things happen: queue calls and issued tickets (after their
  transaction commits), background job runs, and the push latency histogram. With
  `signage serve --workers N` each worker writes them to files in a folder the parent
  made empty at start (prometheus-client's multiprocess mode, `PROMETHEUS_MULTIPROC_DIR`),
  and the worker that answers adds up every worker's files; with one process they live
  in its memory.

Site labels are site ids (`site="1"`); `signage_site_info{site, name}` gives their names.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from sqlalchemy.ext.asyncio import AsyncSession

from signage.db import utcnow
from signage.live.fleet import PlayerStatus
from signage.models import (
    Alert,
    AlertState,
    Manifest,
    QueueService,
    Screen,
    Site,
    Ticket,
    TicketStatus,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series

# --- counted by each process -----------------------------------------------------------

PUSH_LATENCY = Histogram(
    "signage_push_latency_seconds",
    "Seconds from publishing an event (in any process) to this process having written it "
    "to, or queued it for, each of its connected players; one observation per event and "
    "process.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CALLS = Counter(
    "signage_calls",
    "Queue calls sent to the screens, by site and kind (call, recall).",
    ["site", "kind"],
)
TICKETS_ISSUED = Counter("signage_tickets_issued", "Tickets issued, by site.", ["site"])
JOB_RUNS = Counter(
    "signage_job_runs",
    "Background job runs, by job and result: success, failure (raised), missed (too late "
    "to run), skipped (another process holds the jobs' lease).",
    ["job", "result"],
)


def call_made(site_id: int, recall: bool) -> None:
    CALLS.labels(str(site_id), "recall" if recall else "call").inc()


def ticket_issued(site_id: int) -> None:
    TICKETS_ISSUED.labels(str(site_id)).inc()


# --- several processes -----------------------------------------------------------------


def prepare_multiprocess() -> tuple[Path, bool]:
    """Before `serve` spawns its workers: the folder they write their values to (the one in
    PROMETHEUS_MULTIPROC_DIR, or a new temporary one), emptied of an earlier run's files,
    and set in the environment the workers inherit. Returns it and whether it was made
    here (then `serve` removes it when it ends)."""
    given = os.environ.get(MULTIPROC_ENV, "").strip()
    if given:
        folder = Path(given)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in glob.glob(str(folder / "*.db")):
            os.remove(stale)
        return folder, False
    folder = Path(tempfile.mkdtemp(prefix="signage-metrics-"))
    os.environ[MULTIPROC_ENV] = str(folder)
    return folder, True


def remove_multiprocess(folder: Path) -> None:
    os.environ.pop(MULTIPROC_ENV, None)
    shutil.rmtree(folder, ignore_errors=True)


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


def process_ended() -> None:
    """A worker's last word (its app's shutdown): its live gauges are dropped."""
    if multiprocess():
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


# --- read when scraped -----------------------------------------------------------------


@dataclass
class _Families:
    """Metric families built for one scrape."""

    families: list[Metric] = field(default_factory=list)

    def gauge(self, name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=labels)
        self.families.append(family)
        return family


class _Fixed(Collector):
    def __init__(self, families: Iterable[Metric]) -> None:
        self._families = list(families)

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


async def shared_families(
    db: AsyncSession, fleet: dict[int, PlayerStatus] | None, now: datetime | None = None
) -> list[Metric]:
    """The values every process reads alike (database, fleet), built now."""
    now = now or utcnow()
    out = _Families()
    sites = list(await db.execute(sa.select(Site.id, Site.name, Site.timezone)))
    info = out.gauge("signage_site_info", "Each site's name (value 1).", ["site", "name"])
    for site_id, name, _ in sites:
        info.add_metric([str(site_id), name], 1)

    # Screens and manifests.
    screens = list(
        await db.execute(
            sa.select(Screen.id, Screen.site_id, Screen.token_hash, Manifest.version)
            .join(Manifest, Manifest.screen_id == Screen.id, isouter=True)
            .add_columns(Manifest.built_at)
        )
    )
    if fleet is None:
        fleet = {}
    by_state: dict[tuple[str, str], int] = defaultdict(int)
    behind: dict[str, int] = defaultdict(int)
    lag: dict[str, float] = defaultdict(float)
    for screen_id, site_id, token, version, built_at in screens:
        site = str(site_id)
        said = fleet.get(screen_id, {})
        online = token is not None and said.get("online") is True
        state = "unpaired" if token is None else "online" if online else "offline"
        by_state[(site, state)] += 1
        behind.setdefault(site, 0)
        lag.setdefault(site, 0.0)
        if online and version is not None and said.get("manifest_version", 0) < version:
            behind[site] += 1
            lag[site] = max(lag[site], max(0.0, (now - built_at).total_seconds()))
    counted = out.gauge(
        "signage_screens",
        "Screens by site and state: online (a player connected to any process), offline "
        "(paired, not connected), unpaired.",
        ["site", "state"],
    )
    for site_id, _, _ in sites:
        for state in ("online", "offline", "unpaired"):
            counted.add_metric([str(site_id), state], by_state.get((str(site_id), state), 0))
    behind_family = out.gauge(
        "signage_manifest_behind_screens",
        "Online screens whose player has not yet acknowledged the newest manifest built "
        "for it, by site.",
        ["site"],
    )
    lag_family = out.gauge(
        "signage_manifest_lag_seconds",
        "Per site, the age of the oldest newest-manifest an online screen has not yet "
        "acknowledged (0 when every online screen plays its newest).",
        ["site"],
    )
    for site_id, _, _ in sites:
        behind_family.add_metric([str(site_id)], behind.get(str(site_id), 0))
        lag_family.add_metric([str(site_id)], lag.get(str(site_id), 0.0))

    # Queues: waiting tickets and the longest wait, per service.
    services = list(
        await db.execute(sa.select(QueueService.id, QueueService.site_id, QueueService.prefix))
    )
    waiting = {
        service_id: (count, oldest)
        for service_id, count, oldest in await db.execute(
            sa.select(Ticket.service_id, sa.func.count(), sa.func.min(Ticket.joined_at))
            .where(Ticket.status == TicketStatus.WAITING)
            .group_by(Ticket.service_id)
        )
    }
    length = out.gauge(
        "signage_queue_waiting",
        "Tickets waiting to be called, by site and service (its prefix).",
        ["site", "service"],
    )
    longest = out.gauge(
        "signage_queue_longest_wait_seconds",
        "How long the longest-waiting ticket has waited, by site and service (0: none).",
        ["site", "service"],
    )
    for service_id, site_id, prefix in services:
        count, oldest = waiting.get(service_id, (0, None))
        length.add_metric([str(site_id), prefix], count)
        seconds = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
        longest.add_metric([str(site_id), prefix], seconds)

    # Today's tickets by status (each site's own day).
    today = {site_id: now.astimezone(ZoneInfo(zone)).date() for site_id, _, zone in sites}
    days = sorted(set(today.values()))
    tickets = out.gauge(
        "signage_tickets_today",
        "Tickets of the site's current day, by site and status.",
        ["site", "status"],
    )
    per_status: dict[tuple[int, str], int] = defaultdict(int)
    if days:
        for site_id, day, ticket_status, count in await db.execute(
            sa.select(Ticket.site_id, Ticket.day, Ticket.status, sa.func.count())
            .where(Ticket.day.in_(days))
            .group_by(Ticket.site_id, Ticket.day, Ticket.status)
        ):
            if today.get(site_id) == day:
                per_status[(site_id, ticket_status)] += count
    for site_id, _, _ in sites:
        for each in TicketStatus:
            tickets.add_metric([str(site_id), each.value], per_status.get((site_id, each), 0))

    # Alerts on the screens of each site.
    site_of = {screen_id: site_id for screen_id, site_id, *_ in screens}
    alerts = out.gauge(
        "signage_alerts",
        "Alerts in effect (state active) or waiting for a second person "
        "(pending_confirmation), by site of the screens they reach, level and drill.",
        ["site", "level", "drill", "state"],
    )
    found: dict[tuple[str, str, str, str], int] = defaultdict(int)
    for level, drill, state, targets, expires_at, effective_at in await db.execute(
        sa.select(
            Alert.level,
            Alert.drill,
            Alert.state,
            Alert.screens,
            Alert.expires_at,
            Alert.effective_at,
        ).where(Alert.state.in_([AlertState.ACTIVE, AlertState.PENDING]))
    ):
        if expires_at <= now or (state == AlertState.ACTIVE and effective_at > now):
            continue
        for site_id in sorted({site_of[i] for i in targets or [] if i in site_of}):
            found[(str(site_id), level, "true" if drill else "false", state)] += 1
    for labels, count in sorted(found.items()):
        alerts.add_metric(list(labels), count)
    return out.families


def process_families() -> list[Metric]:
    """What the processes counted: every worker's files, or this process's memory."""
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return list(registry.collect())
    return list(REGISTRY.collect())


def exposition(families: Iterable[Metric]) -> bytes:
    """The Prometheus text format of these families."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families))
    return generate_latest(registry)


def now_seconds() -> float:
    """The wall clock events carry between processes (publish time)."""
    return time.time()
