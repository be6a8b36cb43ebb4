"""Memory per idle player, and the reconnect storm after a server restart.

Servers run in their own process (bench/_players.py) on a temporary SQLite database with
N paired screens, each with a manifest; N real players connect from this process.

1. Memory: VmRSS of the server process (/proc/<pid>/status) before and after N idle
   players connected and got their manifest, divided by N; 20 players connect and leave
   first so one-time warm-up is not counted. Baseline: the bare websockets `serve()`.
2. Storm: with the N players connected to our server, the server is stopped (SIGTERM:
   sockets closed with 1012) and a new server process started on the same port and
   database. Each player waits a random 0-5 s from the close (full jitter, as after 1012),
   then reconnects; a failed attempt waits a random 0..min(60, 2^attempt) s. Every hello
   says `manifest_version: 0`, so each must be sent its manifest again. Reports the time
   from the stop and from the new server's readiness until all N have their manifest, the
   failed connection attempts, the new server's CPU per player from its readiness until
   then, and its peak RSS (VmHWM).
3. Baseline, the thundering herd: the same restart, but all players reconnect at once the
   moment the new server is ready (a failed attempt retries after 0.1 s).

    .venv/bin/python bench/storm.py [--n 1000] [--jitter 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _players import (
    Player,
    ServerProcess,
    Tally,
    connect_all,
    finish,
    free_port,
    make_database,
    print_server_logs,
    proc_status,
    raise_nofile,
)
from websockets.exceptions import InvalidHandshake

WARM = 20
MIB = 1024


@dataclass
class Policy:
    """How every player reconnects after the server closes its socket."""

    mode: str = "jitter"  # "jitter", "herd" or "stay" (do not reconnect)
    jitter: float = 5.0
    ready: asyncio.Event = field(default_factory=asyncio.Event)  # herd: the server is up
    failures: int = 0


class StormPlayer(Player):
    def __init__(self, url: str, token: str, tally: Tally, policy: Policy) -> None:
        super().__init__(url, token, tally)
        self.policy = policy

    async def session(self) -> int | None:
        """Stay connected: reconnect after every close, as the policy says."""
        code = await super().session()
        while self.policy.mode != "stay":
            if self.policy.mode == "herd":
                await self.policy.ready.wait()
            else:
                await asyncio.sleep(random.uniform(0, self.policy.jitter))
            attempt = 0
            while True:
                try:
                    code = await super().session()
                    break
                except (OSError, TimeoutError, InvalidHandshake):
                    self.policy.failures += 1
                    attempt += 1
                    if self.policy.mode == "herd":
                        await asyncio.sleep(0.1)
                    else:
                        await asyncio.sleep(random.uniform(0, min(60, 2**attempt)))
        return code


async def _memory(
    server: ServerProcess, tokens: list[str], kind: str, make: type[Player], **extra: Policy
) -> tuple[int, int, Tally, list[asyncio.Task[int | None]]]:
    """RSS (KiB) before and after len(tokens) - WARM idle players connect."""
    tally = Tally()
    url = f"ws://127.0.0.1:{server.port}/player/ws"
    warm = [Player(url, token, tally) for token in tokens[:WARM]]
    tasks = await connect_all(warm, tally, kind)
    for player in warm:
        await player.ws.close()
    await finish(tasks)
    for _ in range(100):  # until the server has let the warm-up players go
        if not (await server.call("stats"))["connections"]:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1)
    before = proc_status(server.pid)["VmRSS"]
    players = [make(url, token, tally, **extra) for token in tokens[WARM:]]
    tasks = await connect_all(players, tally, kind)
    await asyncio.sleep(2)
    return before, proc_status(server.pid)["VmRSS"], tally, tasks


async def _restart(
    server: ServerProcess, tally: Tally, policy: Policy, players: int, mode: str
) -> tuple[ServerProcess, dict[str, float]]:
    """Stop the server, start a new one on the same port, wait for every manifest."""
    policy.mode, policy.failures = mode, 0
    policy.ready.clear()
    base = tally.counts["manifest"]
    stopped = time.perf_counter()
    await server.stop()
    down = time.perf_counter()
    new = ServerProcess("ours", server.port, server.log, **server.options)
    await new.start()
    ready = time.perf_counter()
    cpu = (await new.call("stats"))["cpu"]
    policy.ready.set()
    await tally.reach("manifest", base + players, within=150)
    done = tally.last["manifest"]
    cpu = (await new.call("stats"))["cpu"] - cpu
    await asyncio.sleep(1)
    return new, {
        "stop": down - stopped,
        "start": ready - down,
        "from_stop": done - stopped,
        "from_ready": done - ready,
        "failures": policy.failures,
        "cpu": cpu * 1000 / players,
        "hwm": proc_status(new.pid)["VmHWM"] / MIB,
        "rss": proc_status(new.pid)["VmRSS"] / MIB,
    }


async def main(players: int, jitter: float) -> None:
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-storm-") as tmp:
        folder = Path(tmp)
        url, tokens = make_database(folder, WARM + players, manifests=True)
        memory = {}

        bare = ServerProcess("bare", free_port(), folder / "bare.log")
        await bare.start()
        *memory["websockets serve()"], _, tasks = await _memory(bare, tokens, "welcome", Player)
        await bare.stop()
        await finish(tasks)

        policy = Policy(jitter=jitter)
        server = ServerProcess(
            "ours", free_port(), folder / "ours.log", database_url=url, data_dir=str(folder)
        )
        await server.start()
        before, after, tally, tasks = await _memory(
            server, tokens, "manifest", StormPlayer, policy=policy
        )
        memory["signage hub + uvicorn"] = [before, after]
        server, storm = await _restart(server, tally, policy, players, "jitter")
        server, herd = await _restart(server, tally, policy, players, "herd")
        policy.mode = "stay"
        await server.stop()
        await finish(tasks)

        print(f"Memory per idle player ({players} players, server VmRSS)")
        print(f"{'server':<24} {'before MiB':>10} {'after MiB':>10} {'KiB/player':>11}")
        for name, (rss0, rss1) in memory.items():
            per = (rss1 - rss0) / players
            print(f"{name:<24} {rss0 / MIB:>10.1f} {rss1 / MIB:>10.1f} {per:>11.1f}")
        print(f"(ours with {players} players, before the restart: {after / MIB:.1f} MiB)")
        print(f"\nRestart with {players} players connected, each must get its manifest again")
        print(
            f"{'reconnect':<22} {'stop s':>6} {'start s':>7} {'all from stop s':>15}"
            f" {'from ready s':>12} {'failed':>6} {'CPU ms/player':>13} {'peak RSS MiB':>12}"
        )
        for name, r in ((f"jitter 0-{jitter:g} s+backoff", storm), ("herd (all at once)", herd)):
            print(
                f"{name:<22} {r['stop']:>6.1f} {r['start']:>7.1f} {r['from_stop']:>15.1f}"
                f" {r['from_ready']:>12.1f} {r['failures']:>6.0f} {r['cpu']:>13.1f}"
                f" {r['hwm']:>12.1f}"
            )
        print_server_logs(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--jitter", type=float, default=5.0)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(args.n, args.jitter))
    print(f"took {time.perf_counter() - started:.0f} s")
