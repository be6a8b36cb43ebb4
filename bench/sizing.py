"""Sizing: CPU of one `signage serve` process per connected screen, for docs/deploy.md.

The server is the real command (`python -m signage serve`: one process on SQLite in a
temporary folder by default; or `--workers N` on an empty PostgreSQL database with a
Redis hub; voice off: speech is made per ticket, not per screen). Screens are
grouped in sites of 50 (a city hall building), each site with a queue service, a counter
and a kiosk. N simulated players (real websocket clients in this process) connect, 50 at
a time, and say hello. Then, for each N, three phases of --seconds each, measuring the
server's CPU (utime + stime from /proc/<pid>/stat, its worker processes included):

- idle: players connected, nothing sent;
- heartbeats: every player sends its heartbeat every --heartbeat seconds (compressed:
  real players send one every 30 s, so a phase holds 30/--heartbeat times the real rate);
- heartbeats + calls: counters press "call next" (the console's htmx POST, as staff do),
  --calls per second in all, round-robin over the sites; each call goes to the 50
  screens of its site as a `queue.call` event and a new `queue` board.

From these: CPU per heartbeat, per call, per connect (hello to welcome) and memory per
screen, and the screens one process serves at real rates (a heartbeat every 30 s, a call
every --site-call-every seconds at each site) within half of one core.

    .venv/bin/python bench/sizing.py [--n 500 2000] [--seconds 10] [--heartbeat 3] [--calls 2]
    .venv/bin/python bench/sizing.py --workers 2 --database-url postgresql://.../empty_db \
        --hub-url redis://127.0.0.1:6379/0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa
from _players import Tally, free_port, hello, log_problems, proc_status, raise_nofile

SITE_SCREENS = 50
PASSWORD = "bench password 1234"
TICKS = os.sysconf("SC_CLK_TCK")
REAL_HEARTBEAT = 30.0  # seconds, docs/protocol.md
HEADROOM = 0.5  # a process is sized to use at most half of one core


@dataclass
class Site:
    site_id: int
    service_id: int
    counter_id: int
    kiosk: str
    tokens: list[str] = field(default_factory=list)


def _prepare(folder: Path, screens: int, url: str) -> tuple[str, list[Site]]:
    """A migrated database (SQLite in `folder` unless `url` names an empty one): sites of
    SITE_SCREENS paired screens, each with a queue service, a counter and a kiosk; one
    administrator."""
    from signage.auth import hash_password
    from signage.db import create_sync_engine, migrate, utcnow
    from signage.live.pairing import token_hash
    from signage.models import (
        Kiosk,
        QueueCounter,
        QueueService,
        QueueSite,
        Screen,
        User,
        queue_counter_services,
    )
    from signage.models import Site as SiteRow
    from signage.queue.kiosks import kiosk_token_hash

    url = url or f"sqlite:///{folder / 'signage.db'}"
    migrate(url)
    engine = create_sync_engine(url)
    sites = []
    now = utcnow()
    with engine.begin() as conn:
        for k in range(math.ceil(screens / SITE_SCREENS)):
            site_id = conn.execute(
                sa.insert(SiteRow).values(code=f"s{k}", name=f"庁舎 {k}", timezone="Asia/Tokyo")
            ).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                sa.insert(QueueSite).values(
                    site_id=site_id, opens_at="00:00", closes_at="23:59", voice_languages="ja"
                )
            )
            service_id = conn.execute(
                sa.insert(QueueService).values(
                    site_id=site_id,
                    prefix="A",
                    name="窓口",
                    name_en="",
                    names={},
                    position=0,
                    open=True,
                    last_number=0,
                    created_at=now,
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            counter_id = conn.execute(
                sa.insert(QueueCounter).values(
                    site_id=site_id, number=1, name="", open=True, created_at=now
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                sa.insert(queue_counter_services).values(
                    counter_id=counter_id, service_id=service_id
                )
            )
            kiosk = secrets.token_urlsafe(32)
            conn.execute(
                sa.insert(Kiosk).values(
                    site_id=site_id,
                    name="kiosk",
                    token_hash=kiosk_token_hash(kiosk),
                    created_at=now,
                )
            )
            site = Site(int(site_id), int(service_id), int(counter_id), kiosk)
            count = min(SITE_SCREENS, screens - k * SITE_SCREENS)
            site.tokens = [secrets.token_urlsafe(24) for _ in range(count)]
            conn.execute(
                sa.insert(Screen),
                [
                    {
                        "site_id": site_id,
                        "name": f"s{k}-{i}",
                        "layout": "full",
                        "token_hash": token_hash(t),
                    }
                    for i, t in enumerate(site.tokens)
                ],
            )
            sites.append(site)
        conn.execute(
            sa.insert(User).values(
                username="chief",
                display_name="chief",
                password_hash=hash_password(PASSWORD),
                role="admin",
                site_id=None,
                language="ja",
                active=True,
                created_at=now,
                password_changed_at=now,
            )
        )
    engine.dispose()
    return url, sites


def _rss(pid: int) -> int:
    """Resident memory (KiB) of a process and its live children."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return proc_status(pid)["VmRSS"] + sum(_rss(int(child)) for child in children)


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of a process and its live children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    total = (int(fields[11]) + int(fields[12])) / TICKS
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return total + sum(_cpu(int(child)) for child in children)


class Players:
    """N players: each says hello, counts what it receives, and sends a heartbeat every
    `interval` seconds while `beating` is on (starting at a random point of the interval)."""

    def __init__(self, url: str, interval: float) -> None:
        self.url, self.interval = url, interval
        self.tally = Tally()
        self.beating = False
        self.heartbeats = 0
        self.tasks: list[asyncio.Task[None]] = []

    async def _one(self, token: str) -> None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        async with connect(
            self.url, max_size=None, ping_interval=None, compression=None, open_timeout=60
        ) as ws:
            await ws.send(hello(token))

            async def beat() -> None:
                await asyncio.sleep(random.uniform(0, self.interval))
                while True:
                    if self.beating:
                        await ws.send(
                            json.dumps(
                                {
                                    "type": "heartbeat",
                                    "manifest_version": 0,
                                    "playing": {"main": "queue board"},
                                }
                            )
                        )
                        self.heartbeats += 1
                    await asyncio.sleep(self.interval)

            beating = asyncio.ensure_future(beat())
            try:
                async for message in ws:
                    self.tally.add(json.loads(message)["type"])
            except ConnectionClosed:
                pass
            finally:
                beating.cancel()

    async def connect(self, tokens: list[str]) -> None:
        base = self.tally.counts["welcome"]
        for start in range(0, len(tokens), 50):
            batch = tokens[start : start + 50]
            self.tasks += [asyncio.ensure_future(self._one(t)) for t in batch]
            await self.tally.reach("welcome", base + start + len(batch), within=60)

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _staff(client: httpx.AsyncClient, counter_id: int) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/login")).text)
    assert token
    reply = await client.post(
        "/login", data={"username": "chief", "password": PASSWORD, "csrf_token": token.group(1)}
    )
    assert reply.status_code == 303, reply.text[-300:]
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', (await client.get(f"/counter/{counter_id}")).text
    )
    assert token
    return token.group(1)


async def _issue(client: httpx.AsyncClient, sites: list[Site], each: int) -> None:
    for site in sites:
        for k in range(each):
            reply = await client.post(
                "/api/kiosk/tickets",
                json={"service": site.service_id, "request_id": f"s{site.site_id}k{k:06d}"},
                headers={"Authorization": f"Bearer {site.kiosk}"},
            )
            assert reply.status_code == 201, reply.text


async def _measure(pid: int, seconds: float) -> float:
    """The server's CPU over `seconds`, as a share of one core."""
    before, started = _cpu(pid), time.perf_counter()
    await asyncio.sleep(seconds)
    return (_cpu(pid) - before) / (time.perf_counter() - started)


@dataclass
class Row:
    screens: int
    connect_ms: float  # server CPU per connect (hello to welcome)
    rss_kib: float  # server memory per connected screen
    idle: float  # share of a core
    beating: float
    calling: float
    heartbeats: float  # per second, measured
    calls: float  # per second, measured
    per_heartbeat_us: float
    per_call_ms: float


async def _run_size(
    port: int,
    pid: int,
    sites: list[Site],
    seconds: float,
    interval: float,
    rate: float,
    client: httpx.AsyncClient,
    csrf: str,
) -> Row:
    tokens = [t for site in sites for t in site.tokens]
    players = Players(f"ws://127.0.0.1:{port}/player/ws", interval)
    rss_before = _rss(pid)
    cpu_before = _cpu(pid)
    await players.connect(tokens)
    connect_ms = (_cpu(pid) - cpu_before) / len(tokens) * 1000
    await asyncio.sleep(2)  # boards and manifests sent after welcome have gone out
    rss = (_rss(pid) - rss_before) / len(tokens)
    idle = await _measure(pid, seconds)
    players.beating = True
    await asyncio.sleep(interval)  # every player is beating
    sent = players.heartbeats
    started = time.perf_counter()
    beating = await _measure(pid, seconds)
    heartbeats = (players.heartbeats - sent) / (time.perf_counter() - started)

    calls, stop = 0, time.perf_counter() + seconds
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf}

    async def call_loop() -> None:
        nonlocal calls
        k = 0
        next_at = time.perf_counter()
        while time.perf_counter() < stop:
            site = sites[k % len(sites)]
            k += 1
            reply = await client.post(f"/counter/{site.counter_id}/next", headers=headers)
            assert reply.status_code == 200, reply.text[-300:]
            calls += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    sent, received = players.heartbeats, players.tally.counts["event"]
    started = time.perf_counter()
    calling, _ = await asyncio.gather(_measure(pid, seconds), call_loop())
    elapsed = time.perf_counter() - started
    heartbeats_calling = (players.heartbeats - sent) / elapsed
    await asyncio.sleep(1)
    events = players.tally.counts["event"] - received
    assert events >= calls * SITE_SCREENS * 0.9 or len(tokens) < SITE_SCREENS, (events, calls)
    await players.close()
    await asyncio.sleep(1)
    per_heartbeat = (beating - idle) / heartbeats if heartbeats else 0.0
    busy_calls = calling - idle - per_heartbeat * heartbeats_calling
    return Row(
        screens=len(tokens),
        connect_ms=connect_ms,
        rss_kib=rss,
        idle=idle,
        beating=beating,
        calling=calling,
        heartbeats=heartbeats,
        calls=calls / elapsed,
        per_heartbeat_us=per_heartbeat * 1e6,
        per_call_ms=busy_calls / (calls / elapsed) * 1000 if calls else 0.0,
    )


async def main(
    sizes: list[int],
    seconds: float,
    interval: float,
    rate: float,
    site_call_every: float,
    workers: int,
    database_url: str,
    hub_url: str,
) -> None:
    raise_nofile()
    sizes = sorted(sizes)
    with tempfile.TemporaryDirectory(prefix="bench-sizing-") as tmp:
        folder = Path(tmp)
        url, sites = _prepare(folder, sizes[-1], database_url)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
            "SIGNAGE_DATA_DIR": str(folder),
            "SIGNAGE_DATABASE_URL": url,
            "SIGNAGE_PORT": str(port),
            "SIGNAGE_LOG_LEVEL": "warning",
            "SIGNAGE_VOICE": "false",
            "SIGNAGE_HUB_URL": hub_url,
        }
        log = folder / "server.log"
        with log.open("wb") as out:
            server = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "signage",
                "serve",
                f"--workers={workers}",
                env=env,
                stdout=out,
                stderr=out,
            )
        rows = []
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                deadline = time.monotonic() + 60
                while True:
                    try:
                        if (await client.get("/healthz")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert server.returncode is None, log.read_text()
                    assert time.monotonic() < deadline, log.read_text()
                    await asyncio.sleep(0.2)
                csrf = await _staff(client, sites[0].counter_id)
                calls_per_site = math.ceil(rate * seconds * len(sizes) / len(sites)) + 2
                await _issue(client, sites, calls_per_site)
                await asyncio.sleep(2)
                base = await _measure(server.pid, seconds)  # no screen connected
                for size in sizes:
                    chosen = sites[: math.ceil(size / SITE_SCREENS)]
                    rows.append(
                        await _run_size(
                            port, server.pid, chosen, seconds, interval, rate, client, csrf
                        )
                    )
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 30)
        where = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
        print(f"`signage serve --workers {workers}` ({where}, {hub_url}), voice off; "
              f"{os.cpu_count()} cores here; CPU of all its processes.")  # fmt: skip
        _print(rows, base, interval, rate, seconds, site_call_every)
        lines = [x for x in log_problems(log) if not x.startswith("INFO")]
        print(f"server log: {len(lines)} lines" + "".join(f"\n  {x}" for x in lines[:5]))


def _print(
    rows: list[Row], base: float, interval: float, rate: float, seconds: float, every: float
) -> None:
    print(
        f"Heartbeats every {interval:g} s ({REAL_HEARTBEAT / interval:g}x the real 30 s), "
        f"calls {rate:g}/s over sites of {SITE_SCREENS} screens; {seconds:g} s per phase."
    )
    print(f"CPU as a share of one core; with no screen connected: {base:.1%}")
    print(
        f"{'screens':>7} {'idle':>6} {'beats':>6} {'+calls':>6}  {'beats/s':>7} {'calls/s':>7}"
        f"  {'µs/beat':>7} {'ms/call':>7} {'ms/connect':>10} {'KiB/screen':>10}"
    )
    for r in rows:
        print(
            f"{r.screens:>7} {r.idle:>6.1%} {r.beating:>6.1%} {r.calling:>6.1%}  "
            f"{r.heartbeats:>7.0f} {r.calls:>7.2f}  {r.per_heartbeat_us:>7.0f} "
            f"{r.per_call_ms:>7.1f} {r.connect_ms:>10.2f} {r.rss_kib:>10.1f}"
        )
    # At real rates: a heartbeat every 30 s per screen, a call every `every` s per site.
    big = rows[-1]
    idle_per_screen = max(0.0, big.idle - base) / big.screens
    per_screen = (
        idle_per_screen
        + big.per_heartbeat_us / 1e6 / REAL_HEARTBEAT
        + big.per_call_ms / 1000 / every / SITE_SCREENS
    )
    print(
        f"At real rates (from {big.screens} screens: a heartbeat every 30 s, a call every "
        f"{every:g} s at each site of {SITE_SCREENS}): {per_screen * 1e6:.0f} µs of CPU per "
        f"screen per second"
    )
    print(
        f"  screens per core (one process each) within {HEADROOM:.0%} of it: "
        f"{(HEADROOM - base) / per_screen:.0f}; at 100 %: {(1 - base) / per_screen:.0f}"
    )
    reconnect = big.connect_ms * big.screens / 1000
    print(
        f"  every screen reconnecting at once (a restart): {reconnect:.1f} s of CPU for "
        f"{big.screens}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--heartbeat", type=float, default=3)
    parser.add_argument("--calls", type=float, default=2)
    parser.add_argument("--site-call-every", type=float, default=10)
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument(
        "--database-url", default="", help="an empty PostgreSQL database (default: SQLite)"
    )
    parser.add_argument("--hub-url", default="memory://", help="redis://... for --workers > 1")
    args = parser.parse_args()
    began = time.perf_counter()
    asyncio.run(
        main(
            args.n,
            args.seconds,
            args.heartbeat,
            args.calls,
            args.site_call_every,
            args.workers,
            args.database_url,
            args.hub_url,
        )
    )
    print(f"took {time.perf_counter() - began:.0f} s")
