"""Every kind of change staff can make reaches exactly the screens it affects.

Two sites, seven screens (some in a group, some not, one above a counter, one queue
board), each with a real player socket to the real server. Each row of `ROWS` is one
change made through the staff UI as a browser makes it; the test then listens to every
screen and checks which got a new manifest, a queue board or an event, and that no other
did. A new kind of change is one row.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from websockets.sync.client import ClientConnection, connect

from content.calendar import closed_days
from content.protocol import ServerMessage
from signage import changes
from signage.db import create_engine, session_factory, transaction, utcnow
from signage.live.hub import Hub
from signage.models import Manifest, QueueSite, Screen

from .conftest import LiveServer, Staff, add_site
from .wire import conforms

QUIET = 1.5  # seconds without any message after which a change has reached everyone
A = frozenset({"hall1", "hall2", "poster", "counter", "board"})  # the screens of site A
B = frozenset({"bhall", "bfull"})


@dataclass
class World:
    staff: Staff
    server: LiveServer
    site_a: int = 0
    site_b: int = 0
    screens: dict[str, int] = field(default_factory=dict)
    forms: dict[str, dict[str, object]] = field(default_factory=dict)  # each screen's form
    players: dict[str, ClientConnection] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)
    playlists: dict[str, int] = field(default_factory=dict)
    notices: dict[str, int] = field(default_factory=dict)
    schedules: dict[str, int] = field(default_factory=dict)
    service: int = 0
    counter: int = 0
    closure_day: date | None = None

    def post(self, path: str, data: dict[str, object], page: str = "/") -> None:
        self.staff.post(path, data, page=page)


# --- setting up, through the staff UI ----------------------------------------------------


def _site(world: World, code: str, name: str, languages: list[str]) -> dict[str, object]:
    return {
        "code": code,
        "name": name,
        "name_en": "",
        "timezone": "Asia/Tokyo",
        "languages": languages,
        "active": "1",
    }


def _screen(world: World, name: str, site_id: int, **fields: object) -> None:
    form: dict[str, object] = {
        "name": name,
        "site_id": str(site_id),
        "layout": "hall",
        "default_playlist_id": "",
        "groups": "",
        "counter_id": "",
        **fields,
    }
    response = world.staff.http.post(
        "/screens", data={**form, "csrf_token": world.staff.token("/screens")}
    )
    assert response.status_code == 303, response.text[-500:]
    match = re.search(r"/screens/(\d+)", response.headers["location"])
    assert match
    world.screens[name] = int(match.group(1))
    world.forms[name] = form


def _player(world: World, name: str) -> None:
    """A device paired to the screen through the pairing code, its socket open."""
    token = secrets.token_urlsafe(24)
    response = world.staff.http.post(
        world.server.url + "/player/pair", json={"token": token}, timeout=10
    )
    assert response.status_code == 201, response.text
    code = response.json()["code"]
    ws = connect(
        world.server.url.replace("http://", "ws://") + "/player/ws", open_timeout=10, legacy=True
    )
    ws.send(
        json.dumps(
            {
                "type": "hello",
                "token": token,
                "protocol": 1,
                "epoch": None,
                "seq": 0,
                "manifest_version": 0,
                "player": {"kind": "test", "version": "1"},
            }
        )
    )
    assert json.loads(ws.recv(timeout=10))["type"] == "pairing"
    world.post(
        "/screens/pair",
        {"code": code, "screen_id": str(world.screens[name])},
        page="/screens/pair",
    )
    world.players[name] = ws


def _group_id(world: World, name: str) -> int:
    html = world.staff.http.get("/schedules/new").text
    match = re.search(rf'value="group:(\d+)"[^>]*>{re.escape(name)}<', html)
    assert match, name
    return int(match.group(1))


def _schedule(world: World, key: str, target: str, playlist: str, **fields: object) -> None:
    world.post("/schedules/new", _schedule_form(world, key, target, playlist, **fields))
    ids = re.findall(r"/schedules/(\d+)", world.staff.http.get("/schedules").text)
    world.schedules[key] = max(int(i) for i in ids)


def _schedule_form(
    world: World, key: str, target: str, playlist: str, **fields: object
) -> dict[str, object]:
    return {
        "name": key,
        "playlist_id": str(world.playlists[playlist]),
        "target": target,
        "zone": "main",
        "priority": "10",
        "days": "all",
        **fields,
    }


def _ticker(world: World, playlist: str, text: str) -> None:
    playlist_id = world.playlists[playlist]
    world.post(
        f"/playlists/{playlist_id}/items",
        {"kind": "ticker", "text": text, "duration_seconds": "10"},
        page=f"/playlists/{playlist_id}",
    )


def _local_day_to_close() -> date | None:
    """Tomorrow in Tokyo (or the day after), when it is not a public holiday already:
    inside every manifest's 48-hour window."""
    today = datetime.now(ZoneInfo("Asia/Tokyo")).date()
    holidays = closed_days(today, today + timedelta(days=3))
    return next((d for d in (today + timedelta(days=n) for n in (1, 2)) if d not in holidays), None)


@pytest.fixture
def world(live_server: LiveServer, staff: Staff, db: sa.Engine) -> Iterator[World]:
    w = World(staff, live_server)
    w.site_a = staff.site()
    w.post("/sites", _site(w, "branch", "支所", ["ja", "en"]), page="/sites")
    w.site_b = max(int(i) for i in re.findall(r'/sites/(\d+)"', staff.http.get("/sites").text))

    # Site A has a queue: one service, counter 3, open all day.
    queue = f"/queue/{w.site_a}"
    w.post(f"{queue}/services", {"prefix": "A", "name": "住民票", "open": "1"}, queue)
    w.service = int(re.findall(r"/queue/services/(\d+)", staff.http.get(queue).text)[0])
    w.post(f"{queue}/counters", {"number": "3", "name": "3番", "service_ids": [w.service]}, queue)
    w.counter = int(re.findall(r"/queue/counters/(\d+)", staff.http.get(queue).text)[0])
    w.post(f"{queue}/rules", _rules(10), queue)

    for key, title in (("n1", "窓口のご案内"), ("n2", "税のお知らせ")):
        w.notices[key] = staff.notice(title)
    w.playlists["p1"] = staff.playlist([w.notices["n1"]], name="p1")  # for every site
    w.playlists["p2"] = staff.playlist([w.notices["n2"]], name="p2")
    w.playlists["p3"] = staff.playlist([], name="p3")
    _ticker(w, "p3", "本日は休館日です")

    p1, p2 = str(w.playlists["p1"]), str(w.playlists["p2"])
    _screen(w, "hall1", w.site_a, default_playlist_id=p1, groups="lobby-a")
    _screen(w, "hall2", w.site_a, groups="lobby-a")
    _screen(w, "poster", w.site_a, layout="poster", default_playlist_id=p2)
    _screen(w, "counter", w.site_a, layout="counter", counter_id=str(w.counter), silent="1")
    _screen(w, "board", w.site_a, layout="queue")
    _screen(w, "bhall", w.site_b, default_playlist_id=p1, groups="lobby-b")
    _screen(w, "bfull", w.site_b, layout="full")
    w.groups = {name: _group_id(w, name) for name in ("lobby-a", "lobby-b")}
    lobby_a = f"group:{w.groups['lobby-a']}"
    _schedule(w, "s1", lobby_a, "p2", zone="ticker")
    _schedule(w, "s2", lobby_a, "p3", days="closed")  # only on holidays and closure days
    w.closure_day = _local_day_to_close()
    # The server's clock job starts each site's queue day at the first minute it sees (a
    # real change that would fall into whichever row is running): start it now.
    with db.begin() as conn:
        conn.execute(sa.update(QueueSite).values(day=datetime.now(ZoneInfo("Asia/Tokyo")).date()))
    for name in w.screens:
        _player(w, name)
    _listen(w)  # what connecting brings (welcome, manifest, board) is not a change
    try:
        yield w
    finally:
        for ws in w.players.values():
            ws.close()


def _rules(highlight: int) -> dict[str, object]:
    return {
        "opens_at": "00:00",
        "closes_at": "23:59",
        "normal_per_priority": "3",
        "noshow_after_recalls": "1",
        "highlight_seconds": str(highlight),
        "voice_languages": ["ja"],
    }


# --- listening to every screen ------------------------------------------------------------


@dataclass
class Heard:
    manifests: set[str] = field(default_factory=set)
    boards: set[str] = field(default_factory=set)
    events: dict[str, set[str]] = field(default_factory=dict)  # event kind -> screens


def _listen(world: World) -> Heard:
    """What every screen receives until all have been quiet for `QUIET` seconds."""
    heard = Heard()
    last = time.monotonic()
    while time.monotonic() - last < QUIET:
        for name, ws in world.players.items():
            try:
                raw = json.loads(ws.recv(timeout=0.02))
            except TimeoutError:
                continue
            last = time.monotonic()
            conforms(raw, ServerMessage)  # boards and calls too: the protocol's types
            message = cast(ServerMessage, raw)
            if message["type"] == "manifest":
                heard.manifests.add(name)
            elif message["type"] == "queue":
                heard.boards.add(name)
            elif message["type"] == "event":
                heard.events.setdefault(message["event"]["kind"], set()).add(name)
    return heard


def _clear_of_the_hour() -> None:
    """Wait while the hourly rebuild (at :00:05) may run: every manifest moves on then. A
    row (its change, then listening until the screens are quiet) can take half a minute on
    a busy machine, so none starts in the last minute of the hour."""
    now = datetime.now()
    if now.minute == 59:
        time.sleep(60 - now.second + 20)
    elif now.minute == 0 and now.second < 20:
        time.sleep(20 - now.second)


# --- the changes ------------------------------------------------------------------------


def _edit_screen(world: World, screen: str, **fields: object) -> None:
    world.forms[screen] = {**world.forms[screen], **fields}
    screen_id = world.screens[screen]
    world.post(f"/screens/{screen_id}", world.forms[screen], page=f"/screens/{screen_id}")


def _edit_site(world: World, site_id: int, **fields: object) -> None:
    code, name = ("honcho", "本庁舎") if site_id == world.site_a else ("branch", "支所")
    form = {**_site(world, code, name, ["ja", "en"]), **fields}
    world.post(f"/sites/{site_id}", form, page=f"/sites/{site_id}")


def _edit_schedule(world: World, key: str, form: dict[str, object]) -> None:
    schedule_id = world.schedules[key]
    world.post(f"/schedules/{schedule_id}", form, page=f"/schedules/{schedule_id}")


def _closure(world: World, site_id: int) -> None:
    assert world.closure_day is not None
    world.post(
        "/closures",
        {"site_id": str(site_id), "day": world.closure_day.isoformat(), "reason": "臨時休館"},
        page="/closures",
    )


def _reopen(world: World) -> None:
    ids = re.findall(r'name="closure_id" value="(\d+)"', world.staff.http.get("/closures").text)
    assert len(ids) == 1
    world.post("/closures", {"closure_id": ids[0]}, page="/closures")


def _counter_action(world: World, action: str, **data: object) -> None:
    world.post(f"/counter/{world.counter}/{action}", dict(data), page=f"/counter/{world.counter}")


@dataclass(frozen=True)
class Row:
    change: str
    act: Callable[[World], None]
    manifests: frozenset[str] = frozenset()  # screens that get a new manifest version
    boards: frozenset[str] = frozenset()  # screens that get their site's queue board
    events: tuple[tuple[str, frozenset[str]], ...] = ()  # (event kind, screens)


ROWS = (
    Row("site name", lambda w: _edit_site(w, w.site_a, name="新本庁舎"), A, A),
    Row(
        "site language order",
        lambda w: _edit_site(w, w.site_a, name="新本庁舎", languages=["en", "ja"]),
        A,
        A,
    ),
    Row("site time zone", lambda w: _edit_site(w, w.site_b, timezone="Asia/Seoul"), B),
    Row("screen name", lambda w: _edit_screen(w, "hall2", name="2F ロビー"), frozenset({"hall2"})),
    Row("screen layout", lambda w: _edit_screen(w, "poster", layout="full"), frozenset({"poster"})),
    Row(
        "playlist item",
        lambda w: _ticker(w, "p2", "お知らせ"),
        frozenset({"poster", "hall1", "hall2"}),  # by default, and by schedule s1 on lobby-a
    ),
    Row(
        "notice edited and approved",
        lambda w: w.staff.notice("窓口のご案内（改）", w.notices["n1"]),
        frozenset({"hall1", "bhall"}),  # p1 is both screens' default, at both sites
    ),
    Row(
        "schedule created",
        lambda w: _schedule(w, "s3", f"screen:{w.screens['bfull']}", "p2"),
        frozenset({"bfull"}),
    ),
    Row(
        "schedule moved from a group to a screen",
        lambda w: _edit_schedule(
            w, "s1", _schedule_form(w, "s1", f"screen:{w.screens['board']}", "p2", zone="ticker")
        ),
        frozenset({"hall1", "hall2", "board"}),
    ),
    Row(
        "schedule deleted",
        lambda w: _edit_schedule(w, "s1", {"action": "delete"}),
        frozenset({"board"}),
    ),
    Row("closure day", lambda w: _closure(w, w.site_a), frozenset({"hall1", "hall2"})),
    Row("closure day removed", _reopen, frozenset({"hall1", "hall2"})),
    Row(
        "counter number",
        lambda w: w.post(
            f"/queue/counters/{w.counter}",
            {"number": "5", "name": "5番", "service_ids": [w.service]},
            f"/queue/{w.site_a}",
        ),
        frozenset({"counter"}),  # the screen above it shows its number
        A,
    ),
    Row(
        "service name",
        lambda w: w.post(
            f"/queue/services/{w.service}",
            {"prefix": "A", "name": "住民票・印鑑証明", "open": "1"},
            f"/queue/{w.site_a}",
        ),
        boards=A,
    ),
    Row(
        "queue rules",
        lambda w: w.post(f"/queue/{w.site_a}/rules", _rules(12), f"/queue/{w.site_a}"),
        boards=A,
    ),
    Row("counter opened", lambda w: _counter_action(w, "open"), boards=A),
    Row(
        "ticket issued at a counter",
        lambda w: _counter_action(w, "issue", service_id=str(w.service)),
        boards=A,
    ),
    Row(
        "ticket called",
        lambda w: _counter_action(w, "next"),
        boards=A,
        events=(("queue.call", A),),  # the silent counter-top screen gets it too, to show
    ),
    Row(
        "remote command",
        lambda w: w.post(f"/screens/{w.screens['hall1']}/command", {"command": "reload"}, "/fleet"),
        events=(("reload", frozenset({"hall1"})),),
    ),
)


def test_each_change_reaches_exactly_the_screens_it_affects(world: World) -> None:
    if world.closure_day is None:
        pytest.skip("the next two days are public holidays in Tokyo")
    wrong = []
    for row in ROWS:
        _clear_of_the_hour()
        row.act(world)
        heard = _listen(world)
        expected = Heard(set(row.manifests), set(row.boards), {k: set(s) for k, s in row.events})
        if heard != expected:
            wrong.append(f"{row.change}: expected {expected}, heard {heard}")
    assert not wrong, "\n".join(wrong)


# --- the transaction ---------------------------------------------------------------------


def test_manifests_are_written_with_the_change_and_pushed_only_after_commit(
    database_url: str, db: sa.Engine
) -> None:
    site_id = add_site(db)
    with db.begin() as conn:
        screen_id = int(
            conn.execute(
                sa.insert(Screen).values(
                    site_id=site_id, name="1F", layout="hall", created_at=utcnow()
                )
            ).inserted_primary_key[0]  # type: ignore[index]
        )
    hub = Hub()

    async def scenario() -> None:
        engine = create_engine(database_url)
        sessions = session_factory(engine, info={changes.OUTLETS: changes.Outlets(hub)})
        try:
            # A view that fails after recording a change keeps nothing and tells no one.
            with pytest.raises(LookupError):
                async with transaction(sessions) as session:
                    changes.record(session, changes.ScreenChanged(screen_id))
                    raise LookupError
            async with sessions() as session:
                assert await session.get(Manifest, screen_id) is None
            assert hub.manifest(screen_id) is None

            # A bare commit would skip the rebuild: it is refused.
            async with sessions() as session:
                changes.record(session, changes.ScreenChanged(screen_id))
                with pytest.raises(RuntimeError, match="pending"):
                    await session.commit()
                await session.rollback()

            async with transaction(sessions) as session:
                changes.record(session, changes.ScreenChanged(screen_id))
                await changes.settle(session)
                assert (await session.get(Manifest, screen_id)) is not None  # in this one
                assert hub.manifest(screen_id) is None  # not yet committed
            assert hub.manifest(screen_id) is not None
            async with sessions() as session:
                manifest = await session.get(Manifest, screen_id)
                assert manifest is not None and manifest.version == 1
        finally:
            await engine.dispose()

    asyncio.run(scenario())
