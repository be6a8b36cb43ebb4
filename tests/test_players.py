"""The player protocol with the real server and real websocket clients (docs/protocol.md)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import secrets
import time
from typing import Any, cast

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from PIL import Image
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from content.protocol import (
    Ack,
    Heartbeat,
    Hello,
    ManifestMessage,
    ServerMessage,
    read_server_message,
)
from signage.db import create_engine, session_factory
from signage.live.socket import SeenWriter
from signage.models import Screen

from .conftest import LiveServer, Staff, add_site
from .wire import conforms


def _ws(server: LiveServer, origin: str | None = None) -> ClientConnection:
    url = server.url.replace("http://", "ws://") + "/player/ws"
    headers = {"Origin": origin} if origin else None
    return connect(url, additional_headers=headers, open_timeout=10, legacy=True)


def _recv(ws: ClientConnection, timeout: float = 5.0) -> Any:
    """The next message from the server: exactly one of the protocol's types, which the
    players' reader (content/protocol.py) takes as it is."""
    message = json.loads(ws.recv(timeout=timeout))
    conforms(message, ServerMessage)
    assert read_server_message(message) == message
    return cast(ServerMessage, message)


def _close_code(ws: ClientConnection, timeout: float = 5.0) -> int | None:
    try:
        while True:
            ws.recv(timeout=timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


def _hello(token: str, **extra: object) -> str:
    hello: Hello = {
        "type": "hello",
        "token": token,
        "protocol": 1,
        "epoch": None,
        "seq": 0,
        "manifest_version": 0,
        "player": {"kind": "test", "version": "1"},
    }
    return json.dumps({**hello, **extra})  # extra: what a test changes


def _request_code(server: LiveServer, token: str) -> str:
    response = httpx.post(server.url + "/player/pair", json={"token": token}, timeout=10)
    assert response.status_code == 201, response.text
    code: str = response.json()["code"]
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{3}", code)
    return code


def _paired_player(server: LiveServer, staff: Staff) -> tuple[str, int, ClientConnection]:
    token = secrets.token_urlsafe(24)
    code = _request_code(server, token)
    ws = _ws(server)
    ws.send(_hello(token))
    assert _recv(ws) == {"type": "pairing", "code": code}
    screen_id = staff.pair(code, staff.site())
    assert _recv(ws)["type"] == "paired"
    welcome = _recv(ws)
    assert welcome["type"] == "welcome" and welcome["screen"]["id"] == screen_id
    manifest = _recv(ws)
    assert manifest["type"] == "manifest" and manifest["version"] >= 1
    alerts = _recv(ws)  # always sent: none shows here yet
    assert alerts["type"] == "alerts" and alerts["alerts"] == [] and alerts["revision"] > 0
    return token, screen_id, ws


def test_pairing_starts_playback_on_the_same_socket(live_server: LiveServer, staff: Staff) -> None:
    token, _, ws = _paired_player(live_server, staff)
    with ws:
        ack: Ack = {"type": "ack", "manifest_version": 1}
        ws.send(json.dumps(ack))
    # A reconnect with the same token is welcomed at once; an up-to-date player gets no
    # manifest again.
    with _ws(live_server) as again:
        again.send(_hello(token, manifest_version=1))
        assert _recv(again)["type"] == "welcome"
        assert _recv(again)["type"] == "alerts"
        with pytest.raises(TimeoutError):
            again.recv(timeout=0.5)
    fleet = staff.http.get("/fleet").text
    assert "1F ロビー" in fleet


@pytest.mark.parametrize(
    ("hello", "code"),
    [
        ("not json", 4000),
        (json.dumps({"type": "heartbeat"}), 4000),
        (json.dumps({"type": "hello"}), 4001),
        (json.dumps({"type": "hello", "token": "x" * 40, "protocol": 1}), 4001),
        (json.dumps({"type": "hello", "token": "bad token with spaces!!", "protocol": 1}), 4001),
    ],
)
def test_bad_hellos_are_closed_with_their_code(
    live_server: LiveServer, hello: str, code: int
) -> None:
    with _ws(live_server) as ws:
        ws.send(hello)
        assert _close_code(ws) == code
    assert httpx.get(live_server.url + "/healthz").status_code == 200


def test_after_hello_each_message_type_has_its_handler_and_others_close_4000(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        # A heartbeat with fields of the wrong kinds is read as "nothing known" (as ever);
        # an ack of a version is kept; the socket stays open through both.
        ws.send(
            json.dumps({"type": "heartbeat", "seq": "x", "playing": [1], "manifest_version": -3})
        )
        ws.send(json.dumps({"type": "ack", "manifest_version": 1}))
        staff.post(f"/screens/{screen_id}/command", {"command": "reload"}, page="/fleet")
        message = _recv(ws)
        while message["type"] != "event":  # a queue board may come first
            message = _recv(ws)
        assert message["event"] == {"kind": "reload"}
        fleet = staff.http.get("/fleet").text.split(f'data-screen="{screen_id}"')[1]
        assert "最新(版 1)" in fleet.split("</tr>")[0]
        ws.send(json.dumps({"type": "hello", "token": "again"}))  # only first
        assert _close_code(ws) == 4000
    with _ws(live_server) as again:
        again.send(_hello(token, manifest_version=1))
        assert _recv(again)["type"] == "welcome"
        again.send(json.dumps({"type": "screenshot"}))  # a type players never send
        assert _close_code(again) == 4000


def test_foreign_origin_is_closed(live_server: LiveServer) -> None:
    with _ws(live_server, origin="http://evil.example") as ws:
        with contextlib.suppress(ConnectionClosed):  # it may be closed before the hello
            ws.send(_hello(secrets.token_urlsafe(24)))
        assert _close_code(ws) == 4003


def test_oversized_message_is_closed(live_server: LiveServer) -> None:
    with _ws(live_server) as ws:
        ws.send("x" * 200_000)
        assert _close_code(ws) in (1009, 4000)


def test_revoking_closes_the_socket_and_the_token_stops_working(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        staff.post(f"/screens/{screen_id}/revoke", {}, page=f"/screens/{screen_id}")
        assert _close_code(ws) == 4002
    with _ws(live_server) as again:
        again.send(_hello(token))
        assert _close_code(again) == 4001


def test_a_command_reaches_the_screen_and_is_caught_up_after_a_reconnect(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        staff.post(f"/screens/{screen_id}/command", {"command": "identify"}, page="/fleet")
        event = _recv(ws)
        assert event["type"] == "event" and event["event"]["kind"] == "identify"
        seq = event["seq"]
    welcome_epoch = None
    with _ws(live_server) as probe:
        probe.send(_hello(token, manifest_version=1))
        welcome_epoch = _recv(probe)["epoch"]
    # While the player is away, a reload command is sent; it gets it on reconnect.
    staff.post(f"/screens/{screen_id}/command", {"command": "reload"}, page="/fleet")
    with _ws(live_server) as again:
        again.send(_hello(token, epoch=welcome_epoch, seq=seq, manifest_version=1))
        assert _recv(again)["type"] == "welcome"
        missed = _recv(again)
        assert missed["type"] == "event" and missed["event"]["kind"] == "reload"
        assert missed["seq"] > seq


def _manifest_titles(message: ManifestMessage) -> set[str]:
    notices = message["manifest"]["notices"].values()
    return {text["title"] for notice in notices for text in notice["texts"]}


def test_an_approved_change_is_pushed_to_the_screen(live_server: LiveServer, staff: Staff) -> None:
    _, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        notice_id = staff.notice("窓口のご案内")
        staff.play_by_default(screen_id, staff.playlist([notice_id]))
        first = _recv(ws)
        assert first["type"] == "manifest" and "窓口のご案内" in _manifest_titles(first)
        # An edit, approved: the screen gets the new text; an unapproved edit takes it off.
        staff.post(
            f"/notices/{notice_id}",
            {
                "site_id": "",
                "style": "normal",
                "title_ja": "窓口のご案内(変更)",
                "body_ja": "",
                "action": "approve",
            },
            page=f"/notices/{notice_id}",
        )
        second = _recv(ws)
        assert second["version"] > first["version"]
        assert _manifest_titles(second) == {"窓口のご案内(変更)"}
        staff.post(
            f"/notices/{notice_id}",
            {
                "site_id": "",
                "style": "normal",
                "title_ja": "下書き",
                "body_ja": "",
                "action": "draft",
            },
            page=f"/notices/{notice_id}",
        )
        third = _recv(ws)
        assert _manifest_titles(third) == set()


def test_a_change_made_while_a_player_is_offline_arrives_on_reconnect(
    live_server: LiveServer, staff: Staff
) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        welcome_version = 1
    staff.play_by_default(screen_id, staff.playlist([staff.notice("留守中の変更")]))
    with _ws(live_server) as again:
        again.send(_hello(token, manifest_version=welcome_version))
        assert _recv(again)["type"] == "welcome"
        manifest = _recv(again)
        assert manifest["type"] == "manifest" and manifest["version"] > welcome_version
        assert _manifest_titles(manifest) == {"留守中の変更"}


def test_after_a_server_restart_players_are_told_and_start_afresh(
    live_server: LiveServer, staff: Staff
) -> None:
    token, _, ws = _paired_player(live_server, staff)
    with ws:
        epoch = None
        live_server.stop()
        assert _close_code(ws) == 1012  # "service restart": reconnect after a random delay
    live_server.start()
    with _ws(live_server) as again:
        again.send(_hello(token, epoch="an-old-epoch", seq=42, manifest_version=1))
        welcome = _recv(again)
        epoch = welcome["epoch"]
        assert welcome["type"] == "welcome" and epoch != "an-old-epoch"
        alerts = _recv(again)  # none shows: said at once, from the new process's memory
        assert alerts["type"] == "alerts" and alerts["alerts"] == []
        with pytest.raises(TimeoutError):
            again.recv(timeout=0.5)  # nothing stale is replayed from another epoch


def test_pairing_requests_are_bounded_and_codes_checked(
    live_server: LiveServer, staff: Staff
) -> None:
    for bad in ({"token": "short"}, {"token": 12}, {}, []):
        response = httpx.post(live_server.url + "/player/pair", json=bad, timeout=10)
        assert response.status_code == 400
    assert (
        httpx.post(live_server.url + "/player/pair", content=b"{not json", timeout=10).status_code
        == 400
    )
    for _ in range(10):
        _request_code(live_server, secrets.token_urlsafe(24))
    crowded = httpx.post(
        live_server.url + "/player/pair", json={"token": secrets.token_urlsafe(24)}, timeout=10
    )
    assert crowded.status_code == 429
    # A wrong code changes nothing.
    site_id = staff.site()
    page = staff.token("/screens/pair")
    response = staff.http.post(
        "/screens/pair",
        data={
            "code": "ZZZ-ZZZ",
            "screen_id": "",
            "name": "x",
            "site_id": str(site_id),
            "layout": "hall",
            "default_playlist_id": "",
            "groups": "",
            "csrf_token": page,
        },
    )
    assert response.status_code == 422
    assert "このコードを表示している画面はありません" in response.text
    assert "x</a>" not in staff.http.get("/screens").text


def test_fleet_shows_online_and_offline(live_server: LiveServer, staff: Staff) -> None:
    _, screen_id, ws = _paired_player(live_server, staff)
    notice_id = staff.notice("ようこそ市役所へ")
    with ws:
        row = staff.http.get("/fleet").text.split(f'data-screen="{screen_id}"')[1]
        assert "オンライン" in row.split("</tr>")[0]
        heartbeat: Heartbeat = {
            "type": "heartbeat",
            "seq": 0,
            "manifest_version": 1,
            "playing": {
                "main": f"notice {notice_id} ja+en: ようこそ / Welcome",
                "header": "clock",
                "ticker": "ticker: 本日は混雑しています",
            },
        }
        ws.send(json.dumps(heartbeat))
        time.sleep(0.3)
        row = staff.http.get("/fleet", headers={"HX-Request": "true"}).text
        assert "<html" not in row  # the table alone, for htmx to swap in
        # In words: the notice's title and languages, the clock, the ticker; the content
        # version with what it means, never internal forms.
        assert "お知らせ「ようこそ市役所へ」 (日本語、English)" in row
        assert "時計" in row and "テロップ「本日は混雑しています」" in row
        assert "最新(版 1)" in row
        assert f"notice {notice_id}" not in row and "ticker:" not in row
    time.sleep(0.3)
    row = staff.http.get("/fleet").text.split(f'data-screen="{screen_id}"')[1].split("</tr>")[0]
    assert "オフライン" in row


def test_screenshots_from_a_player(live_server: LiveServer, staff: Staff) -> None:
    token, screen_id, ws = _paired_player(live_server, staff)
    with ws:
        staff.post(f"/screens/{screen_id}/command", {"command": "screenshot"}, page="/fleet")
        assert _recv(ws)["event"] == {"kind": "screenshot"}
    frame = io.BytesIO()
    Image.new("RGB", (320, 180), "navy").save(frame, "PNG")
    url = live_server.url + "/player/screenshot"
    sent = httpx.post(url, content=frame.getvalue(), headers={"Authorization": f"Bearer {token}"})
    assert sent.status_code == 201
    shown = staff.http.get(f"/screens/{screen_id}/screenshot")
    assert shown.status_code == 200 and shown.content == frame.getvalue()
    wrong = httpx.post(
        url, content=frame.getvalue(), headers={"Authorization": "Bearer " + "a" * 32}
    )
    assert wrong.status_code == 401
    not_png = httpx.post(url, content=b"<html>", headers={"Authorization": f"Bearer {token}"})
    assert not_png.status_code == 400
    assert staff.http.get(f"/screens/{screen_id}/screenshot").content == frame.getvalue()


def test_what_players_report_is_written_in_one_batch_per_set_of_fields(
    database_url: str, db: sa.Engine
) -> None:
    """SeenWriter, on the real database: screens that said different things each get
    exactly theirs; screens that said nothing are left alone."""
    site_id = add_site(db)
    with db.begin() as conn:
        ids = [
            conn.execute(
                sa.insert(Screen).values(site_id=site_id, name=f"s{i}", layout="full")
            ).inserted_primary_key[0]  # type: ignore[index]
            for i in range(4)
        ]

    async def scenario() -> None:
        engine = create_engine(database_url)
        try:
            seen = SeenWriter(session_factory(engine))
            seen.note(ids[0], player_kind="web", player_version="2.1")
            seen.note(ids[1])
            seen.note(ids[2], manifest_ack=7)
            seen.note(ids[2])  # a later heartbeat keeps the acknowledgement
            seen.note(ids[1], manifest_ack=3)
            await seen.flush()
            assert seen.pending == {}
        finally:
            await engine.dispose()

    asyncio.run(scenario())
    with db.connect() as conn:
        rows = {
            r.id: r
            for r in conn.execute(
                sa.select(
                    Screen.id,
                    Screen.last_seen_at,
                    Screen.player_kind,
                    Screen.player_version,
                    Screen.manifest_ack,
                )
            )
        }
    assert (rows[ids[0]].player_kind, rows[ids[0]].player_version) == ("web", "2.1")
    assert [rows[i].manifest_ack for i in ids] == [0, 3, 7, 0]
    assert all(rows[i].last_seen_at is not None for i in ids[:3])
    assert rows[ids[3]].last_seen_at is None and rows[ids[3]].player_kind == ""


def test_alert_acks_are_taken_and_a_malformed_one_closes(
    live_server: LiveServer, staff: Staff
) -> None:
    _, _, ws = _paired_player(live_server, staff)
    with ws:
        # Ids the player shows, some not ids at all (skipped): the socket stays open.
        ws.send(json.dumps({"type": "alert_ack", "ids": ["a17", 5, "", "x" * 65]}))
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.5)
        ws.send(json.dumps({"type": "alert_ack", "ids": "a17"}))
        assert _close_code(ws) == 4000
