"""Queue calling: the tail of call-to-board latency with 1,000 connected board players,
and the tickets per second the kiosk endpoint sustains.

The server is the real app under uvicorn in its own process (bench/_players.py `ours`, on
a temporary SQLite database), with the voice on. Board players are real websocket
clients in this process; each sends a heartbeat every 30 s (as players do, first one at a
random moment), so the server records their status while counters call.

- Latency: staff press "call next" (an htmx POST to the console, as they do), one call at
  a time, 0.3-1 s apart, going round the counters; for each call, the time from sending
  the request to the moment the last of the players has the `queue.call` event: p50, p90,
  p99, max. Tickets are issued first and their numbers spoken (as they are at issue time
  in a city hall), so each call only fetches ready clips. Baseline, the same run and the
  same players (each with a second connection): the bare `websockets` library's `serve()`
  + `broadcast()` answering `GET /bench/publish` (bench/latency.py's baseline), one event
  after each call, so both are measured through the same moments of a shared machine.
  The ratio printed is of the p99s. Also shown: a bare hub event through our server (no database,
  no queue), which tells the push path apart from the rest of a call.
- Where the tail comes from: during the calls the server's event loop is watched
  (bench/_players.py `LagProbe`): late wake-ups of a 5 ms timer, garbage collections, and
  with `--callbacks` each loop callback over 10 ms; the slowest calls are listed with what
  the server was doing meanwhile.
- Throughput: kiosks (8 at once) issuing tickets through `POST /api/kiosk/tickets` (token
  check, the site lock, numbering, audit, board refresh). Baseline: `GET /healthz`
  through the same middleware at the same concurrency.

    .venv/bin/python bench/calls.py [--quick] [--players 1000] [--counters 10] [--calls 300]

A full run takes about 6 minutes on 2 cores; `--quick` (60 calls) about 2.
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
    BENCH_LABEL,
    ServerProcess,
    Tally,
    finish,
    free_port,
    hello,
    http_get,
    make_database,
    percentile,
    print_server_logs,
    raise_nofile,
)

PASSWORD = "bench password 1234"
KIOSKS = 8
EVENT, WELCOME = '{"type":"event"', '{"type":"welcome"'  # how the server's messages start
HEARTBEAT = 30.0  # seconds between a player's heartbeats (signage/live/socket.py)
WARM_UP = 3  # events before each measured series
SHOW_SLOWEST = 8  # slow calls listed with what the server did meanwhile
PROFILE = False  # --profile: the server's busiest functions while counters call
CALLBACKS = False  # --callbacks: time each server loop callback


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

    async def heartbeats(ws: Any) -> None:
        await asyncio.sleep(random.uniform(0, HEARTBEAT))
        while True:
            await ws.send(json.dumps({"type": "heartbeat", "manifest_version": 0,
                                      "playing": {"main": "queue board"}}))  # fmt: skip
            await asyncio.sleep(HEARTBEAT)

    async with connect(url, max_size=None, ping_interval=None, compression=None,
                       open_timeout=60) as ws:  # fmt: skip
        await ws.send(hello(token))
        beating = asyncio.ensure_future(heartbeats(ws))
        try:
            async for raw in ws:
                # Only events and welcomes are read: 1,000 boards parsing every board
                # message in this one process would make the measurement its own.
                if raw.startswith(EVENT):
                    event = json.loads(raw)["event"]
                elif raw.startswith(WELCOME):
                    tally.add("welcome")
                    continue
                else:
                    continue
                if event.get("label") == BENCH_LABEL:
                    tally.add("bench")
                elif event.get("kind") == "queue.call":
                    boards.got(event["label"])
        except ConnectionClosed:
            pass
        finally:
            beating.cancel()


async def _connect(port: int, tokens: list[str], boards: Boards) -> tuple[Tally, list[Any]]:
    tally = Tally()
    url = f"ws://127.0.0.1:{port}/player/ws"
    tasks: list[asyncio.Task[Any]] = []
    for start in range(0, len(tokens), 50):
        batch = tokens[start : start + 50]
        tasks += [asyncio.ensure_future(_board_player(url, t, tally, boards)) for t in batch]
        await tally.reach("welcome", start + len(batch), within=60)
    return tally, tasks


async def _events(port: int, tally: Tally, players: int, count: int) -> list[float]:
    """Latencies (ms) of `count` events published by GET /bench/publish, one at a time."""
    latencies = []
    for _ in range(count):
        base = tally.counts["bench"]
        started = time.perf_counter()
        assert await http_get(port, "/bench/publish") == 200
        await tally.reach("bench", base + players, within=30)
        latencies.append((tally.last["bench"] - started) * 1000)
        await asyncio.sleep(random.uniform(0.02, 0.08))
    return latencies


class Bare:
    """The baseline: the same players also connected to the bare library's `broadcast()`
    (a second connection each), measured one event at a time between the calls, so that
    both see the same moments of a machine shared with other work."""

    def __init__(self, folder: Path, tokens: list[str]) -> None:
        self.server = ServerProcess("bare", free_port(), folder / "bare.log")
        self.tokens = tokens
        self.tally = Tally()
        self.tasks: list[asyncio.Task[Any]] = []
        self.latencies: list[float] = []

    async def start(self) -> None:
        await self.server.start()
        self.tally, self.tasks = await _connect(self.server.port, self.tokens, Boards(0))
        await _events(self.server.port, self.tally, len(self.tokens), WARM_UP)

    async def one(self) -> None:
        self.latencies += await _events(self.server.port, self.tally, len(self.tokens), 1)

    async def stop(self) -> None:
        await self.server.stop()
        await finish(self.tasks, within=10)


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


async def main(players: int, counters: int, calls: int, issue: int, hub_events: int) -> None:
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-queue-") as tmp:
        folder = Path(tmp)
        url, tokens = make_database(folder, players)
        kiosk, counter_ids = _prepare(url, counters)
        port = free_port()
        server = ServerProcess("ours", port, folder / "ours.log", database_url=url,
                               data_dir=str(folder))  # fmt: skip
        bare = Bare(folder, tokens)
        try:
            await server.start()
        except RuntimeError:
            print((folder / "ours.log").read_text()[-3000:])
            raise
        try:
            results = await _run(server, bare, folder, tokens, kiosk, counter_ids, calls,
                                 issue, hub_events)  # fmt: skip
        finally:
            await server.stop()
            await bare.stop()
        results["bare"] = bare.latencies
        _print(results, players, counters)
        print_server_logs(folder)


async def _run(
    server: ServerProcess,
    bare: Bare,
    folder: Path,
    tokens: list[str],
    kiosk: str,
    counter_ids: list[int],
    calls: int,
    issue: int,
    hub_events: int,
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
    await bare.start()
    boards = Boards(len(tokens))
    tally, tasks = await _connect(port, tokens, boards)
    await _events(port, tally, len(tokens), WARM_UP)
    results["hub"] = await _events(port, tally, len(tokens), hub_events)
    calls_made: list[tuple[float, float, str]] = []  # (sent, arrived, label)
    replies: list[float] = []  # ms from sending "call next" to its answer (the console)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        csrf = await _staff(client, counter_ids[0])
        headers = {"HX-Request": "true", "X-CSRF-Token": csrf}
        if PROFILE:
            await server.call("profile", on=True)
        await server.call("lag", on=True, callbacks=CALLBACKS)
        started = time.perf_counter()
        for k in range(calls):
            await asyncio.sleep(random.uniform(0.3, 1.0))
            sent = time.perf_counter()
            reply = await client.post(f"/counter/{counter_ids[k % len(counter_ids)]}/next",
                                      headers=headers)  # fmt: skip
            replies.append((time.perf_counter() - sent) * 1000)
            assert reply.status_code == 200, reply.text[-300:]
            label = re.search(r'data-ticket="([A-Z]+-\d+)"', reply.text)
            assert label
            arrived = await asyncio.wait_for(boards.future(label.group(1)), 30)
            calls_made.append((sent, arrived, label.group(1)))
            await bare.one()
        results["seconds"] = time.perf_counter() - started
        results["lag"] = await server.call("lag", on=False)
    if PROFILE:
        print((await server.call("profile", on=False, sort="cumulative", top=45))["text"])
    # What one full collection costs with the players connected (the server's longest
    # pause), and again once what exists then is frozen.
    results["collect"] = [await server.call("collect", freeze=True), await server.call("collect")]
    results["calls"], results["replies"] = calls_made, replies
    for task in tasks:
        task.cancel()
    await finish(tasks, within=5)
    return results


def _row(name: str, values: list[float]) -> str:
    cells = "".join(f" {percentile(values, q):>7.1f}" for q in (0.5, 0.9, 0.99))
    return f"{name:<40}{cells} {max(values):>7.1f}"


def _print(results: dict[str, Any], players: int, counters: int) -> None:
    made: list[tuple[float, float, str]] = results["calls"]
    latencies = [(arrived - sent) * 1000 for sent, arrived, _ in made]
    bare = results["bare"]
    print(f"Call-to-board latency: 'call next' (HTTP) -> last of {players} board players")
    print(f"{'':<40} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    print(_row(f"queue call ({len(made)}, {counters} counters)", latencies))
    print(_row("baseline: bare websockets broadcast()", bare))
    print(_row("(a bare hub event through our server)", results["hub"]))
    print(_row("(the console's answer to 'call next')", results["replies"]))
    ratio = percentile(latencies, 0.99) / percentile(bare, 0.99)
    print(f"ratio of the p99s, queue call / bare broadcast(): {ratio:.2f}x (target <= 2)"
          f" -- {len(made)} calls in {results['seconds']:.0f} s")  # fmt: skip
    _print_lag(results["lag"], made, percentile(bare, 0.99))
    first, frozen = results["collect"]
    print(f"a full garbage collection with the players connected: {first['ms']:.0f} ms "
          f"({first['tracked']:,} objects); after gc.freeze(): {frozen['ms']:.0f} ms "
          f"({frozen['tracked']:,} objects)")  # fmt: skip
    print(f"Kiosk: {results['tickets']:.0f} tickets/s, {KIOSKS} kiosks at once "
          f"(baseline GET /healthz: {results['healthz']:.0f} requests/s, ratio "
          f"{results['tickets'] / results['healthz']:.2f})")  # fmt: skip
    print(f"voice: {results['clips']} clips of issued numbers ready "
          f"{results['clip_seconds']:.1f} s after the last ticket")  # fmt: skip


def _by_name(slow: list[list[Any]]) -> str:
    """Loop callbacks over 10 ms, summed by what they ran, biggest first."""
    total: dict[str, list[float]] = {}
    for _, took, name in slow:
        entry = total.setdefault(name, [0, 0.0])
        entry[0] += 1
        entry[1] += took * 1000
    ranked = sorted(total.items(), key=lambda x: -x[1][1])[:6]
    return ", ".join(f"{name} x{n:.0f} {ms:.0f} ms" for name, (n, ms) in ranked)


def _print_lag(lag: dict[str, Any], made: list[tuple[float, float, str]], bare99: float) -> None:
    """The server's event loop during the calls, and what it did during the slowest."""
    late = [x[1] * 1000 for x in lag["late"]]
    gcs = lag["gcs"]
    print(
        f"server loop during the calls: {len(late)} wake-ups over 10 ms late"
        + (f" (max {max(late):.0f} ms, {sum(late):.0f} ms in all)" if late else "")
        + "; garbage collections: "
        + ", ".join(
            f"gen{g} x{sum(1 for x in gcs if x[1] == g)} max "
            f"{max((x[2] for x in gcs if x[1] == g), default=0) * 1000:.1f} ms"
            for g in (0, 1, 2)
        )
    )
    if lag["slow"]:
        print(f"  callbacks over 10 ms: {_by_name(lag['slow'])}")
    slowest = sorted(made, key=lambda m: m[0] - m[1])[:SHOW_SLOWEST]
    for sent, arrived, label in slowest:
        took = (arrived - sent) * 1000
        if took <= 2 * bare99:
            break
        stalls = [x[1] * 1000 for x in lag["late"] if sent - 0.05 <= x[0] <= arrived]
        during = [f"loop late {len(stalls)}x, {sum(stalls):.0f} ms in all"] if stalls else []
        during += [
            f"gen{x[1]} gc {x[2] * 1000:.0f} ms"
            for x in lag["gcs"]
            if sent <= x[0] <= arrived and x[2] > 0.005
        ]
        slow = [x for x in lag["slow"] if sent - 0.05 <= x[0] <= arrived]
        if slow:
            during.append(_by_name(slow))
        print(f"  slow call {label}: {took:.0f} ms; meanwhile: " + ("; ".join(during) or "-"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 calls: about 2 minutes")
    parser.add_argument("--players", type=int, default=1000)
    parser.add_argument("--counters", type=int, default=10)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--issue", type=int, default=0, help="tickets (default: calls + 20)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--callbacks", action="store_true",
                        help="also time each server loop callback (a little slower)")  # fmt: skip
    args = parser.parse_args()
    PROFILE, CALLBACKS = args.profile, args.callbacks
    calls = 60 if args.quick else args.calls
    started = time.perf_counter()
    asyncio.run(main(args.players, args.counters, calls, args.issue or calls + 20,
                     hub_events=min(calls, 100)))  # fmt: skip
    print(f"took {time.perf_counter() - started:.0f} s")
