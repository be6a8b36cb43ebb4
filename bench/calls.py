"""Queue calling: call-to-board latency with 20 counters calling and 200 connected board
players, and the tickets per second the kiosk endpoint sustains.

The server is the real app under uvicorn in its own process (bench/_players.py `ours`, on
a temporary SQLite database), with the voice on. Board players are real websocket
clients in this process.

- Latency: each counter presses "call next" (an htmx POST to the console, as staff do)
  every 0.5-2 s; for each call, the time from sending the request to the moment the last
  of the 200 players has the `queue.call` event. Tickets are issued first and their
  numbers spoken (as they are at issue time in a city hall), so each call only fetches
  ready clips. Baseline, same server and players: a bare hub event published by
  `GET /bench/publish`, one at a time.
- Throughput: kiosks (8 at once) issuing tickets through `POST /api/kiosk/tickets` (token
  check, the site lock, numbering, audit, board refresh). Baseline: `GET /healthz`
  through the same middleware at the same concurrency.

    .venv/bin/python bench/calls.py [--players 200] [--counters 20] [--calls 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2 as httpx
import sqlalchemy as sa
from _players import (
    ServerProcess,
    Tally,
    finish,
    free_port,
    hello,
    http_get,
    log_problems,
    make_database,
    percentile,
    raise_nofile,
)

PASSWORD = "bench password 1234"
KIOSKS = 8
PROFILE = False  # --profile: the server's busiest functions while counters call


def _prepare(url: str, counters: int) -> tuple[str, list[int]]:
    """Queue rules, two services, the counters and a kiosk; returns its token and the
    counter ids."""
    from signage.auth import hash_password
    from signage.db import create_sync_engine, utcnow
    from signage.models import (
        Kiosk,
        QueueCounter,
        QueueService,
        QueueSite,
        Site,
        User,
        queue_counter_services,
    )
    from signage.queue.kiosks import kiosk_token_hash

    engine = create_sync_engine(url)
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        site_id = conn.scalar(sa.select(Site.id))
        conn.execute(sa.insert(QueueSite).values(site_id=site_id, opens_at="00:00",
                     closes_at="23:59", normal_per_priority=3, noshow_after_recalls=2,
                     highlight_seconds=10, voice_languages="ja,en",
                     normal_since_priority=0))  # fmt: skip
        services = [
            conn.execute(
                sa.insert(QueueService).values(
                    site_id=site_id,
                    prefix=p,
                    name=n,
                    name_en="",
                    names={},
                    position=i,
                    open=True,
                    last_number=0,
                    created_at=utcnow(),
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            for i, (p, n) in enumerate((("A", "住民票"), ("B", "税")))
        ]
        ids = []
        for number in range(1, counters + 1):
            counter_id = conn.execute(
                sa.insert(QueueCounter).values(
                    site_id=site_id, number=number, name="", open=True, created_at=utcnow()
                )
            ).inserted_primary_key[0]  # type: ignore[index]
            conn.execute(
                sa.insert(queue_counter_services),
                [{"counter_id": counter_id, "service_id": s} for s in services],
            )
            ids.append(int(counter_id))
        conn.execute(sa.insert(Kiosk).values(site_id=site_id, name="bench",
                     token_hash=kiosk_token_hash(token), created_at=utcnow()))  # fmt: skip
        now = utcnow()
        conn.execute(sa.insert(User).values(username="chief", display_name="chief",
                     password_hash=hash_password(PASSWORD), role="admin", site_id=None,
                     language="ja", active=True, created_at=now,
                     password_changed_at=now))  # fmt: skip
    engine.dispose()
    return token, ids


class Boards:
    """Per call label: how many players have it and when the last one got it."""

    def __init__(self, players: int) -> None:
        self.players = players
        self.seen: dict[str, list[float]] = {}
        self.done: dict[str, asyncio.Future[float]] = {}

    def got(self, label: str) -> None:
        entry = self.seen.setdefault(label, [0, 0.0])
        entry[0] += 1
        entry[1] = time.perf_counter()
        if entry[0] == self.players:
            self.future(label).set_result(entry[1])

    def future(self, label: str) -> asyncio.Future[float]:
        if label not in self.done:
            self.done[label] = asyncio.get_running_loop().create_future()
        return self.done[label]


async def _board_player(url: str, token: str, tally: Tally, boards: Boards) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    async with connect(url, max_size=None, ping_interval=None, compression=None) as ws:
        await ws.send(hello(token))
        try:
            async for raw in ws:
                message = json.loads(raw)
                tally.add(message["type"])
                event = message.get("event") or {}
                if event.get("kind") == "queue.call":
                    boards.got(event["label"])
                elif event.get("kind") == "bench":
                    tally.add("bench")
        except ConnectionClosed:
            pass


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


async def _issue(port: int, kiosk: str, count: int) -> float:
    """Tickets per second, KIOSKS at once."""
    headers = {"Authorization": f"Bearer {kiosk}"}
    done = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

        async def one_kiosk(k: int) -> None:
            nonlocal done
            while done < count:
                done += 1
                body = {"service": 1 + done % 2, "request_id": f"k{k}-{done:06d}"}
                reply = await client.post("/api/kiosk/tickets", json=body, headers=headers)
                assert reply.status_code == 201, reply.text

        started = time.perf_counter()
        await asyncio.gather(*(one_kiosk(k) for k in range(KIOSKS)))
        return count / (time.perf_counter() - started)


async def _healthz(port: int, count: int) -> float:
    done = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:

        async def one() -> None:
            nonlocal done
            while done < count:
                done += 1
                assert (await client.get("/healthz")).status_code == 200

        started = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(KIOSKS)))
        return count / (time.perf_counter() - started)


async def _wait_for_clips(folder: Path, expected: int, within: float) -> int:
    deadline = time.monotonic() + within
    while True:
        made = len(list((folder / "media" / "voice").glob("*.wav")))
        if made >= expected or time.monotonic() > deadline:
            return made
        await asyncio.sleep(0.5)


async def main(players: int, counters: int, calls: int, issue: int) -> None:
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        folder = Path(tmp)
        url, tokens = make_database(folder, players)
        kiosk, counter_ids = _prepare(url, counters)
        port = free_port()
        server = ServerProcess("ours", port, folder / "ours.log", database_url=url,
                               data_dir=str(folder))  # fmt: skip
        try:
            await server.start()
        except RuntimeError:
            print((folder / "ours.log").read_text()[-3000:])
            raise
        try:
            results = await _run(server, folder, tokens, kiosk, counter_ids, calls, issue)
        finally:
            await server.stop()
        _print(results, players, counters)
        lines = log_problems(folder / "ours.log")
        print(f"server log: {len(lines)} lines" + "".join(f"\n  {x}" for x in lines[:5]))


async def _run(
    server: ServerProcess,
    folder: Path,
    tokens: list[str],
    kiosk: str,
    counter_ids: list[int],
    calls: int,
    issue: int,
) -> dict[str, Any]:
    port = server.port
    results: dict[str, Any] = {}
    results["healthz"] = await _healthz(port, issue)
    results["tickets"] = await _issue(port, kiosk, issue)
    # Each number is spoken at issue time: two clips, Japanese and English. (The chime and
    # each counter's part are made at their first call.)
    started = time.perf_counter()
    results["clips"] = await _wait_for_clips(folder, 2 * issue, within=300)
    results["clip_seconds"] = time.perf_counter() - started
    tally, boards = Tally(), Boards(len(tokens))
    socket_url = f"ws://127.0.0.1:{port}/player/ws"
    tasks: list[asyncio.Task[Any]] = []
    for start in range(0, len(tokens), 50):
        batch = tokens[start : start + 50]
        tasks += [asyncio.ensure_future(_board_player(socket_url, t, tally, boards)) for t in batch]
        await tally.reach("welcome", start + len(batch), within=60)
    bare = []
    for _ in range(50):
        base = tally.counts["bench"]
        started = time.perf_counter()
        assert await http_get(port, "/bench/publish") == 200
        await tally.reach("bench", base + len(tokens), within=30)
        bare.append((tally.last["bench"] - started) * 1000)
        await asyncio.sleep(random.uniform(0.02, 0.08))
    results["bare"] = bare
    latencies: list[float] = []
    left = calls
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        csrf = await _staff(client, counter_ids[0])
        headers = {"HX-Request": "true", "X-CSRF-Token": csrf}

        async def counter(counter_id: int) -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await asyncio.sleep(random.uniform(0.5, 2.0))
                started = time.perf_counter()
                reply = await client.post(f"/counter/{counter_id}/next", headers=headers)
                assert reply.status_code == 200, reply.text[-300:]
                label = re.search(r'data-ticket="([A-Z]+-\d+)"', reply.text)
                assert label
                arrived = await asyncio.wait_for(boards.future(label.group(1)), 30)
                latencies.append((arrived - started) * 1000)

        if PROFILE:
            await server.call("profile", on=True)
        started = time.perf_counter()
        await asyncio.gather(*(counter(c) for c in counter_ids))
        results["calls_per_second"] = calls / (time.perf_counter() - started)
        if PROFILE:
            print((await server.call("profile", on=False, sort="cumulative", top=45))["text"])
    results["latencies"] = latencies
    for task in tasks:
        task.cancel()
    await finish(tasks, within=5)
    return results


def _print(results: dict[str, Any], players: int, counters: int) -> None:
    latencies, bare = results["latencies"], results["bare"]
    print(f"Call-to-board latency: 'call next' (HTTP) -> last of {players} board players")
    print(f"{'':<38} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    for name, values in (
        (f"queue call, {counters} counters calling", latencies),
        ("baseline: a bare hub event", bare),
    ):
        p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
        print(f"{name:<38} {p50:>7.1f} {p99:>7.1f} {max(values):>7.1f}")
    ratio = percentile(latencies, 0.5) / percentile(bare, 0.5)
    print(f"ratio of the p50s: {ratio:.2f}x ({len(latencies)} calls, "
          f"{results['calls_per_second']:.1f} calls/s in all)")  # fmt: skip
    print(f"Kiosk: {results['tickets']:.0f} tickets/s, {KIOSKS} kiosks at once "
          f"(baseline GET /healthz: {results['healthz']:.0f} requests/s, ratio "
          f"{results['tickets'] / results['healthz']:.2f})")  # fmt: skip
    print(f"voice: {results['clips']} clips of issued numbers ready "
          f"{results['clip_seconds']:.1f} s after the last ticket")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--players", type=int, default=200)
    parser.add_argument("--counters", type=int, default=20)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--issue", type=int, default=300)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    PROFILE = args.profile
    started = time.perf_counter()
    asyncio.run(main(args.players, args.counters, args.calls, args.issue))
    print(f"took {time.perf_counter() - started:.0f} s")
