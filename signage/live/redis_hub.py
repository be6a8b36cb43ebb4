"""The Redis hub backend (`SIGNAGE_HUB_URL=redis://host:port/db`): several server processes
share live events, manifests, boards, pairing, commands and the fleet's status.

- Events go to one Redis stream whose entry ids are the seq numbers: a Lua script
  increments the seq, creates the epoch when it is missing (Redis lost its data) and adds
  the entry, trimmed to about `BUFFER` entries. `missed()` reads it back (XRANGE).
- Everything else (manifests, boards, alerts, state, pairing, disconnects, "this screen
  connected here") goes to a second, capped stream; the latest board of each site is also
  kept in a hash, for processes that start later (manifests and alerts they read from the
  database once, at start; a newer alerts revision wins, whatever the order of arrival).
- One reader task per process reads both streams (XREAD BLOCK) and delivers to the
  front's local subscribers; this process's own messages come back the same way, so every
  screen sees one order. The front's `epoch`/`seq` are what this process has delivered.
- Publishing never waits: messages go to a bounded outbox that a writer task sends in
  order. While Redis is down the outbox keeps up to `OUTBOX` messages (the oldest are
  dropped, with a log line, beyond that) and is sent on reconnect; players keep playing.
  A message whose batch failed midway may be sent twice (event ids tell them apart).
- A Redis that cannot be reached at start stops the start (`HubUnavailable`).
- After a reconnect the epoch is checked: a Redis that lost the stream has a new epoch,
  so local players are closed with 1012 and resync with the new epoch.
- Fleet: see signage/live/fleet.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Iterable
from typing import Any, cast
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from signage.live import fleet
from signage.live.fleet import PlayerStatus
from signage.live.hub import BUFFER, CLOSE_RESTART, Control, Hub, event_text

log = logging.getLogger("signage.live.redis")

OUTBOX = 10_000  # messages kept while Redis cannot be reached
CONTROL_BUFFER = 10_000  # entries kept in the control stream
BATCH = 200  # messages sent in one round trip
BLOCK_MS = 2000  # how long one XREAD waits before the epoch is checked again
BACKOFF_MAX = 5.0  # seconds between reconnect attempts, at most

# Returns {epoch, seq}: creates the epoch (and starts the numbering afresh) when missing.
_ENSURE = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
return {epoch, tonumber(redis.call('GET', KEYS[2]) or '0')}
"""

_PUBLISH = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
  redis.call('DEL', KEYS[2], KEYS[3])
end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], seq .. '-0',
  'epoch', epoch, 'id', ARGV[3], 'to', ARGV[4], 'event', ARGV[5], 'at', ARGV[6])
return seq
"""

# Removes a screen's fleet record if this process wrote it (another may have taken over).
_LEFT = """
local record = redis.call('HGET', KEYS[1], ARGV[1])
if record and cjson.decode(record)['process'] == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


async def _done(result: object) -> Any:
    """redis-py types its commands as sync-or-async and bytes-or-str; the asyncio client
    with `decode_responses` always gives an awaitable of str results."""
    return await cast(Awaitable[Any], result)


def _published(fields: dict[str, str]) -> float | None:
    """When an event was published (its `at` field), if it says."""
    try:
        return float(fields["at"])
    except (KeyError, ValueError):
        return None


def unreachable_message(url: str, exc: BaseException) -> str:
    """Says which Redis could not be reached, named without its password, if it has one."""
    where = urlsplit(url)
    return (
        f"cannot reach the Redis hub at {where.hostname}:{where.port or 6379} "
        f"(SIGNAGE_HUB_URL): {exc or type(exc).__name__}"
    )


class HubUnavailable(RuntimeError):
    """Redis cannot be reached when the server starts."""


class RedisBackend:
    def __init__(self, url: str, prefix: str = "signage:") -> None:
        self.url = url
        self.process = secrets.token_hex(6)
        self.keys = {
            name: prefix + name for name in ("epoch", "seq", "events", "control", "boards", "fleet")
        }
        self.alive_key = f"{prefix}process:{self.process}"
        self.prefix = prefix
        self.client: aioredis.Redis = aioredis.Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=2,
            socket_timeout=BLOCK_MS / 1000 + 5,
            retry=Retry(NoBackoff(), 0),
        )
        self.hub: Hub | None = None
        self.epoch: str | None = None  # the Redis epoch this process follows
        self._events_id = "0-0"
        self._control_id = "0-0"
        self._outbox: deque[tuple[str, tuple[str, ...]]] = deque()
        self._dropped = 0
        self._wake = asyncio.Event()
        self._drained = asyncio.Event()  # set while the outbox is empty
        self._drained.set()
        self._written: dict[str, str] = {}  # fleet records this process wrote last
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifetime ---------------------------------------------------------------------

    async def start(self, hub: Hub) -> None:
        self.hub = hub
        try:
            await asyncio.wait_for(self._sync(), 5)
        except (RedisError, OSError, TimeoutError) as exc:
            # Refused at start, like a database that cannot be reached: a wrong address
            # must not leave a process serving screens that no other process reaches.
            await self.client.aclose()
            raise HubUnavailable(unreachable_message(self.url, exc)) from None
        self._tasks = [
            asyncio.ensure_future(self._read()),
            asyncio.ensure_future(self._write()),
            asyncio.ensure_future(self._share_fleet()),
        ]

    async def stop(self) -> None:
        # What is still in the outbox goes out first (briefly), then the tasks stop.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._drained.wait(), 2)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(RedisError, OSError):
            for screen in list(self._written):
                await _done(self.client.eval(_LEFT, 1, self.keys["fleet"], screen, self.process))
            await _done(self.client.delete(self.alive_key))
        await self.client.aclose()

    # --- publishing (never waits) -----------------------------------------------------

    def _enqueue(self, kind: str, args: tuple[str, ...]) -> None:
        if len(self._outbox) >= OUTBOX:
            self._outbox.popleft()
            self._dropped += 1
            if self._dropped == 1 or self._dropped % 1000 == 0:
                log.error("Redis hub outbox full: %d oldest messages dropped", self._dropped)
        self._outbox.append((kind, args))
        self._drained.clear()
        self._wake.set()

    def publish(
        self, event_json: str, event_id: str, targets: frozenset[int] | None, at: float
    ) -> None:
        to = "*" if targets is None else ",".join(str(i) for i in sorted(targets))
        self._enqueue("event", (event_id, to, event_json, repr(at)))

    def send(self, kind: str, fields: Control) -> None:
        message = json.dumps({"kind": kind, "process": self.process, **fields})
        site = str(fields["site"]) if kind == "board" else ""
        self._enqueue("control", (message, site, str(fields.get("text", ""))))

    async def _write(self) -> None:
        backoff = 0.1
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._outbox:
                batch = list(self._outbox)[:BATCH]
                try:
                    await self._send(batch)
                except (RedisError, OSError) as exc:
                    log.warning("Redis hub: could not publish (%s); retrying", exc)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX)
                    continue
                backoff = 0.1
                for _ in batch:
                    if self._outbox:
                        self._outbox.popleft()
            self._drained.set()

    async def _send(self, batch: list[tuple[str, tuple[str, ...]]]) -> None:
        keys = self.keys
        async with self.client.pipeline(transaction=False) as pipe:
            for kind, args in batch:
                if kind == "event":
                    event_id, to, event_json, at = args
                    pipe.eval(
                        _PUBLISH,
                        3,
                        keys["epoch"],
                        keys["seq"],
                        keys["events"],
                        secrets.token_hex(8),
                        str(BUFFER),
                        event_id,
                        to,
                        event_json,
                        at,
                    )
                else:
                    message, site, text = args
                    if site:
                        pipe.hset(keys["boards"], site, text)
                    pipe.xadd(
                        keys["control"],
                        {"m": message},
                        maxlen=CONTROL_BUFFER,
                        approximate=True,
                    )
            await pipe.execute()

    # --- reading (one task: every local delivery goes through it) ---------------------

    async def _sync(self) -> None:
        """Join the current epoch: at start, and after each reconnect or a quiet read."""
        hub = self.hub
        assert hub is not None
        epoch, seq = await _done(
            self.client.eval(
                _ENSURE,
                3,
                self.keys["epoch"],
                self.keys["seq"],
                self.keys["events"],
                secrets.token_hex(8),
            )
        )
        if epoch == self.epoch:
            return
        first = self.epoch is None
        if not first or hub.online():
            # Redis lost the stream (or this process welcomed players before it could
            # reach Redis): the players resync with the new epoch.
            log.warning("Redis hub: new epoch %s; players reconnect", epoch)
            hub.close_all(CLOSE_RESTART)
        control = await _done(self.client.xrevrange(self.keys["control"], count=1))
        boards = await _done(self.client.hgetall(self.keys["boards"]))
        self.epoch = epoch
        hub.epoch, hub.seq = epoch, int(seq)
        self._events_id = f"{int(seq)}-0"
        # At start: from now on. After a loss of data: the new stream from its beginning.
        self._control_id = control[0][0] if control and first else "0-0"
        for site, text in boards.items():
            hub.apply_board(int(site), text, ())
        self._written = {}

    async def _read(self) -> None:
        backoff = 0.1
        synced = self.epoch is not None
        while True:
            try:
                if not synced:
                    await self._sync()
                    synced = True
                response = await _done(
                    self.client.xread(
                        {
                            self.keys["events"]: self._events_id,
                            self.keys["control"]: self._control_id,
                        },
                        count=500,
                        block=BLOCK_MS,
                    )
                )
                backoff = 0.1
                if not response:
                    synced = False  # quiet: check the epoch before reading on
                    continue
                for stream, entries in response:
                    if stream == self.keys["events"]:
                        self._events(entries)
                    else:
                        self._control(entries)
            except (RedisError, OSError) as exc:
                synced = False
                log.warning("Redis hub: reading failed (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bad entry must not stop delivery
                log.exception("Redis hub: delivering failed")

    def _events(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        hub = self.hub
        assert hub is not None
        for entry_id, fields in entries:
            self._events_id = entry_id
            if fields.get("epoch") != self.epoch:
                continue
            seq = int(entry_id.split("-", 1)[0])
            to = fields["to"]
            targets = None if to == "*" else frozenset(int(i) for i in to.split(",") if i)
            hub.deliver(
                seq, targets, event_text(seq, fields["id"], fields["event"]), _published(fields)
            )

    def _control(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        hub = self.hub
        assert hub is not None
        for entry_id, fields in entries:
            self._control_id = entry_id
            message = json.loads(fields["m"])
            kind = message["kind"]
            if kind == "manifest":
                hub.apply_manifest(message["screen"], message["version"], message["text"])
            elif kind == "board":
                hub.apply_board(message["site"], message["text"], message["screens"])
            elif kind == "state":
                hub.apply_state(message["key"], message["text"], message["screens"])
            elif kind == "alerts":
                hub.apply_alerts(message["revision"], message["text"], message["screens"])
            elif kind == "paired":
                hub.apply_paired(message["token"])
            elif kind == "disconnect":
                hub.apply_disconnect(message["screen"], message["code"])
            elif kind == "replace":
                hub.apply_replace(
                    message["screen"], message["serial"], message["process"] == self.process
                )

    async def missed(
        self, screen_id: int, epoch: str | None, seq: int, upto: int
    ) -> list[str] | None:
        try:
            entries = await _done(
                self.client.xrange(self.keys["events"], min=f"{seq + 1}-0", max=f"{upto}-0")
            )
        except (RedisError, OSError) as exc:
            log.warning("Redis hub: cannot read missed events (%s)", exc)
            return None
        if not entries or entries[0][0] != f"{seq + 1}-0":
            return None  # older than the buffer
        wanted = str(screen_id)
        result = []
        for entry_id, fields in entries:
            if fields.get("epoch") != epoch:
                return None
            to = fields["to"]
            if to == "*" or wanted in to.split(","):
                number = int(entry_id.split("-", 1)[0])
                result.append(event_text(number, fields["id"], fields["event"]))
        return result

    async def reachable(self) -> str | None:
        """None when Redis answers a PING within 2 s, else why not (for /readyz)."""
        try:
            await asyncio.wait_for(_done(self.client.ping()), 2)
        except (RedisError, OSError, TimeoutError) as exc:
            return f"Redis does not answer: {exc or type(exc).__name__}"
        return None

    # --- fleet ------------------------------------------------------------------------

    async def _share_fleet(self) -> None:
        """Write what this process's players said, and that this process is alive."""
        rounds = 0
        while True:
            try:
                await self._write_fleet(full=rounds % 10 == 0)
            except (RedisError, OSError) as exc:
                log.debug("Redis hub: fleet status not written (%s)", exc)
                self._written = {}
            rounds += 1
            await asyncio.sleep(fleet.REFRESH_SECONDS)

    async def _write_fleet(self, full: bool) -> None:
        hub = self.hub
        assert hub is not None
        records = {str(i): fleet.dump(hub.status.get(i, {}), self.process) for i in hub.online()}
        changed = {k: v for k, v in records.items() if full or self._written.get(k) != v}
        left = [k for k in self._written if k not in records]
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.set(self.alive_key, "1", ex=fleet.PROCESS_TTL)
            if changed:
                pipe.hset(self.keys["fleet"], mapping=cast(dict[Any, Any], changed))
            for screen in left:
                pipe.eval(_LEFT, 1, self.keys["fleet"], screen, self.process)
            await pipe.execute()
        self._written = records

    async def fleet(self, screen_ids: Iterable[int]) -> dict[int, PlayerStatus]:
        hub = self.hub
        assert hub is not None
        ids = list(screen_ids)
        if not ids:
            return {}
        try:
            raw = await _done(self.client.hmget(self.keys["fleet"], [str(i) for i in ids]))
            records = {
                i: found
                for i, text in zip(ids, raw, strict=True)
                if text is not None and (found := fleet.load(text)) is not None
            }
            processes = sorted({process for process, _ in records.values()})
            alive = (
                await _done(self.client.mget([f"{self.prefix}process:{p}" for p in processes]))
                if processes
                else []
            )
        except (RedisError, OSError) as exc:
            log.warning("Redis hub: fleet status unavailable (%s); showing this process", exc)
            return {i: {**hub.status.get(i, {}), "online": True} for i in ids if i in hub.online()}
        living = {p for p, flag in zip(processes, alive, strict=True) if flag is not None}
        result: dict[int, PlayerStatus] = {
            i: {**status, "online": True}
            for i, (process, status) in records.items()
            if process in living
        }
        for i in ids:  # this process's own players, even before the next write
            if i in hub.online():
                result[i] = {**hub.status.get(i, {}), "online": True}
        return result
