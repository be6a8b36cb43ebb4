"""Emergency alerts (issue 12): raised in the staff UI, delivered to real websocket
players, cleared, expired by the job, confirmed by a second publisher, audited."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from content.alerts.model import AlertDraft, AlertText, Level, Mode
from signage.alerts import service
from signage.alerts.service import Ingested
from signage.app import create_app
from signage.db import create_engine, session_factory, transaction, utcnow
from signage.live.hub import Hub
from signage.models import Alert, AlertPhrase, AuditEntry, Role, Screen
from signage.settings import Settings

from .conftest import LiveServer, Staff, add_site, add_user, csrf_token, login
from .test_fanout import ThreadServer, _screens, thread_server  # noqa: F401 (the fixture)
from .test_fanout import _hello as _fanout_hello
from .test_players import _hello, _paired_player, _ws

FIRE = {
    "template": "fire",
    "level": "severe",
    "floor": "3F",
    "place": "East stairs / 東階段",
    "targets": "all",
    "expires_minutes": "60",
    "step": "send",
}


def _alerts(ws: ClientConnection, timeout: float) -> list[dict[str, Any]]:
    """The next `alerts` message within `timeout` seconds (other messages are skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no alerts message in time"
        message = json.loads(ws.recv(timeout=left))
        if message["type"] == "alerts":
            alerts: list[dict[str, Any]] = message["alerts"]
            return alerts


def _raise(staff: Staff, **fields: str) -> httpx.Response:
    response = staff.post("/alerts/new", {**FIRE, **fields}, page="/alerts/new")
    assert response.headers["location"].startswith("/alerts?done=")
    return response


def test_raise_reaches_players_at_once_then_clear_and_expiry(
    live_server: LiveServer, staff: Staff, db: sa.Engine
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    _raise(staff, drill="1")
    alerts = _alerts(ws, timeout=1.0)  # within a second of the answer to the POST
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["mode"] == "takeover" and alert["level"] == "severe" and alert["drill"] is True
    assert [t["language"] for t in alert["texts"]] == ["ja", "ja-easy", "en"]
    assert "3F" in alert["texts"][2]["body"] and "East stairs" in alert["texts"][2]["body"]
    assert re.fullmatch(r"/voice/alarm-[0-9a-f]{24}\.wav", alert["alarm"])
    assert live_server_get(live_server, alert["alarm"]).status_code == 200

    # Not acknowledged yet: the fleet view says so; after the ack it says it shows it.
    assert 'class="status status-rejected"' in _fleet_cell(staff, screen_id)
    # The alerts list names it as online and not showing it yet (not as offline).
    listed = _list_row(staff)
    assert "未表示:" in listed and "オフライン(復帰時に表示):" not in listed
    ws.send(json.dumps({"type": "alert_ack", "ids": [alert["id"]]}))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if 'class="status status-approved"' in _fleet_cell(staff, screen_id):
            break
        time.sleep(0.2)
    else:
        pytest.fail("the fleet view never showed the acknowledgement")

    # A player connecting later gets it in its start.
    ws.close()
    late = _ws(live_server)
    late.send(_hello(token))
    assert _alerts(late, timeout=5.0)[0]["id"] == alert["id"]

    # Clear: every targeted screen gets the empty list.
    alert_id = int(alert["id"][1:])
    staff.post(f"/alerts/{alert_id}/clear", {}, page="/alerts")
    assert _alerts(late, timeout=1.0) == []

    # Expiry: the job ends an alert past its expiry (the stored expiry is moved back).
    _raise(staff)
    second = _alerts(late, timeout=1.0)
    assert len(second) == 1 and second[0]["drill"] is False
    with db.begin() as conn:
        conn.execute(
            sa.update(Alert)
            .where(Alert.id == int(second[0]["id"][1:]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert _alerts(late, timeout=12.0) == []  # the job runs every 5 seconds
    late.close()
    deadline = time.monotonic() + 12
    while True:
        with db.connect() as conn:
            states = dict(conn.execute(sa.select(Alert.id, Alert.state)).all())
            actions = list(conn.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
        if "active" not in states.values() or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert states == {alert_id: "cleared", int(second[0]["id"][1:]): "expired"}
    alert_actions = [a for a in actions if a.startswith(("alert.", "drill."))]
    assert alert_actions == ["drill.raise", "drill.clear", "alert.raise", "alert.expire"]


def test_the_alerts_list_tells_a_screen_not_showing_it_yet_from_one_that_is_offline(
    live_server: LiveServer, staff: Staff
) -> None:
    _token, _screen_id, ws = _paired_player(live_server, staff)
    _raise(staff)
    assert len(_alerts(ws, timeout=1.0)) == 1  # received, not acknowledged
    listed = _list_row(staff)
    assert "未表示:" in listed and "オフライン(復帰時に表示):" not in listed
    ws.close()  # gone before it answered: offline, not "not yet"
    deadline = time.monotonic() + 5
    while "オフライン(復帰時に表示):" not in (listed := _list_row(staff)):
        assert time.monotonic() < deadline, listed
        time.sleep(0.2)
    assert "未表示:" not in listed


def live_server_get(server: LiveServer, path: str) -> httpx.Response:
    return httpx.get(server.url + path, timeout=10)


def _list_row(staff: Staff) -> str:
    """The newest alert's row of the alerts list (the staff user reads Japanese)."""
    page = staff.http.get("/alerts").text
    return page.split("<tbody>", 1)[1].split("</tr>", 1)[0]


def _fleet_cell(staff: Staff, screen_id: int) -> str:
    page = staff.http.get("/fleet").text
    row = page.split(f'data-screen="{screen_id}"', 1)[1].split("</tr>", 1)[0]
    return row.split('class="alerts"', 1)[1]


# --- in-process: bad input, scope, the second publisher --------------------------------


def _add_screen(engine: sa.Engine, site_id: int, name: str) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(Screen).values(site_id=site_id, name=name, layout="hall", created_at=utcnow())
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def _post(client: TestClient, data: dict[str, object]) -> Any:
    return client.post(
        "/alerts/new", data={**data, "csrf_token": csrf_token(client, "/alerts/new")}
    )


def _count(engine: sa.Engine, model: Any = Alert) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"template": ""}, "template"),
        ({"template": "no_such"}, "template"),
        ({"level": "apocalyptic"}, "level"),
        ({"expires_minutes": str(3 * 60 + 1)}, "expires_minutes"),
        ({"place": ""}, "place"),
        ({"targets": "screens"}, "targets"),
        ({"targets": "everywhere"}, "targets"),
        ({"template": "free_text"}, "headline_ja"),
    ],
)
def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    client: TestClient, db: sa.Engine, change: dict[str, str], field: str
) -> None:
    site = add_site(db)
    _add_screen(db, site, "1F")
    add_user(db, "pub", Role.PUBLISHER)
    login(client, "pub")
    audits = _count(db, AuditEntry)
    response = _post(client, {**FIRE, **change})
    assert response.status_code == 422, response.text[-300:]
    assert f'id="e-{field}"' in response.text  # the message under that field
    assert _count(db) == 0 and _count(db, AuditEntry) == audits


def test_json_answer_names_the_field(client: TestClient, db: sa.Engine) -> None:
    site = add_site(db)
    _add_screen(db, site, "1F")
    add_user(db, "pub", Role.PUBLISHER)
    login(client, "pub")
    token = csrf_token(client, "/alerts/new")
    response = client.post(
        "/alerts/new",
        data={**FIRE, "level": "apocalyptic", "csrf_token": token},
        headers={"accept": "application/json"},
    )
    assert response.status_code == 422 and _count(db) == 0
    assert set(response.json()["fields"]) == {"level"}


def test_another_sites_screen_is_404_and_preview_counts_screens(
    client: TestClient, db: sa.Engine
) -> None:
    mine, theirs = add_site(db), add_site(db, "shisho", "支所")
    own = _add_screen(db, mine, "1F")
    _add_screen(db, mine, "2F")
    foreign = _add_screen(db, theirs, "支所 1F")
    add_user(db, "local", Role.PUBLISHER, site_id=mine)
    login(client, "local")
    response = _post(client, {**FIRE, "targets": "screens", "screen_ids": [foreign]})
    assert response.status_code == 404 and _count(db) == 0
    response = _post(client, {**FIRE, "targets": "sites", "site_ids": [theirs]})
    assert response.status_code == 404 and _count(db) == 0
    preview = _post(client, {**FIRE, "step": "preview"})
    assert preview.status_code == 200 and _count(db) == 0
    assert "支所 1F" not in preview.text and "2F" in preview.text
    assert 'name="request_id"' in preview.text and 'value="send"' in preview.text
    assert re.search(
        r"(?<!\d)2(?!\d)", preview.text.split('value="send"', 1)[1].split("</button>")[0]
    )
    sent = _post(client, {**FIRE, "targets": "screens", "screen_ids": [own]})
    assert sent.status_code == 303
    with db.connect() as conn:
        row = conn.execute(sa.select(Alert.screens, Alert.site_id, Alert.state)).one()
    assert list(row.screens) == [own] and row.site_id == mine and row.state == "active"


@pytest.fixture
def strict_client(settings: Settings, db: sa.Engine) -> Iterator[TestClient]:
    """An app whose real alerts need a second publisher."""
    app = create_app(
        Settings(**{**settings.__dict__, "alert_second_publisher": True}), scheduler=False
    )
    with TestClient(app, follow_redirects=False) as c:
        yield c


def test_second_publisher_confirms_real_alerts_not_drills(
    strict_client: TestClient, db: sa.Engine
) -> None:
    client = strict_client
    site = add_site(db)
    _add_screen(db, site, "1F")
    add_user(db, "first", Role.PUBLISHER)
    add_user(db, "second", Role.ADMIN)
    add_user(db, "editor", Role.EDITOR)
    login(client, "first")
    assert _post(client, FIRE).headers["location"] == "/alerts?done=waiting"
    assert _post(client, {**FIRE, "drill": "1"}).headers["location"] == "/alerts?done=raised"
    with db.connect() as conn:
        real_id, state = conn.execute(
            sa.select(Alert.id, Alert.state).where(Alert.drill.is_(False))
        ).one()
    assert state == "pending_confirmation"
    token = csrf_token(client, "/alerts")
    own = client.post(f"/alerts/{real_id}/confirm", data={"csrf_token": token})
    assert own.status_code == 403  # not by the one who raised it
    client.cookies.clear()
    login(client, "editor")
    assert client.get("/alerts").status_code == 403
    client.cookies.clear()
    login(client, "second")
    token = csrf_token(client, "/alerts")
    assert client.post(f"/alerts/{real_id}/confirm", data={"csrf_token": token}).status_code == 303
    with db.connect() as conn:
        state = conn.scalar(sa.select(Alert.state).where(Alert.id == real_id))
        actions = list(
            conn.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.target_type == "alert")
                .order_by(AuditEntry.id)
            )
        )
    assert state == "active"
    assert actions == ["alert.raise", "drill.raise", "alert.confirm"]
    again = client.post(f"/alerts/{real_id}/confirm", data={"csrf_token": token})
    assert again.status_code == 409


# --- feeds: ingest (used by the CAP and JMA endpoints) ----------------------------------


def _draft(identifier: str, **fields: Any) -> AlertDraft:
    now = utcnow()
    values: dict[str, Any] = {
        "source": "cap",
        "identifier": identifier,
        "level": Level.SEVERE,
        "mode": Mode.TAKEOVER,
        "drill": False,
        "texts": (AlertText("ja", "大雨警報", "本文"), AlertText("en", "Heavy rain", "Text")),
        "sent_at": now,
        "effective_at": now,
        "expires_at": now + timedelta(hours=1),
    }
    return AlertDraft(**{**values, **fields})


def test_ingest_replay_expired_update_and_cancel(database_url: str, db: sa.Engine) -> None:
    site = add_site(db)
    screen = _add_screen(db, site, "1F")

    async def scenario() -> list[Ingested]:
        engine = create_engine(database_url)
        sessions = session_factory(engine)
        done = []
        try:
            for batch in (
                [_draft("c1")],
                [_draft("c1"), _draft("old", expires_at=utcnow() - timedelta(seconds=1))],
                [_draft("c2", replaces="c1")],
                [_draft("c3", replaces="c2", cancel=True, texts=())],
                [_draft("c4", replaces="nothing", cancel=True, texts=())],
            ):
                async with transaction(sessions) as session:
                    done.append(await service.ingest(session, batch, source="cap", ip="10.0.0.1"))
            async with sessions() as session:
                assert await service.active_for_screen(session, screen, utcnow()) == []
        finally:
            await engine.dispose()
        return done

    first, replay, update, cancel, stray = asyncio.run(scenario())
    assert [a.identifier for a in first.raised] == ["c1"] and first.raised[0].screens == [screen]
    assert replay.raised == [] and replay.ignored == [("c1", "replay"), ("old", "expired")]
    assert [a.identifier for a in update.replaced] == ["c1"]
    assert [a.identifier for a in cancel.cancelled] == ["c2"]
    assert stray.ignored == [("c4", "nothing to cancel")]
    with db.connect() as conn:
        rows = dict(conn.execute(sa.select(Alert.identifier, Alert.state)).all())
        actions = [
            (row.action, row.actor)
            for row in conn.execute(
                sa.select(AuditEntry.action, AuditEntry.actor).order_by(AuditEntry.id)
            )
        ]
    assert rows == {"c1": "cleared", "c2": "cancelled"}
    assert actions == [
        ("alert.raise", "feed:cap"),
        ("alert.raise", "feed:cap"),
        ("alert.replace", "feed:cap"),
        ("alert.cancel", "feed:cap"),
    ]


def test_a_malformed_alert_ack_closes_the_socket(live_server: LiveServer, staff: Staff) -> None:
    _, _, ws = _paired_player(live_server, staff)
    ws.send(json.dumps({"type": "alert_ack", "ids": "a1"}))
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4000


def test_administrators_edit_texts_used_by_the_next_alert(
    client: TestClient, db: sa.Engine
) -> None:
    site = add_site(db)
    _add_screen(db, site, "1F")
    add_user(db, "boss", Role.ADMIN)
    add_user(db, "pub", Role.PUBLISHER)
    login(client, "pub")
    token = csrf_token(client, "/alerts")
    path = "/alerts/templates/fire/vi"
    assert client.get("/alerts/templates").status_code == 403
    mine = {"headline": "Cháy", "body": "Cháy ở {floor} ({place}).", "csrf_token": token}
    assert client.post(path, data=mine).status_code == 403
    client.cookies.clear()
    login(client, "boss")
    page = client.get("/alerts/templates")
    assert page.status_code == 200 and 'id="t-fire-vi"' in page.text
    token = csrf_token(client, "/alerts/templates")
    wrong = client.post(path, data={**mine, "body": "Cháy ở {floor} {room}.", "csrf_token": token})
    assert wrong.status_code == 422 and 'id="e-body"' in wrong.text
    assert _count(db, AlertPhrase) == 0
    missing = client.post("/alerts/templates/fire/xx", data={**mine, "csrf_token": token})
    assert missing.status_code == 404
    saved = client.post(path, data={**mine, "reviewed": "1", "csrf_token": token})
    assert saved.status_code == 303
    assert _post(client, FIRE).status_code == 303
    with db.connect() as conn:
        texts = conn.scalar(sa.select(Alert.texts))
        action = conn.scalar(
            sa.select(AuditEntry.action).where(AuditEntry.target_type == "alert_template")
        )
    vi = next(t for t in texts if t["language"] == "vi")
    assert vi["headline"] == "Cháy" and vi["body"] == "Cháy ở 3F (East stairs / 東階段)."
    assert action == "alert_template.update"


def test_connecting_players_get_their_alerts_from_the_hub_always_with_a_revision(
    thread_server: ThreadServer,  # noqa: F811
    db: sa.Engine,
) -> None:
    """The `alerts` message is sent on every connect (an empty list too), from the hub's
    memory: the connect reads nothing of the alerts table. Its revision rises with each
    change; the hub keeps a newer list over an older one, whatever the order of arrival."""
    (target, target_token), (_, other_token) = _screens(db, 2)
    app = thread_server.app
    url = f"ws://127.0.0.1:{thread_server.port}/player/ws"
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    def connect(token: str) -> tuple[ClientConnection, dict[str, Any]]:
        ws = ws_connect(url, open_timeout=10, legacy=True)
        ws.send(_fanout_hello(token))
        while True:
            message = json.loads(ws.recv(timeout=5))
            if message["type"] == "alerts":
                return ws, message

    def run(coroutine: Any) -> Any:
        assert thread_server.loop is not None
        return asyncio.run_coroutine_threadsafe(coroutine, thread_server.loop).result(30)

    async def ingest(draft: AlertDraft) -> None:
        async with transaction(app.state.db) as session:
            targets = service.Targets("screens", (target,))
            await service.ingest(session, [draft], source="test", targets=targets)

    sync_engine = app.state.engine.sync_engine
    sa.event.listen(sync_engine, "before_cursor_execute", record)
    try:
        # No alert anywhere: an empty list, at once.
        ws, first = connect(target_token)
        assert first["alerts"] == [] and first["revision"] > 0
        run(ingest(_draft("c1")))
        raised = _alerts_message(ws, timeout=1.0)
        assert [a["id"] for a in raised["alerts"]] != [] and raised["revision"] > first["revision"]
        ws.close()

        statements.clear()
        late, message = connect(target_token)  # the alert raised before it connected
        assert message == raised
        assert statements and not [s for s in statements if "alerts" in s.lower()]
        untouched, empty = connect(other_token)
        assert empty["alerts"] == [] and not [s for s in statements if "alerts" in s.lower()]

        # A list read before this one (another process's, arriving late) changes nothing:
        # neither the connected player nor the next one to connect gets it.
        hub = app.state.hub
        stale = json.dumps({"type": "alerts", "revision": raised["revision"] - 1, "alerts": []})
        thread_server.call(hub.set_alerts, raised["revision"] - 1, {stale: [target]})
        with pytest.raises(TimeoutError):
            late.recv(timeout=0.5)
        assert json.loads(thread_server.call(hub.alerts, target)) == raised

        # The cancel: the empty list, with a higher revision, also for the next connect.
        run(ingest(_draft("c2", replaces="c1", cancel=True, texts=())))
        cleared = _alerts_message(late, timeout=1.0)
        assert cleared["alerts"] == [] and cleared["revision"] > raised["revision"]
        late.close()
        again, message = connect(target_token)
        assert message == cleared
        for ws in (again, untouched):
            ws.close()
    finally:
        sa.event.remove(sync_engine, "before_cursor_execute", record)


def _alerts_message(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "no alerts message in time"
        message: dict[str, Any] = json.loads(ws.recv(timeout=left))
        if message["type"] == "alerts":
            return message


def test_the_hub_keeps_each_screens_newest_alerts_list() -> None:
    """What a connecting player is sent: the newest list the process has seen for its
    screen, whatever the order lists arrive in; none as of the last full read else."""
    hub = Hub()
    player = hub.subscribe(1)
    assert json.loads(hub.alerts(1)) == {"type": "alerts", "revision": 0, "alerts": []}
    hub.fill_alerts(100, {"[a1] at 100": [1]})
    assert hub.alerts(1) == "[a1] at 100"
    assert json.loads(hub.alerts(2)) == {"type": "alerts", "revision": 100, "alerts": []}
    hub.set_alerts(99, {"[] at 99": [1, 2]})  # read before the full read: too old
    assert hub.alerts(1) == "[a1] at 100"
    assert "alerts" not in player.state and json.loads(hub.alerts(2))["revision"] == 100
    hub.set_alerts(120, {"[a1, a2] at 120": [1]})
    assert hub.alerts(1) == player.state["alerts"] == "[a1, a2] at 120"
    hub.apply_alerts(110, "[] at 110", [1])  # another process's older read, arriving late
    assert hub.alerts(1) == player.state["alerts"] == "[a1, a2] at 120"
    assert hub.alerts_revision == 120
    # A later full read that names the screen no more: it shows none; a newer list stays.
    hub.set_alerts(300, {"[a3] at 300": [3]})
    hub.fill_alerts(200, {})
    assert json.loads(hub.alerts(1)) == {"type": "alerts", "revision": 200, "alerts": []}
    assert hub.alerts(3) == "[a3] at 300"
