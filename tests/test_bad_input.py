"""Inputs that once answered 500 (found by a probe and by tests/test_no500.py): each now
gets a clear 4xx, or is simply accepted, and changes nothing it should not."""

from __future__ import annotations

import re
import secrets
import struct
import zlib

import anyio
import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import Role

from .conftest import add_site, add_user, csrf_token, login, post
from .content.test_media import gif_longest_delay

HX = {"HX-Request": "true"}
DATE_HINT = "Enter a date and time, e.g. 2026-12-01 08:30."


def _count(db: sa.Engine, table: str) -> int:
    with db.connect() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")) or 0)  # noqa: S608


def _admin(client: TestClient, db: sa.Engine) -> int:
    site = add_site(db)
    add_user(db, "root", Role.ADMIN, language="en")
    login(client, "root")
    return site


def _screen(client: TestClient, site: int) -> tuple[int, str]:
    """A player paired to a new screen: (screen id, its device token)."""
    token = secrets.token_urlsafe(32)
    code = client.post("/player/pair", json={"token": token}).json()["code"]
    paired = post(
        client,
        "/screens/pair",
        {"code": code, "screen_id": "", "name": "1F", "site_id": str(site), "layout": "hall",
         "default_playlist_id": "", "groups": ""},
        "/screens/pair",
    )  # fmt: skip
    assert paired.status_code == 303, paired.text
    match = re.search(r"/screens/(\d+)", paired.headers["location"])
    assert match
    return int(match.group(1)), token


def test_json_nested_thousands_deep_is_refused(client: TestClient, db: sa.Engine) -> None:
    deep_object = '{"token": ' + '{"a":' * 50_000 + "1" + "}" * 50_001
    for body in ("[" * 100_000 + "]" * 100_000, deep_object):
        for path in ("/player/pair", "/api/kiosk/tickets"):
            response = client.post(path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == 400, (path, response.text)
            assert response.json()["error"]
    assert _count(db, "pairing_requests") == 0


def test_unicode_digits_in_id_fields_are_refused(client: TestClient, db: sa.Engine) -> None:
    """'²' passes str.isdigit() but not int(); '٣' and '１' are digits int() reads, but no
    form of ours sends them."""
    site = _admin(client, db)
    for digit in ("²", "٣", "１", "9" * 12):
        made = post(client, "/playlists", {"name": "x", "site_id": digit}, "/playlists")
        assert made.status_code == 422, (digit, made.status_code)
        user = post(
            client,
            "/users",
            {"username": "new", "display_name": "New", "password": "a long enough password",
             "role": "editor", "site_id": digit, "language": "ja", "active": "1"},
            "/users",
        )  # fmt: skip
        assert user.status_code == 422, (digit, user.status_code)
        closure = post(client, "/closures", {"site_id": digit, "day": "2026-12-29"}, "/closures")
        assert closure.status_code == 422, (digit, closure.status_code)
        schedule = post(
            client,
            "/schedules/new",
            {"name": "x", "playlist_id": digit, "target": f"screen:{digit}", "zone": "main",
             "priority": "0", "days": "all", "d0_start": "08:00", "d0_end": "09:00",
             "d0_wd": digit},
            "/schedules/new",
        )  # fmt: skip
        assert schedule.status_code == 422, (digit, schedule.status_code)
        assert client.get(f"/audit?before={digit}", headers=HX).status_code == 200
    assert (_count(db, "playlists"), _count(db, "users"), _count(db, "closures")) == (0, 1, 0)
    assert _count(db, "schedules") == 0
    assert site


def test_dates_at_the_ends_of_the_range_are_refused(client: TestClient, db: sa.Engine) -> None:
    site = _admin(client, db)
    for field, value in (
        ("valid_from", "0001-01-01T00:00"),
        ("valid_until", "9999-12-31T23:59-12:00"),
        ("valid_until", "9999-12-31T23:59"),
        ("valid_from", "0001-01-01T00:00+14:00"),
    ):
        response = post(
            client,
            "/notices/new",
            {"site_id": str(site), "style": "normal", "title_ja": "休館", "body_ja": "",
             "action": "approve", field: value},
            "/notices/new",
        )  # fmt: skip
        assert response.status_code == 422, (field, value, response.status_code)
        assert DATE_HINT in response.text
    assert _count(db, "notices") == 0
    screen, _ = _screen(client, site)
    for value in ("0001-01-01T00:00", "9999-12-31T23:59", "9999-12-31T23:59-12:00"):
        page = client.get(f"/screens/{screen}/preview", params={"at": value}, headers=HX)
        assert page.status_code == 200, (value, page.text[-500:])
        assert DATE_HINT in page.text


def test_closure_without_a_site_is_refused(client: TestClient, db: sa.Engine) -> None:
    _admin(client, db)
    response = post(client, "/closures", {"day": "2026-12-29", "reason": "年末"}, "/closures")
    assert response.status_code == 422
    assert "This field is required." in response.text
    assert _count(db, "closures") == 0


def _png_with_inflating_chunk(kind: bytes) -> bytes:
    """A 1×1 PNG whose text or colour profile chunk inflates to 50 MB."""
    packed = b"k\x00\x00" + zlib.compress(b"a" * 50_000_000)

    def chunk(name: bytes, data: bytes) -> bytes:
        body = name + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(kind, packed)
        + chunk(b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")
    )  # fmt: skip


def test_a_decompression_bomb_as_a_screenshot_is_refused(client: TestClient, db: sa.Engine) -> None:
    site = _admin(client, db)
    _, token = _screen(client, site)
    for data in (_png_with_inflating_chunk(b"zTXt"), _png_with_inflating_chunk(b"iCCP")):
        response = client.post(
            "/player/screenshot",
            content=data,
            headers={"authorization": f"Bearer {token}", "content-type": "image/png"},
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "ファイルが壊れているか、途中までしかありません。"


def test_a_playlist_form_error_answers_as_an_htmx_fragment(
    client: TestClient, db: sa.Engine
) -> None:
    _admin(client, db)
    made = post(client, "/playlists", {"name": "案内", "site_id": ""}, "/playlists")
    playlist = made.headers["location"]
    response = client.post(
        f"{playlist}/items",
        data={"kind": "nothing", "duration_seconds": "10"},
        headers={**HX, "X-CSRF-Token": csrf_token(client, playlist)},
    )
    assert response.status_code == 422
    assert 'id="playlist-items"' in response.text
    assert "Choose one of the options." in response.text
    assert _count(db, "playlist_items") == 0


def test_a_gif_of_identical_frames_at_the_longest_delay_is_accepted(
    client: TestClient, db: sa.Engine
) -> None:
    _admin(client, db)
    response = client.post(
        "/media",
        files={"file": ("slow.gif", gif_longest_delay(), "image/gif")},
        headers={"X-CSRF-Token": csrf_token(client, "/media")},
    )
    assert response.status_code == 303, response.text
    assert _count(db, "media") == 1


def test_an_unknown_notice_action_is_not_found(client: TestClient, db: sa.Engine) -> None:
    site = _admin(client, db)
    made = post(
        client,
        "/notices/new",
        {"site_id": str(site), "style": "normal", "title_ja": "休館", "body_ja": "",
         "action": "submit"},
        "/notices/new",
    )  # fmt: skip
    notice = made.headers["location"].split("?")[0]
    response = post(client, f"{notice}/archive", {"reason": "typo in the address"}, notice)
    assert response.status_code == 404
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT status FROM notices")) == "pending"


def test_a_content_length_in_unicode_digits_is_not_a_server_error(client: TestClient) -> None:
    """'²' (byte 0xB2 in a header, read as Latin-1) passes str.isdigit() but not int().
    HTTP clients write their own Content-Length, so the header is handed to the app as a
    server would."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"name=x", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/playlists", "raw_path": b"/playlists", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("testserver", 80),
        "headers": [(b"host", b"testserver"), (b"content-length", b"\xb2"),
                    (b"content-type", b"application/x-www-form-urlencoded")],
    }  # fmt: skip
    anyio.run(client.app, scope, receive, send)
    assert 400 <= int(sent[0]["status"]) < 500  # type: ignore[call-overload]


def test_a_two_step_code_in_unicode_digits_is_refused(client: TestClient, db: sa.Engine) -> None:
    """'²²²²²²' has six digits by str.isdigit(); compared with a real code it was a 500."""
    _admin(client, db)
    response = post(client, "/account/two-step", {"code": "²²²²²²"}, "/account/two-step")
    assert response.status_code == 422, response.text[-500:]
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0
