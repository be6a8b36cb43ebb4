"""Notices through the staff UI: writing in several languages, approval, and the audit."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import AuditEntry, Role

from .conftest import add_site, add_user, login, post

NOTICE = {
    "site_id": "",
    "style": "important",
    "valid_from": "",
    "valid_until": "",
    "image_id": "",
    "title_ja": "納税期限のお知らせ",
    "body_ja": "**12月25日**までに納めてください。\n- 市民税\n- 固定資産税",
    "title_en": "Tax deadline",
    "body_en": "Please pay by **25 December**.",
    "title_vi": "Hạn nộp thuế",
    "body_vi": "",
}


def _status(db: sa.Engine, notice_id: int) -> str:
    with db.connect() as conn:
        return str(
            conn.scalar(sa.text("SELECT status FROM notices WHERE id = :i"), {"i": notice_id})
        )


def _create(client: TestClient, action: str, **changes: str) -> int:
    response = post(client, "/notices/new", {**NOTICE, **changes, "action": action}, "/notices/new")
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("/")[2].split("?")[0])


def test_publisher_creates_and_approves_a_multilingual_notice(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    notice_id = _create(client, "approve")
    assert _status(db, notice_id) == "approved"
    with db.connect() as conn:
        languages = set(
            conn.scalars(
                sa.text("SELECT language FROM notice_texts WHERE notice_id = :i"),
                {"i": notice_id},
            )
        )
        actions = list(conn.scalars(sa.text("SELECT action FROM audit_log ORDER BY id")))
    assert languages == {"ja", "en", "vi"}
    assert actions == ["notice.create", "notice.approve"]
    page = client.get(f"/notices/{notice_id}").text
    assert "納税期限のお知らせ" in page and "Hạn nộp thuế" in page


def test_editor_cannot_publish_alone(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "tanaka", Role.EDITOR)
    login(client, "tanaka")
    notice_id = _create(client, "submit")
    assert _status(db, notice_id) == "pending"
    forged = post(client, "/notices/new", {**NOTICE, "action": "approve"}, "/notices/new")
    assert forged.status_code == 403
    assert post(client, f"/notices/{notice_id}/approve", {}, "/notices").status_code == 403
    assert _status(db, notice_id) == "pending"
    assert "承認" in client.get(f"/notices/{notice_id}").text  # waiting for approval


def test_rejection_needs_a_reason_and_goes_back_to_the_author(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "tanaka", Role.EDITOR)
    add_user(db, "sato", Role.PUBLISHER)
    editor = TestClient(client.app, follow_redirects=False)
    login(editor, "tanaka")
    notice_id = _create(editor, "submit")
    login(client, "sato")
    no_reason = post(client, f"/notices/{notice_id}/reject", {"reason": " "}, "/notices")
    assert no_reason.status_code == 422
    assert _status(db, notice_id) == "pending"
    rejected = post(
        client, f"/notices/{notice_id}/reject", {"reason": "日付が違います"}, "/notices"
    )
    assert rejected.status_code == 303
    assert _status(db, notice_id) == "rejected"
    assert "日付が違います" in editor.get(f"/notices/{notice_id}").text
    assert post(editor, f"/notices/{notice_id}/submit", {}, "/notices").status_code == 303
    assert _status(db, notice_id) == "pending"


def test_an_edit_to_an_approved_notice_needs_approval_again(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "tanaka", Role.EDITOR)
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    notice_id = _create(client, "approve")
    editor = TestClient(client.app, follow_redirects=False)
    login(editor, "tanaka")
    edited = post(
        editor,
        f"/notices/{notice_id}",
        {**NOTICE, "title_ja": "納税期限(変更)", "action": "submit"},
        f"/notices/{notice_id}",
    )
    assert edited.status_code == 303
    assert _status(db, notice_id) == "pending"
    with db.connect() as conn:
        row = conn.execute(
            sa.select(AuditEntry.before, AuditEntry.after).where(
                AuditEntry.action == "notice.update"
            )
        ).one()
    assert row.before["title_ja"] == "納税期限のお知らせ"
    assert row.after["title_ja"] == "納税期限(変更)"
    assert (row.before["status"], row.after["status"]) == ("approved", "pending")


def test_script_and_template_syntax_are_refused_and_nothing_is_stored(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    for title, body in [("<script>alert(1)</script>", ""), ("ok", "{{ config }}")]:
        response = post(
            client,
            "/notices/new",
            {**NOTICE, "title_ja": title, "body_ja": body, "action": "approve"},
            "/notices/new",
        )
        assert response.status_code == 422
        assert "<script>alert(1)</script>" not in response.text
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM notices")) == 0
        assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0


def test_window_end_before_start_is_refused(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    response = post(
        client,
        "/notices/new",
        {
            **NOTICE,
            "valid_from": "2026-12-01T08:30",
            "valid_until": "2026-11-30T08:30",
            "action": "approve",
        },
        "/notices/new",
    )
    assert response.status_code == 422
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM notices")) == 0


def test_site_staff_cannot_see_another_sites_notice(client: TestClient, db: sa.Engine) -> None:
    honcho, kita = add_site(db, "honcho"), add_site(db, "kita", "北支所")
    add_user(db, "sato", Role.PUBLISHER)
    add_user(db, "kitano", Role.EDITOR, site_id=kita)
    login(client, "sato")
    notice_id = _create(client, "approve", site_id=str(honcho))
    other = TestClient(client.app, follow_redirects=False)
    login(other, "kitano")
    assert other.get(f"/notices/{notice_id}").status_code == 404
    assert post(other, f"/notices/{notice_id}/submit", {}, "/notices").status_code == 404


def test_editor_cannot_put_anything_on_screens_directly(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "tanaka", Role.EDITOR)
    login(client, "tanaka")
    assert client.get("/playlists").status_code == 200
    made = post(client, "/playlists", {"name": "mine", "site_id": ""}, "/playlists")
    assert made.status_code == 403
    assert post(client, "/schedules/new", {"name": "x"}, "/schedules").status_code == 403
    assert post(client, "/screens", {"name": "x"}, "/screens").status_code == 403
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM playlists")) == 0


def test_approval_says_which_screens_play_the_notice(client: TestClient, db: sa.Engine) -> None:
    from .test_scheduling import _playlist

    site_id = add_site(db)
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    alone = _create(client, "approve")
    page = client.get(f"/notices/{alone}?done=approve").text
    assert "どの画面のプレイリストにも入っていません" in page
    assert "掲載期間中、画面に表示されます" not in page

    playlist_id = _playlist(client, "いつもの", [alone])
    response = post(
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
    assert response.status_code == 303, response.text
    page = client.get(f"/notices/{alone}?done=approve").text
    assert "お知らせを承認しました。掲載期間中、画面に表示されます。" in page
    assert "1F ロビー" in page.split("表示する画面")[1]
