"""Call-to-screen latency: from sending an HTTP request that publishes an event to the
moment the last of N players has it.

The server runs in its own process (bench/_players.py): `ours` is the real app under
uvicorn on a temporary SQLite database with N paired screens, with one test-only route
`GET /bench/publish` added to its router that calls `app.state.hub.publish(...)` for every
screen, so the request goes through the real middleware stack, the hub and the player
sockets. The baseline `bare` is `websockets.asyncio.server.serve()` whose `process_request`
answers the same path by calling `broadcast()`. N real players connect from this process.
Each event: a fresh HTTP connection and GET, then wait until all N players have the event;
the latency is the last player's receive time minus the time the request started. Events
are 20-80 ms apart. Percentiles are nearest-rank. The players share one process, so their
own receive time is part of both numbers.

    .venv/bin/python bench/latency.py [--n 1000] [--events 100]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from pathlib import Path

from _players import (
    Player,
    ServerProcess,
    Tally,
    connect_all,
    finish,
    free_port,
    http_get,
    make_database,
    percentile,
    print_server_logs,
    raise_nofile,
)

WARM_UP = 3


async def _measure(
    kind: str, events: int, folder: Path, tokens: list[str], **options: str
) -> list[float]:
    """Latencies to the last player, in ms."""
    server = ServerProcess(kind, free_port(), folder / f"{kind}.log", **options)
    await server.start()
    tally = Tally()
    url = f"ws://127.0.0.1:{server.port}/player/ws"
    tasks = await connect_all([Player(url, token, tally) for token in tokens], tally)
    latencies = []
    try:
        for k in range(WARM_UP + events):
            base = tally.counts["event"]
            started = time.perf_counter()
            assert await http_get(server.port, "/bench/publish") == 200
            await tally.reach("event", base + len(tokens), within=30)
            if k >= WARM_UP:
                latencies.append((tally.last["event"] - started) * 1000)
            await asyncio.sleep(random.uniform(0.02, 0.08))
    finally:
        await server.stop()
        await finish(tasks)
    return latencies


async def main(players: int, events: int) -> None:
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        folder = Path(tmp)
        url, tokens = make_database(folder, players)
        results = {
            "websockets broadcast()": await _measure("bare", events, folder, tokens),
            "signage hub + uvicorn": await _measure(
                "ours", events, folder, tokens, database_url=url, data_dir=str(folder)
            ),
        }
        print(f"Call-to-screen latency: HTTP request -> last of {players} players, {events} events")
        print(f"{'server':<24} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
        for name, latencies in results.items():
            p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
            print(f"{name:<24} {p50:>7.1f} {p99:>7.1f} {max(latencies):>7.1f}")
        print("(both include this process receiving all players' messages on one core)")
        print_server_logs(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--events", type=int, default=100)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(args.n, args.events))
    print(f"took {time.perf_counter() - started:.0f} s")
