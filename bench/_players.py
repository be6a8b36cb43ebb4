"""Shared helpers for the player benchmarks (fanout.py, latency.py, storm.py).

- `make_database`: a temporary SQLite database with N paired screens (and manifests).
- `ServerProcess`: the server in a child process, so its CPU and memory are its own:
  `ours` is the real app (create_app) under uvicorn with the production websocket
  options (`signage.cli.server_options`, the player websocket protocol included) and
  garbage-collector tuning (`signage.cli.tune_gc`; `--gc=default` leaves it out), plus
  one test-only route `GET /bench/publish`; `bare` is the websockets
  library's own `serve()` + `broadcast()`. Both take JSON-line commands on stdin
  (`stats`, `publish`, `profile`, `lag`, `collect`) and answer on stdout; the server stops
  on SIGTERM, when stdin closes, or after `--lifetime` seconds.
- `Player` and `Tally`: real websocket clients and what they received.

Run as a script, this file is the server process (`_players.py ours|bare --port ...`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import math
import pstats
import resource
import signal
import socket
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the messages, typed as the server and the players have them
    from content.protocol import CallEvent, EventMessage, Hello, Manifest, Welcome, Zone

PAD = 0  # characters added to the event's text: 0 is a call without sound, about 330 bytes
BATCH = 50  # players connecting at once, so the accept backlog is never overrun


def raise_nofile() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def event_text(seq: int, pad: int) -> str:
    """The `event` message, shaped and encoded as signage.live.hub does."""
    message: EventMessage = {
        "type": "event",
        "seq": seq,
        "id": uuid.uuid4().hex,
        "event": _event(pad),
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"))


BENCH_LABEL = "bench"  # the label of benchmark events: no ticket is ever called that


def _event(pad: int) -> CallEvent:
    """A queue call without sound (what a rush sends), its text padded by `pad`."""
    return {
        "kind": "queue.call",
        "ticket": 1,
        "label": BENCH_LABEL,
        "service": "住民票",
        "service_names": {"ja": "住民票"},
        "counter": 1,
        "counter_id": 1,
        "counter_name": "1番",
        "recall": False,
        "at": "2026-12-02T13:00:00+09:00",
        "highlight_seconds": 10,
        "audio": [],
        "texts": {"ja": "x" * pad},
    }


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    return values


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# --- database ------------------------------------------------------------------------


def make_database(folder: Path, screens: int, manifests: bool = False) -> tuple[str, list[str]]:
    """Migrate a new SQLite database in `folder`, add one site and `screens` paired screens
    (each with a manifest if asked); returns the URL and the device tokens."""
    import secrets

    import sqlalchemy as sa

    from signage.db import create_sync_engine, migrate, utcnow
    from signage.live.pairing import token_hash
    from signage.manifests import content_hash
    from signage.models import Manifest, Screen, Site

    url = f"sqlite:///{folder / 'signage.db'}"
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
        if manifests:
            ids = conn.scalars(sa.select(Screen.id).order_by(Screen.id)).all()
            bodies = [_manifest_body(i, site_id) for i in ids]
            conn.execute(
                sa.insert(Manifest),
                [
                    {
                        "screen_id": i,
                        "version": 1,
                        "content_hash": content_hash(b),
                        "body": b,
                        "built_at": now,
                    }
                    for i, b in zip(ids, bodies, strict=True)
                ],
            )
    engine.dispose()
    return url, tokens


def _manifest_body(screen_id: int, site_id: int) -> Manifest:
    """A small manifest of the real shape: one zone, one slot of three notices."""
    zone: Zone = {"name": "main", "kind": "main", "x": 0, "y": 0, "width": 1, "height": 1}
    start, end = "2026-01-01T00:00:00+00:00", "2026-01-03T01:00:00+00:00"
    return {
        "protocol": 1,
        "screen": {"id": screen_id, "name": f"s{screen_id}"},
        "queue": {"silent": False, "counter": None},
        "site": {
            "id": site_id,
            "name": "本庁舎",
            "name_en": "",
            "timezone": "Asia/Tokyo",
            "languages": ["ja"],
        },
        "layout": {"key": "full", "orientation": "landscape", "zones": [zone]},
        "from": start,
        "until": end,
        "timeline": {
            "main": [
                {
                    "start": start,
                    "end": end,
                    "schedule": None,
                    "playlist": 1,
                    "items": [
                        {"type": "notice", "duration": 15, "notice": k, "from": None, "until": None}
                        for k in range(3)
                    ],
                }
            ]
        },
        "fallback": {},
        "notices": {
            str(k): {
                "style": "normal",
                "image": None,
                "texts": [{"language": "ja", "title": f"お知らせ {k}", "html": "<p>本文</p>"}],
            }
            for k in range(3)
        },
        "media": [],
    }


# --- the server process (driver side) ------------------------------------------------


class ServerProcess:
    """One server in a child process; `call` sends it a command and returns its answer."""

    def __init__(self, kind: str, port: int, log: Path, **options: str) -> None:
        self.kind, self.port, self.log, self.options = kind, port, log, options
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def start(self, within: float = 60) -> None:
        args = [f"--{k.replace('_', '-')}={v}" for k, v in self.options.items()]
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                self.kind,
                f"--port={self.port}",
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=1 << 24,
            )
        answer = await self._read(within)
        assert answer.get("ready"), answer

    async def call(self, cmd: str, **args: Any) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **args}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._read(60)

    async def _read(self, within: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), within)
        if not line:
            raise RuntimeError(f"{self.kind} server exited; see {self.log}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def stop(self, within: float = 30) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        self.proc.terminate()
        try:
            await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()


def log_problems(log: Path) -> list[str]:
    """Lines of a server log that are not routine (warnings, errors, tracebacks)."""
    if not log.exists():
        return []
    return [line for line in log.read_text(errors="replace").splitlines() if line.strip()]


def print_server_logs(folder: Path, kinds: tuple[str, ...] = ("bare", "ours")) -> None:
    """After a run: how many lines each server logged, and the first five."""
    for kind in kinds:
        lines = log_problems(folder / f"{kind}.log")
        print(f"{kind} server log: {len(lines)} lines" + "".join(f"\n  {x}" for x in lines[:5]))


# --- players (client side) -----------------------------------------------------------


class Tally:
    """How many messages of each type all players received, and when the last came."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.last: dict[str, float] = {}
        self._goals: list[tuple[str, int, asyncio.Future[None]]] = []

    def add(self, kind: str) -> None:
        self.counts[kind] += 1
        self.last[kind] = time.perf_counter()
        if self._goals:
            for goal in [g for g in self._goals if self.counts[g[0]] >= g[1]]:
                self._goals.remove(goal)
                if not goal[2].done():
                    goal[2].set_result(None)

    async def reach(self, kind: str, count: int, within: float = 120) -> None:
        if self.counts[kind] >= count:
            return
        future = asyncio.get_running_loop().create_future()
        goal = (kind, count, future)
        self._goals.append(goal)
        try:
            await asyncio.wait_for(future, within)
        except TimeoutError:
            raise TimeoutError(
                f"{self.counts[kind]} of {count} {kind!r} after {within} s"
            ) from None
        finally:
            if goal in self._goals:
                self._goals.remove(goal)


def hello(token: str, manifest_version: int = 0) -> str:
    message: Hello = {
        "type": "hello",
        "token": token,
        "protocol": 1,
        "epoch": None,
        "seq": 0,
        "manifest_version": manifest_version,
        "player": {"kind": "bench", "version": "1"},
    }
    return json.dumps(message)


class Player:
    """One player: `session` connects, says hello, counts what it receives until the
    server closes the socket, and returns the close code."""

    def __init__(self, url: str, token: str, tally: Tally) -> None:
        self.url, self.token, self.tally = url, token, tally
        self.ws: Any = None

    async def session(self) -> int | None:
        from websockets.asyncio.client import connect
        from websockets.exceptions import ConnectionClosed

        async with connect(
            self.url, max_size=None, ping_interval=None, compression=None, open_timeout=60
        ) as ws:
            self.ws = ws
            with contextlib.suppress(ConnectionClosed):
                await ws.send(hello(self.token))
                async for message in ws:
                    self.tally.add(json.loads(message)["type"])
            self.tally.add("closed")
            code: int | None = ws.close_code
            return code


async def connect_all(
    players: list[Player], tally: Tally, kind: str = "welcome"
) -> list[asyncio.Task[int | None]]:
    """Start every player's session, BATCH at a time, each batch waiting for its `kind`."""
    tasks = []
    base = tally.counts[kind]
    for start in range(0, len(players), BATCH):
        batch = players[start : start + BATCH]
        tasks += [asyncio.ensure_future(p.session()) for p in batch]
        await tally.reach(kind, base + start + len(batch))
    return tasks


async def finish(tasks: list[asyncio.Task[Any]], within: float = 30) -> None:
    """Wait for sessions to end (the server closed them), cancelling any left."""
    if tasks:
        _, pending = await asyncio.wait(tasks, timeout=within)
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def http_get(port: int, path: str) -> int:
    """A plain HTTP/1.1 GET on a fresh connection; returns the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1])


# --- the server process (server side) ------------------------------------------------


def _describe(handle: asyncio.Handle) -> str:
    """Which coroutine (or function) a loop callback ran."""
    callback = handle._callback  # type: ignore[attr-defined]
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        coro = owner.get_coro()
        name = getattr(coro, "__qualname__", repr(coro))
        return f"task {name}"
    return getattr(callback, "__qualname__", repr(callback))[:120]


class LagProbe:
    """What stalls the server's event loop, for the `lag` command: a task that wakes every
    `TICK` s and keeps each late wake-up (its time and how late); each garbage collection
    (generation, duration); and, with `callbacks`, every loop callback slower than
    `SLOW` s (what asyncio's debug mode reports as slow, without the rest of debug mode).
    Times are `time.perf_counter()`, which is the same clock in every process on Linux."""

    TICK = 0.005
    LATE = 0.010
    SLOW = 0.010

    def __init__(self) -> None:
        self.late: list[tuple[float, float]] = []
        self.gcs: list[tuple[float, int, float, int]] = []
        self.slow: list[tuple[float, float, str]] = []
        self._gc_started = 0.0
        self._task: asyncio.Task[None] | None = None
        self._original_run: Any = None

    def start(self, callbacks: bool) -> None:
        import gc

        self.late, self.gcs, self.slow = [], [], []
        gc.callbacks.append(self._gc)
        self._task = asyncio.ensure_future(self._tick())
        if callbacks:
            handle = asyncio.events.Handle
            original = self._original_run = handle._run
            probe = self

            def timed_run(h: asyncio.Handle) -> None:
                started = time.perf_counter()
                original(h)
                took = time.perf_counter() - started
                if took > probe.SLOW:
                    probe.slow.append((started, took, _describe(h)))

            handle._run = timed_run  # type: ignore[method-assign]

    def stop(self) -> dict[str, Any]:
        import gc

        if self._task is not None:
            self._task.cancel()
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)
        if self._original_run is not None:
            asyncio.events.Handle._run = self._original_run  # type: ignore[method-assign]
            self._original_run = None
        return {"late": self.late, "gcs": self.gcs, "slow": self.slow}

    def _gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_started
            self.gcs.append((self._gc_started, info["generation"], took, info["collected"]))

    async def _tick(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.TICK)
            late = time.perf_counter() - started - self.TICK
            if late > self.LATE:
                self.late.append((started, late))


def _reply(answer: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()


async def _control(
    publish: Callable[[int, int], int], connections: Callable[[], int], stop: Callable[[], None]
) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    profiler: cProfile.Profile | None = None
    probe = LagProbe()
    while line := await reader.readline():
        command = json.loads(line)
        cmd = command["cmd"]
        if cmd == "stats":
            _reply({"cpu": time.process_time(), "connections": connections()})
        elif cmd == "publish":
            _reply({"seq": publish(command.get("count", 1), command.get("pad", PAD))})
        elif cmd == "profile" and command["on"]:
            profiler = cProfile.Profile(time.thread_time)  # CPU of the event loop's thread
            profiler.enable()
            _reply({})
        elif cmd == "profile" and profiler is not None:
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            if command.get("strip", True):
                stats.strip_dirs()
            stats.sort_stats(command.get("sort", "tottime")).print_stats(command.get("top", 15))
            _reply({"text": out.getvalue()})
        elif cmd == "collect":  # time a full garbage collection, then maybe freeze
            import gc

            tracked = len(gc.get_objects())
            started = time.perf_counter()
            gc.collect()
            took = time.perf_counter() - started
            if command.get("freeze"):
                gc.freeze()
            _reply({"ms": took * 1000, "tracked": tracked, "frozen": gc.get_freeze_count()})
        elif cmd == "lag" and command["on"]:
            probe.start(callbacks=command.get("callbacks", False))
            _reply({})
        elif cmd == "lag":
            _reply(probe.stop())
        else:
            _reply({"error": f"unknown command {cmd!r}"})
    stop()  # stdin closed: the driver is gone


async def _serve_ours(
    port: int,
    database_url: str,
    data_dir: str,
    lifetime: float,
    gc_tuning: bool,
    alert_rules: str = "",
) -> None:
    import uvicorn
    from starlette.requests import Request
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from signage.app import create_app
    from signage.cli import server_options, tune_gc
    from signage.settings import PROJECT_ROOT, Settings

    settings = Settings.load(
        environ={},
        env_file=None,
        data_dir=Path(data_dir),
        database_url=database_url,
        secret_key="bench-secret-key",
        vendor_dir=PROJECT_ROOT / "node_modules",
        log_level="warning",
        # bench/alerts.py: the rules of posted alerts, and no voice (one message per alert).
        **({"alert_rules": Path(alert_rules), "voice": False} if alert_rules else {}),
    )
    app = create_app(settings, scheduler=False)
    hub = app.state.hub

    async def bench_publish(request: Request) -> PlainTextResponse:
        return PlainTextResponse(f"{hub.publish(_event(PAD), None)}\n")

    app.router.routes.append(Route("/bench/publish", bench_publish))  # test-only route

    def publish(count: int, pad: int) -> int:
        return [hub.publish(_event(pad), None) for _ in range(count)][-1]

    if gc_tuning:
        tune_gc()  # as `signage serve` does
    # The options of `signage serve` (signage/cli.py), with a bound on shutdown.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=10,
        **server_options(),
    )
    server = uvicorn.Server(config)

    def stop() -> None:
        server.should_exit = True

    serving = asyncio.ensure_future(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
            return
        await asyncio.sleep(0.02)
    asyncio.get_running_loop().call_later(lifetime, stop)
    control = asyncio.ensure_future(_control(publish, lambda: len(hub.online()), stop))
    _reply({"ready": True})
    await serving
    control.cancel()


async def _serve_bare(port: int, lifetime: float) -> None:
    from websockets.asyncio.server import ServerConnection, broadcast, serve
    from websockets.http11 import Request, Response

    seq = 0
    welcome: Welcome = {
        "type": "welcome",
        "protocol": 1,
        "screen": {"id": 1, "name": "bare"},
        "epoch": "bare",
        "seq": 0,
        "server_time": "2026-12-02T13:00:00+09:00",
        "heartbeat": 30,
    }
    welcome_text = json.dumps(welcome, separators=(",", ":"))

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # hello
        await ws.send(welcome_text)
        async for _ in ws:
            pass

    def publish(count: int, pad: int) -> int:
        nonlocal seq
        for _ in range(count):
            seq += 1
            broadcast(server.connections, event_text(seq, pad))
        return seq

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/bench/publish":  # test-only "route"
            return connection.respond(HTTPStatus.OK, f"{publish(1, PAD)}\n")
        return None

    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.call_later(lifetime, stopping.set)
    async with serve(
        handler, "127.0.0.1", port, compression=None, process_request=process_request
    ) as server:
        control = asyncio.ensure_future(
            _control(publish, lambda: len(server.connections), stopping.set)
        )
        _reply({"ready": True})
        await stopping.wait()
        control.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["ours", "bare"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--data-dir", default="")
    parser.add_argument("--lifetime", type=float, default=600)
    parser.add_argument("--gc", choices=["serve", "default"], default="serve")
    parser.add_argument("--alert-rules", default="")
    args = parser.parse_args()
    raise_nofile()
    if args.kind == "ours":
        asyncio.run(
            _serve_ours(
                args.port,
                args.database_url,
                args.data_dir,
                args.lifetime,
                args.gc == "serve",
                args.alert_rules,
            )
        )
    else:
        asyncio.run(_serve_bare(args.port, args.lifetime))


if __name__ == "__main__":
    main()
