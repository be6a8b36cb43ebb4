"""Manifest rebuilds on a real database: all screens, then after one schedule changes.

1,000 screens in 50 groups, 10,000 schedule entries, 100 playlists of notices, on a
temporary SQLite database. Prints the time to build every manifest, the time to rebuild
after one schedule changes, how many manifests that touched and how many changed, and the
ratio between the two (the baseline is the full rebuild in the same run):

    .venv/bin/python bench/manifests.py [--screens 1000] [--schedules 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from signage import changes, schedules
from signage.db import create_engine, migrate, session_factory, transaction, utcnow
from signage.models import (
    Notice,
    NoticeText,
    Playlist,
    PlaylistItem,
    ScheduleEntry,
    Screen,
    ScreenGroup,
    Site,
    screen_group_members,
)

GROUPS = 50
PLAYLISTS = 100


async def _populate(url: str, screens: int, entries: int, rng: random.Random) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    now = utcnow()
    async with transaction(sessions) as db:
        site = Site(code="bench", name="Bench", timezone="Asia/Tokyo", languages="ja,en")
        db.add(site)
        await db.flush()
        notices = [
            Notice(
                status="approved",
                style="normal",
                texts=[NoticeText(language="ja", title=f"お知らせ {i}", body="本文")],
            )
            for i in range(PLAYLISTS * 3)
        ]
        db.add_all(notices)
        await db.flush()
        playlists = [
            Playlist(
                name=f"p{i}",
                items=[
                    PlaylistItem(kind="notice", notice_id=notices[i * 3 + k].id, position=k)
                    for k in range(3)
                ],
            )
            for i in range(PLAYLISTS)
        ]
        db.add_all(playlists)
        groups = [ScreenGroup(site_id=site.id, name=f"g{i}") for i in range(GROUPS)]
        db.add_all(groups)
        await db.flush()
        rows = [
            Screen(
                site_id=site.id,
                name=f"s{i}",
                layout="hall",
                default_playlist_id=playlists[i % PLAYLISTS].id,
            )
            for i in range(screens)
        ]
        db.add_all(rows)
        await db.flush()
        await db.execute(
            sa.insert(screen_group_members),
            [{"group_id": groups[i % GROUPS].id, "screen_id": s.id} for i, s in enumerate(rows)],
        )
        batch = []
        for i in range(entries):
            on_group = rng.random() < 0.2
            start = rng.choice(["08:30", "09:00", "12:00", "22:00"])
            end = rng.choice(["17:15", "13:00", "02:00", "18:00"])
            batch.append(
                {
                    "name": f"e{i}",
                    "playlist_id": playlists[rng.randrange(PLAYLISTS)].id,
                    "screen_id": None if on_group else rows[rng.randrange(screens)].id,
                    "group_id": groups[rng.randrange(GROUPS)].id if on_group else None,
                    "zone": rng.choice(["main", "main", "side", "ticker"]),
                    "priority": rng.randrange(100),
                    "starts_at": now - timedelta(days=rng.randrange(10)),
                    "ends_at": now + timedelta(days=rng.randrange(1, 30)),
                    "dayparts": [{"weekdays": [0, 1, 2, 3, 4], "start": start, "end": end}],
                    "cron": "",
                    "cron_minutes": 0,
                    "days": rng.choice(["all", "open", "closed"]),
                    "created_at": now,
                }
            )
        await db.execute(sa.insert(ScheduleEntry), batch)
    await engine.dispose()


async def _measure(url: str) -> tuple[float, int, float, int, int]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    now = utcnow()
    started = time.perf_counter()
    async with transaction(sessions) as db:
        changes.record(db, changes.WindowMoved(now))
        built = await changes.settle(db)
    full = time.perf_counter() - started

    started = time.perf_counter()
    async with transaction(sessions) as db:
        entry = await db.scalar(
            sa.select(ScheduleEntry).where(ScheduleEntry.screen_id.is_not(None)).limit(1)
        )
        assert entry is not None
        entry.priority, entry.days, entry.starts_at, entry.ends_at = 100, "all", None, None
        entry.dayparts = [{"weekdays": [0, 1, 2, 3, 4, 5, 6], "start": "00:00", "end": "00:00"}]
        affected = await schedules.screens_of(db, entry)
        changes.record(db, changes.ScheduleChanged(entry.id))
        changed = await changes.settle(db)
    one = time.perf_counter() - started
    await engine.dispose()
    return full, len(built), one, len(affected), len(changed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--screens", type=int, default=1000)
    parser.add_argument("--schedules", type=int, default=10000)
    args = parser.parse_args()
    rng = random.Random(20261127)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        asyncio.run(_populate(url, args.screens, args.schedules, rng))
        full, built, one, affected, changed = asyncio.run(_measure(url))
    print(f"screens {args.screens}, schedule entries {args.schedules}, at {datetime.now():%F %T}")
    print(
        f"all manifests built        : {full:8.2f} s ({built} manifests, "
        f"{full / max(built, 1) * 1000:.1f} ms each)"
    )
    print(
        f"one schedule changed       : {one * 1000:8.1f} ms "
        f"(rebuilt {affected} manifest(s), {changed} changed)"
    )
    print(f"ratio (one change / all)   : {one / full:8.4f}")


if __name__ == "__main__":
    main()
