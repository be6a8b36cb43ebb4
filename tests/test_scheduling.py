"""Screens, playlists and schedules through the staff UI, checked in the preview and the
manifest: a notice shows exactly in its window, across midnight and around holidays."""

from __future__ import annotations

import re

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import Manifest, Role

from .conftest import add_site, add_user, csrf_token, login, post


def _id(response: object, pattern: str) -> int:
    location = response.headers["location"]  # type: ignore[attr-defined]
    match = re.search(pattern, location)
    assert match, location
    return int(match.group(1))


def _notice(client: TestClient, title: str, **extra: str) -> int:
    response = post(
        client,
        "/notices/new",
        {
            "site_id": "",
            "style": extra.pop("style", "normal"),
            "title_ja": title,
            "body_ja": "",
            "title_en": "",
            "body_en": "",
            "action": "approve",
            **extra,
        },
        "/notices/new",
    )
    assert response.status_code == 303, response.text
    return _id(response, r"/notices/(\d+)")


def _playlist(client: TestClient, name: str, notice_ids: list[int]) -> int:
    response = post(client, "/playlists", {"name": name, "site_id": ""}, "/playlists")
    assert response.status_code == 303, response.text
    playlist_id = _id(response, r"/playlists/(\d+)")
    for notice_id in notice_ids:
        added = post(
            client,
            f"/playlists/{playlist_id}/items",
            {"kind": "notice", "notice_id": str(notice_id), "duration_seconds": "10"},
            f"/playlists/{playlist_id}",
        )
        assert added.status_code == 303, added.text
    return playlist_id


def _schedule(client: TestClient, **fields: object) -> object:
    data: dict[str, object] = {
        "name": "",
        "zone": "main",
        "priority": "10",
        "days": "all",
        "starts_at": "",
        "ends_at": "",
        "cron": "",
        "cron_minutes": "",
        **fields,
    }
    return post(client, "/schedules/new", data, "/schedules/new")


def _shown(client: TestClient, screen_id: int, at: str) -> str:
    page = client.get(f"/screens/{screen_id}/preview?at={at}", headers={"HX-Request": "true"})
    assert page.status_code == 200, page.text
    main = page.text.split('data-zone="main"')[1].split("data-zone=")[0]
    match = re.search(r"<h2>([^<]*)</h2>", main)
    return match.group(1) if match else ""


def _setup(client: TestClient, db: sa.Engine) -> tuple[int, int]:
    site_id = add_site(db)
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    default = _playlist(client, "いつもの", [_notice(client, "ようこそ")])
    response = post(
        client,
        "/screens",
        {
            "name": "1F ロビー",
            "site_id": str(site_id),
            "layout": "hall",
            "default_playlist_id": str(default),
            "groups": "1F",
        },
        "/screens",
    )
    assert response.status_code == 303, response.text
    return site_id, _id(response, r"/screens/(\d+)")


def test_weekday_hours_show_exactly_in_their_window(client: TestClient, db: sa.Engine) -> None:
    _, screen_id = _setup(client, db)
    hours = _playlist(client, "開庁時間", [_notice(client, "開庁中")])
    created = _schedule(
        client,
        playlist_id=str(hours),
        target=f"screen:{screen_id}",
        d0_wd=["0", "1", "2", "3", "4"],
        d0_start="08:30",
        d0_end="17:15",
    )
    assert created.status_code == 303, created.text  # type: ignore[attr-defined]
    # 2026-12-01 is a Tuesday.
    assert _shown(client, screen_id, "2026-12-01T08:29") == "ようこそ"
    assert _shown(client, screen_id, "2026-12-01T08:30") == "開庁中"
    assert _shown(client, screen_id, "2026-12-01T17:14") == "開庁中"
    assert _shown(client, screen_id, "2026-12-01T17:15") == "ようこそ"
    assert _shown(client, screen_id, "2026-12-05T10:00") == "ようこそ"  # Saturday


def test_a_notice_appears_at_its_start_not_at_the_next_poll(
    client: TestClient, db: sa.Engine
) -> None:
    _, screen_id = _setup(client, db)
    notice = _notice(
        client, "納税期限", valid_from="2026-12-01T08:30", valid_until="2026-12-01T12:00"
    )
    playlist = _playlist(client, "税", [notice])
    with db.connect() as conn:
        group_id = conn.scalar(sa.text("SELECT id FROM screen_groups WHERE name = '1F'"))
    _schedule(client, playlist_id=str(playlist), target=f"group:{group_id}")
    # Before and after its window, the zone falls back to the default playlist.
    assert _shown(client, screen_id, "2026-12-01T08:29") == "ようこそ"
    assert _shown(client, screen_id, "2026-12-01T08:30") == "納税期限"
    assert _shown(client, screen_id, "2026-12-01T11:59") == "納税期限"
    assert _shown(client, screen_id, "2026-12-01T12:00") == "ようこそ"


def test_across_midnight(client: TestClient, db: sa.Engine) -> None:
    _, screen_id = _setup(client, db)
    night = _playlist(client, "夜間", [_notice(client, "夜間窓口")])
    _schedule(
        client,
        playlist_id=str(night),
        target=f"screen:{screen_id}",
        d0_wd=["4"],
        d0_start="22:00",
        d0_end="02:00",
    )
    # Friday 2026-12-04 22:00 until Saturday 02:00.
    assert _shown(client, screen_id, "2026-12-04T21:59") == "ようこそ"
    assert _shown(client, screen_id, "2026-12-04T23:30") == "夜間窓口"
    assert _shown(client, screen_id, "2026-12-05T01:59") == "夜間窓口"
    assert _shown(client, screen_id, "2026-12-05T02:00") == "ようこそ"
    assert _shown(client, screen_id, "2026-12-05T23:00") == "ようこそ"


def test_holidays_and_closures(client: TestClient, db: sa.Engine) -> None:
    site_id, screen_id = _setup(client, db)
    open_hours = _playlist(client, "開庁", [_notice(client, "開庁中")])
    closed = _playlist(client, "閉庁", [_notice(client, "本日閉庁", style="closure")])
    _schedule(client, playlist_id=str(open_hours), target=f"screen:{screen_id}", days="open")
    _schedule(
        client,
        playlist_id=str(closed),
        target=f"screen:{screen_id}",
        days="closed",
        priority="20",
    )
    # 2026-11-23 (Monday) is Labour Thanksgiving Day; 2026-11-24 is an ordinary Tuesday.
    assert _shown(client, screen_id, "2026-11-23T10:00") == "本日閉庁"
    assert _shown(client, screen_id, "2026-11-24T10:00") == "開庁中"
    added = post(
        client,
        "/closures",
        {"site_id": str(site_id), "day": "2026-12-29", "reason": "年末"},
        "/closures",
    )
    assert added.status_code == 303
    assert _shown(client, screen_id, "2026-12-29T10:00") == "本日閉庁"
    assert _shown(client, screen_id, "2026-12-28T10:00") == "開庁中"


def test_higher_priority_wins_and_unapproved_never_shows(client: TestClient, db: sa.Engine) -> None:
    _, screen_id = _setup(client, db)
    low = _playlist(client, "低", [_notice(client, "通常")])
    high = _playlist(client, "高", [_notice(client, "緊急")])
    _schedule(client, playlist_id=str(low), target=f"screen:{screen_id}", priority="10")
    _schedule(
        client,
        playlist_id=str(high),
        target=f"screen:{screen_id}",
        priority="50",
        starts_at="2026-12-01T10:00",
        ends_at="2026-12-01T11:00",
    )
    assert _shown(client, screen_id, "2026-12-01T09:59") == "通常"
    assert _shown(client, screen_id, "2026-12-01T10:00") == "緊急"
    assert _shown(client, screen_id, "2026-12-01T11:00") == "通常"
    draft = post(
        client,
        "/notices/new",
        {"site_id": "", "style": "normal", "title_ja": "下書き", "action": "draft"},
        "/notices/new",
    )
    draft_id = _id(draft, r"/notices/(\d+)")
    drafts = _playlist(client, "下書きだけ", [draft_id])
    _schedule(client, playlist_id=str(drafts), target=f"screen:{screen_id}", priority="90")
    assert _shown(client, screen_id, "2026-12-01T09:00") == "ようこそ"
    assert "下書き" not in client.get(f"/screens/{screen_id}/preview?at=2026-12-01T09:00").text


def test_bad_schedules_are_refused_and_change_nothing(client: TestClient, db: sa.Engine) -> None:
    _, screen_id = _setup(client, db)
    playlist = _playlist(client, "p", [])
    with db.connect() as conn:
        before = conn.scalar(sa.select(Manifest.version))
    cases = [
        ({"starts_at": "2026-12-02T10:00", "ends_at": "2026-12-01T10:00"}, "ends_at"),
        ({"cron": "every day at nine", "cron_minutes": "30"}, "cron"),
        ({"d0_start": "25:00", "d0_end": "26:00"}, "daypart_0"),
        ({"zone": "header"}, "zone"),
        ({"target": "screen:999"}, "target"),
    ]
    for fields, field in cases:
        data = {"playlist_id": str(playlist), "target": f"screen:{screen_id}", **fields}
        response = _schedule(client, **data)
        assert response.status_code == 422, (field, response.text)  # type: ignore[attr-defined]
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM schedules")) == 0
        assert conn.scalar(sa.select(Manifest.version)) == before


def test_a_schedule_change_rebuilds_only_the_screens_it_affects(
    client: TestClient, db: sa.Engine
) -> None:
    site_id, first = _setup(client, db)
    other = post(
        client,
        "/screens",
        {
            "name": "2F",
            "site_id": str(site_id),
            "layout": "counter",
            "default_playlist_id": "",
            "groups": "2F",
        },
        "/screens",
    )
    second = _id(other, r"/screens/(\d+)")
    with db.connect() as conn:
        versions = dict(conn.execute(sa.select(Manifest.screen_id, Manifest.version)).all())
    playlist = _playlist(client, "2F only", [_notice(client, "二階")])
    _schedule(client, playlist_id=str(playlist), target=f"screen:{second}")
    with db.connect() as conn:
        after = dict(conn.execute(sa.select(Manifest.screen_id, Manifest.version)).all())
    assert after[first] == versions[first]
    assert after[second] == versions[second] + 1


def test_timeline_page_lists_48_hours(client: TestClient, db: sa.Engine) -> None:
    _, screen_id = _setup(client, db)
    page = client.get(f"/screens/{screen_id}")
    assert page.status_code == 200
    assert "メイン" in page.text and "テロップ" in page.text and "サイド" in page.text
    with db.connect() as conn:
        body = conn.scalar(sa.select(Manifest.body))
    assert body is not None
    for zone in ("main", "side", "ticker"):
        slots = body["timeline"][zone]
        assert slots[0]["start"] == body["from"] and slots[-1]["end"] == body["until"]


def test_a_bad_edit_of_a_schedule_changes_nothing(client: TestClient, db: sa.Engine) -> None:
    _, screen_id = _setup(client, db)
    playlist = _playlist(client, "p", [])
    made = _schedule(client, name="正しい", playlist_id=str(playlist), target=f"screen:{screen_id}")
    assert made.status_code == 303  # type: ignore[attr-defined]
    with db.connect() as conn:
        schedule_id = conn.scalar(sa.text("SELECT id FROM schedules"))
        before = conn.execute(sa.text("SELECT name, zone, priority FROM schedules")).one()
    response = post(
        client,
        f"/schedules/{schedule_id}",
        {
            "name": "壊れた",
            "playlist_id": str(playlist),
            "target": f"screen:{screen_id}",
            "zone": "main",
            "priority": "30",
            "days": "all",
            "starts_at": "2026-12-02T10:00",
            "ends_at": "2026-12-01T10:00",
            "cron": "",
            "cron_minutes": "",
        },
        f"/schedules/{schedule_id}",
    )
    assert response.status_code == 422
    with db.connect() as conn:
        assert conn.execute(sa.text("SELECT name, zone, priority FROM schedules")).one() == before
        assert (
            conn.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action = 'schedule.update'"))
            == 0
        )


def test_playlist_edits_through_htmx_answer_with_the_items_fragment(
    client: TestClient, db: sa.Engine
) -> None:
    """The browser posts these forms with HX-Request and swaps #playlist-items."""
    add_site(db)
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    first, second = _notice(client, "ようこそ"), _notice(client, "開庁中")
    playlist_id = _playlist(client, "案内", [])
    path = f"/playlists/{playlist_id}/items"
    htmx = {"HX-Request": "true", "HX-Target": "playlist-items"}

    def send(data: dict[str, str]) -> str:
        token = csrf_token(client, f"/playlists/{playlist_id}")
        response = client.post(path, data={**data, "csrf_token": token}, headers=htmx)
        assert response.status_code in (200, 422), response.text
        fragment = response.text
        assert fragment.lstrip().startswith('<div id="playlist-items">'), fragment[:200]
        assert "<html" not in fragment
        return fragment

    def order(fragment: str) -> list[str]:
        return re.findall(r'<span class="what">([^<]*)', fragment)

    for notice_id in (first, second):
        added = send({"kind": "notice", "notice_id": str(notice_id), "duration_seconds": "10"})
    assert order(added) == ["ようこそ", "開庁中"]
    item_ids = re.findall(r'name="item_id" value="(\d+)"', added)
    moved = send({"item_id": item_ids[1], "move": "up"})
    assert order(moved) == ["開庁中", "ようこそ"]
    moved = send({"item_id": item_ids[1], "move": "down"})
    assert order(moved) == ["ようこそ", "開庁中"]
    removed = send({"item_id": item_ids[0], "move": "remove"})
    assert order(removed) == ["開庁中"]
    invalid = send({"kind": "ticker", "text": "お知らせ", "duration_seconds": "0"})
    assert "Some fields need attention." in invalid or "確認" in invalid
    assert 'aria-invalid="true"' in invalid and order(invalid) == ["開庁中"]


def test_a_playlist_item_names_only_a_notice_of_the_users_sites(
    client: TestClient, db: sa.Engine
) -> None:
    home, other = add_site(db), add_site(db, "kita", "北支所")
    add_user(db, "sato", Role.PUBLISHER)
    add_user(db, "kato", Role.PUBLISHER, site_id=home)
    login(client, "sato")
    elsewhere = _notice(client, "北支所だけ", site_id=str(other))
    client.cookies.clear()
    login(client, "kato")
    made = post(client, "/playlists", {"name": "本庁舎の案内", "site_id": str(home)}, "/playlists")
    assert made.status_code == 303, made.text
    playlist_id = _id(made, r"/playlists/(\d+)")
    response = client.post(
        f"/playlists/{playlist_id}/items",
        data={
            "kind": "notice",
            "notice_id": str(elsewhere),
            "duration_seconds": "10",
            "csrf_token": csrf_token(client, f"/playlists/{playlist_id}"),
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422, response.text
    assert 'aria-invalid="true"' in response.text and "北支所だけ" not in response.text
