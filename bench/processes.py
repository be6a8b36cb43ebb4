"""What crossing processes costs: two server processes on one Redis beside one process.

Both runs use the same PostgreSQL database (made afresh for the run), the same board
players (real websocket clients in this process) and the same calls: counter staff press
"call next" (an htmx POST to the console, as staff do), one call every 0.2-0.4 s.

- one process: `signage serve` with the in-memory hub; every player connects to it.
- two processes: two `signage serve` on one Redis (database 15 of the Redis server, emptied
  first); half the players connect to each, and every call is made through the first, so
  half the screens are reached across processes.

For each run: call → last player has the call (p50, p99, max) with the p99 of a bare
`websockets` `broadcast()` to the same players (a second connection each, one event
between each two calls, so both see the same moments), and the servers' CPU time
(user + system of every server process, from /proc, while the calls are made) per message
delivered to a player (the call events and the board states that follow them). The voice
is off, so what is compared is the push path itself.

    .venv/bin/python bench/processes.py [--players 1000] [--calls 300] [--quick]

Needs PostgreSQL (`--postgres`, default the local server) and Redis (`--redis`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa
from _players import BATCH, free_port, hello, percentile, raise_nofile
from calls import Bare

from content.queue import ticket_number

PASSWORD = "bench password 1234"
DATABASE = "signage_bench_processes"
REDIS_DB = 15


# --- the database --------------------------------------------------------------------


def _fresh_database(admin_url: str) -> str:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DATABASE}")
    base = admin_url.rsplit("/", 1)[0]
    return f"{base}/{DATABASE}"


def _seed(url: str, screens: int) -> tuple[list[str], int, int]:
    """One site with `screens` paired screens, a queue with one service and one counter,
    and an admin; returns the device tokens, the counter id and the service id."""
    from signage.auth import hash_password
    from signage.db import create_sync_engine, migrate, utcnow
    from signage.live.pairing import token_hash
    from signage.models import (
        QueueCounter,
        QueueService,
        QueueSite,
        Screen,
        Site,
        User,
        queue_counter_services,
    )

    migrate(url)
    engine = create_sync_engine(url)
    tokens = [secrets.token_urlsafe(24) for _ in range(screens)]
    now = utcnow()
    with engine.begin() as conn:
        site_id = conn.execute(
            sa.insert(Site).values(code="bench", name="本庁舎", timezone="Asia/Tokyo")
        ).inserted_primary_key[0]  # type: ignore[index]
        conn.execute(
            sa.insert(Screen),
            [
                {"site_id": site_id, "name": f"s{i}", "layout": "full", "token_hash": token_hash(t)}
                for i, t in enumerate(tokens)
            ],
        )
        conn.execute(sa.insert(QueueSite).values(site_id=site_id, opens_at="00:00",
                     closes_at="23:59", normal_per_priority=3, noshow_after_recalls=2,
                     highlight_seconds=10, voice_languages="ja",
                     normal_since_priority=0))  # fmt: skip
        service_id = conn.execute(
            sa.insert(QueueService).values(
                site_id=site_id,
                prefix="A",
                name="住民票",
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
            sa.insert(queue_counter_services),
            [{"counter_id": counter_id, "service_id": service_id}],
        )
        conn.execute(sa.insert(User).values(username="chief", display_name="chief",
                     password_hash=hash_password(PASSWORD), role="admin", site_id=None,
                     language="ja", active=True, created_at=now,
                     password_changed_at=now))  # fmt: skip
    engine.dispose()
    return tokens, int(counter_id), int(service_id)


# --- the servers ---------------------------------------------------------------------


class Server:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = int(env["SIGNAGE_PORT"])
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "signage", "serve"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        async with httpx.AsyncClient(timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited; see {self.log}")
                try:
                    if (await client.get(f"http://127.0.0.1:{self.port}/healthz")).is_success:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError(f"server not ready; see {self.log}")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _env(database_url: str, hub_url: str, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
    return env | {
        "SIGNAGE_DATABASE_URL": database_url,
        "SIGNAGE_HUB_URL": hub_url,
        "SIGNAGE_SECRET_KEY": "bench-secret-key",
        "SIGNAGE_DATA_DIR": str(folder),
        "SIGNAGE_PORT": str(free_port()),
        "SIGNAGE_VOICE": "false",
        "SIGNAGE_LOG_LEVEL": "warning",
    }


# --- the players ---------------------------------------------------------------------


@dataclass
class Queue:
    counter: int
    service: int
    called: int = 0  # tickets called so far, so the next call's label is known


class Calls:
    """Per call label: how many players have it and when the last one got it."""

    def __init__(self, players: int) -> None:
        self.players = players
        self.count: dict[str, int] = {}
        self.done: dict[str, asyncio.Future[float]] = {}
        self.delivered = 0
        self.welcomed = 0

    def future(self, label: str) -> asyncio.Future[float]:
        if label not in self.done:
            self.done[label] = asyncio.get_running_loop().create_future()
        return self.done[label]

    def got(self, label: str) -> None:
        self.count[label] = self.count.get(label, 0) + 1
        if self.count[label] == self.players:
            self.future(label).set_result(time.perf_counter())


async def _player(url: str, token: str, calls: Calls) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
        await ws.send(hello(token))
        try:
            async for raw in ws:
                message = json.loads(raw)
                kind = message["type"]
                if kind == "welcome":
                    calls.welcomed += 1
                    continue
                calls.delivered += 1
                event = message.get("event") or {}
                if event.get("kind") == "queue.call":
                    calls.got(event["label"])
        except ConnectionClosed:
            pass


async def _connect(ports: list[int], tokens: list[str], calls: Calls) -> list[asyncio.Task[None]]:
    tasks = []
    for start in range(0, len(tokens), BATCH):
        for i, token in enumerate(tokens[start : start + BATCH], start):
            url = f"ws://127.0.0.1:{ports[i % len(ports)]}/player/ws"
            tasks.append(asyncio.ensure_future(_player(url, token, calls)))
        deadline = time.monotonic() + 60
        while calls.welcomed < min(start + BATCH, len(tokens)):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{calls.welcomed} players connected")
            await asyncio.sleep(0.02)
    return tasks


async def _staff(client: httpx.AsyncClient, counter: int) -> str:
    page = (await client.get("/login")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    reply = await client.post("/login", data={"username": "chief", "password": PASSWORD,
                                               "csrf_token": token.group(1)})  # fmt: skip
    assert reply.status_code == 303, reply.text[-300:]
    page = (await client.get(f"/counter/{counter}")).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    return token.group(1)


async def _run(
    name: str, servers: list[Server], tokens: list[str], queue: Queue, count: int, bare: Bare
) -> dict[str, float]:
    for server in servers:
        await server.ready()
    calls = Calls(len(tokens))
    tasks = await _connect([s.port for s in servers], tokens, calls)
    await asyncio.sleep(2)  # boards sent on connect have arrived
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{servers[0].port}", timeout=60) as c:
        counter = queue.counter
        headers = {"HX-Request": "true", "X-CSRF-Token": await _staff(c, counter)}
        for _ in range(count + 3):  # tickets waiting, issued at the console
            issued = await c.post(
                f"/counter/{counter}/issue", data={"service_id": queue.service}, headers=headers
            )
            assert issued.status_code == 200, issued.text[-300:]
        for _ in range(3):  # warm up the console and the call path
            assert (await c.post(f"/counter/{counter}/next", headers=headers)).status_code == 200
        await asyncio.sleep(1)
        delivered, cpu = calls.delivered, sum(s.cpu_seconds() for s in servers)
        for n in range(queue.called + 4, queue.called + 4 + count):
            label = ticket_number("A", n)
            started = time.perf_counter()
            reply = await c.post(f"/counter/{counter}/next", headers=headers)
            assert reply.status_code == 200, reply.text[-300:]
            done = await asyncio.wait_for(calls.future(label), 30)
            latencies.append((done - started) * 1000)
            await asyncio.sleep(random.uniform(0.1, 0.2))
            await bare.one()  # the baseline, at the same moments of a shared machine
            await asyncio.sleep(random.uniform(0.1, 0.2))
        await asyncio.sleep(1)  # the last boards
        delivered, cpu = calls.delivered - delivered, sum(s.cpu_seconds() for s in servers) - cpu
    queue.called += count + 3
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    start = len(bare.latencies) - count
    result = {
        "bare99": percentile(bare.latencies[start:], 0.99),
        "p50": percentile(latencies, 0.5),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies),
        "cpu_us": cpu / max(delivered, 1) * 1e6,
        "delivered": delivered,
    }
    print(
        f"{name:>15}: call → last of {len(tokens)} players p50 {result['p50']:6.1f} ms, "
        f"p99 {result['p99']:6.1f} ms, max {result['max']:6.1f} ms "
        f"(bare broadcast() p99 {result['bare99']:5.1f} ms: "
        f"×{result['p99'] / result['bare99']:.2f}); server CPU "
        f"{result['cpu_us']:5.1f} µs per delivered message ({delivered} messages)",
        flush=True,
    )
    return result


async def main(players: int, count: int, postgres: str, redis_url: str) -> None:
    import redis

    raise_nofile()
    database_url = _fresh_database(postgres)
    tokens, counter, service = _seed(database_url, players)
    queue = Queue(counter, service)
    hub_url = f"{redis_url.rstrip('/')}/{REDIS_DB}"
    redis.Redis.from_url(hub_url).flushdb()
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-processes-") as tmp:
        folder = Path(tmp)
        bare = Bare(folder, tokens)
        await bare.start()
        one = [Server(_env(database_url, "memory://", folder / "one"), folder / "one.log")]
        try:
            results["one"] = await _run("one process", one, tokens, queue, count, bare)
        finally:
            one[0].stop()
        two = [
            Server(_env(database_url, hub_url, folder / f"two{i}"), folder / f"two{i}.log")
            for i in (1, 2)
        ]
        try:
            results["two"] = await _run("two on Redis", two, tokens, queue, count, bare)
        finally:
            for server in two:
                server.stop()
            await bare.stop()
    one_r, two_r = results["one"], results["two"]
    print(
        f"two processes on Redis / one process: p50 ×{two_r['p50'] / one_r['p50']:.2f}, "
        f"p99 ×{two_r['p99'] / one_r['p99']:.2f}, CPU per delivered message "
        f"×{two_r['cpu_us'] / one_r['cpu_us']:.2f}"
    )
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="200 players, 30 calls")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379")
    args = parser.parse_args()
    if args.quick:
        args.players, args.calls = 200, 30
    asyncio.run(main(args.players, args.calls, args.postgres, args.redis))
