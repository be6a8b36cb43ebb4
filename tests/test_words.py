"""Staff read names and words, never internal keys, ids or hashes: the audit log and the
fleet view."""

from __future__ import annotations

import re

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage import words
from signage.models import Notice, Role

from .conftest import add_site, add_user, login, post
from .test_scheduling import _notice, _playlist


def _diff_cells(html: str) -> str:
    return " ".join(re.findall(r'<td class="diff">(.*?)</td>', html, re.S))


def test_the_audit_log_speaks_in_words(client: TestClient, db: sa.Engine) -> None:
    site_id = add_site(db, name="本庁舎")
    add_user(db, "admin", Role.ADMIN)
    editor = add_user(db, "tanaka", Role.EDITOR, site_id=site_id)
    login(client, "admin")
    notice_id = _notice(client, "納税のお知らせ")
    playlist_id = _playlist(client, "いつもの", [notice_id])
    added = post(
        client,
        "/screens",
        {
            "name": "1F ロビー",
            "site_id": str(site_id),
            "layout": "hall",
            "default_playlist_id": str(playlist_id),
            "groups": "",
        },
        "/screens",
    )
    assert added.status_code == 303
    changed = post(
        client,
        f"/users/{editor}",
        {"display_name": "Tanaka", "role": "publisher", "site_id": str(site_id),
         "language": "ja", "active": "1"},
        f"/users/{editor}",
    )  # fmt: skip
    assert changed.status_code == 303, changed.text[-400:]
    page = client.get("/audit").text
    cells = _diff_cells(page)
    # Names and translated values ...
    assert "お知らせ「納税のお知らせ」、10 秒" in cells  # the playlist's items
    assert "いつもの" in cells and "本庁舎" in cells  # the screen's playlist and site
    assert "承認済み" in cells  # the notice's status
    assert "編集者" in cells and "公開承認者" in cells  # the user's role, before and after
    # ... never internal keys, ids, codes or hashes.
    for internal in ("playlist_id", "site_id", "notice:", "approved", "editor", "publisher",
                     "title_ja", "sha256"):  # fmt: skip
        assert internal not in cells, internal
    # The dashboard's recent changes read the same.
    assert "お知らせ「納税のお知らせ」、10 秒" in _diff_cells(client.get("/").text)


def test_what_a_player_reports_is_put_into_words() -> None:
    names = words.Names(
        rows={(Notice, 7): "窓口のご案内"}, files={"ab" * 32 + ".jpg": "庁舎の写真"}
    )
    assert words.playing_parts("notice 7 ja+en: x / y") == (7, None)
    assert words.playing_parts("image " + "ab" * 32 + ".jpg") == (None, "ab" * 32 + ".jpg")

    def _(message: str, **params: object) -> str:
        return message % params if params else message

    assert words.playing_text("notice 7 ja+en: x / y", names, _) == (
        "Notice「窓口のご案内」 (日本語、English)"
    )
    assert (
        words.playing_text("notice 8 vi: Xin chào", names, _) == "Notice「Xin chào」 (Tiếng Việt)"
    )
    assert words.playing_text("image " + "ab" * 32 + ".jpg", names, _) == "Picture「庁舎の写真」"
    assert words.playing_text("image " + "cd" * 32 + ".png", names, _) == "Picture"
    assert words.playing_text("serving A-023", names, _) == "Serving A-023"
    assert words.playing_text("idle", names, _) == "—"
    assert words.playing_text("clock", names, _) == "Clock"
    assert words.playing_text("ticker: 本日は混雑", names, _) == "Ticker text「本日は混雑」"


def test_every_zone_of_every_layout_has_words() -> None:
    from content.layouts import LAYOUTS
    from signage.web import ZONE_LABELS

    zones = {zone.name for layout in LAYOUTS.values() for zone in layout.zones}
    assert zones <= set(ZONE_LABELS) and zones <= set(words.ZONES)
