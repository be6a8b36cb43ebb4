"""Fan-out cost: server CPU per delivered message, the real hub against websockets' broadcast().

Each server runs in its own process (bench/_players.py): `ours` is the real app under
uvicorn with the production websocket options, on a temporary SQLite database with paired
screens; `bare` is `websockets.asyncio.server.serve()` + `broadcast()`. N real players
connect from this process (50 at a time) and say hello. Then 20 events (calls without sound,
about 330 bytes) are published inside the server's event loop (`app.state.hub.publish` for
ours), two ways:

- one at a time: publish one event, wait until every player has it, then the next;
- burst: the 20 events back to back.

Server CPU is `time.process_time()` in the server process from just before the first
publish until every player has reported the last event, divided by N x 20 deliveries
(median of 3 rounds). The target for ours is at most 1.5x bare. With `--profile` (or when
the target is missed) one more round on ours runs under cProfile and the top functions are
printed.

    .venv/bin/python bench/fanout.py [--n 500 2000] [--events 20] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _players import (
    PAD,
    Player,
    ServerProcess,
    Tally,
    connect_all,
    event_text,
    finish,
    free_port,
    make_database,
    print_server_logs,
    raise_nofile,
)

ROUNDS = 3
TARGET = 1.5
# (players, burst) -> (server CPU µs per delivery, wall ms per event)
Results = dict[tuple[int, bool], tuple[float, float]]


async def _round(
    server: ServerProcess, tally: Tally, players: int, events: int, burst: bool
) -> tuple[float, float]:
    """One round: (server CPU µs per delivery, wall ms per event)."""
    base = tally.counts["event"]
    before = await server.call("stats")
    started = time.perf_counter()
    if burst:
        await server.call("publish", count=events)
        await tally.reach("event", base + players * events)
    else:
        for k in range(1, events + 1):
            await server.call("publish", count=1)
            await tally.reach("event", base + players * k)
    wall = time.perf_counter() - started
    after = await server.call("stats")
    return (after["cpu"] - before["cpu"]) / (players * events) * 1e6, wall * 1000 / events


async def _run_server(
    kind: str, sizes: list[int], events: int, folder: Path, tokens: list[str], **options: str
) -> tuple[Results, ServerProcess, Tally, list[asyncio.Task[int | None]]]:
    server = ServerProcess(kind, free_port(), folder / f"{kind}.log", **options)
    await server.start()
    url = f"ws://127.0.0.1:{server.port}/player/ws"
    tally = Tally()
    players: list[Player] = []
    tasks: list[asyncio.Task[int | None]] = []
    results: Results = {}
    for size in sizes:
        more = [Player(url, token, tally) for token in tokens[len(players) : size]]
        tasks += await connect_all(more, tally)
        players += more
        assert (await server.call("stats"))["connections"] == size
        await _round(server, tally, size, 2, burst=False)  # warm up
        for burst in (False, True):
            rounds = [await _round(server, tally, size, events, burst) for _ in range(ROUNDS)]
            results[size, burst] = (
                statistics.median(r[0] for r in rounds),
                statistics.median(r[1] for r in rounds),
            )
    return results, server, tally, tasks


async def main(sizes: list[int], events: int, profile: bool) -> None:
    raise_nofile()
    sizes = sorted(sizes)
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        folder = Path(tmp)
        url, tokens = make_database(folder, sizes[-1])
        bare, bare_server, _, bare_tasks = await _run_server("bare", sizes, events, folder, tokens)
        await bare_server.stop()
        await finish(bare_tasks)
        ours, server, tally, tasks = await _run_server(
            "ours", sizes, events, folder, tokens, database_url=url, data_dir=str(folder)
        )
        size = len(event_text(1, PAD).encode())
        print(f"Fan-out: server CPU per delivery, {events} events of {size} B, median of {ROUNDS}")
        print(
            f"{'players':>7}  {'mode':<12} {'bare µs':>8} {'ours µs':>8} {'ratio':>6}"
            f"  {'bare ms/event':>13} {'ours ms/event':>13}"
        )
        worst = 0.0
        for size in sizes:
            for burst in (False, True):
                (b_cpu, b_wall), (o_cpu, o_wall) = bare[size, burst], ours[size, burst]
                worst = max(worst, o_cpu / b_cpu)
                mode = "burst of 20" if burst else "one at a time"
                print(
                    f"{size:>7}  {mode:<13}{b_cpu:>8.1f} {o_cpu:>8.1f} {o_cpu / b_cpu:>5.2f}x"
                    f"  {b_wall:>13.1f} {o_wall:>13.1f}"
                )
        print(f"target: ours/bare <= {TARGET}x -> {'met' if worst <= TARGET else 'NOT met'}")
        if profile or worst > TARGET:
            await server.call("profile", on=True)
            await _round(server, tally, sizes[-1], events, burst=False)
            text = (await server.call("profile", on=False, top=18))["text"]
            print(f"\ncProfile of ours, {sizes[-1]} players, {events} events one at a time:")
            print("\n".join(line for line in text.splitlines()[5:] if line.strip()))
        await server.stop()
        await finish(tasks)
        print_server_logs(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500, 2000])
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(args.n, args.events, args.profile))
    print(f"took {time.perf_counter() - started:.0f} s")
