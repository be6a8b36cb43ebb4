"""The issue's walk-through: log in, create a user and a site, see both in the audit log."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import Role

from .conftest import PASSWORD, add_site, add_user, login, post


def test_admin_creates_a_site_and_a_user_and_sees_both_in_the_audit_log(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    created = post(
        client,
        "/sites",
        {
            "code": "minami",
            "name": "南支所",
            "name_en": "South Branch",
            "timezone": "Asia/Tokyo",
            "languages": ["ja", "en", "vi"],
            "active": "1",
        },
        page="/sites",
    )
    assert created.status_code == 303
    sites_page = client.get("/sites?done=created")
    assert "拠点を作成しました" in sites_page.text
    assert "南支所" in sites_page.text
    with db.connect() as conn:
        site_id = conn.scalar(sa.text("SELECT id FROM sites WHERE code = 'minami'"))
        assert conn.scalar(sa.text("SELECT languages FROM sites")) == "ja,en,vi"

    made = post(
        client,
        "/users",
        {
            "username": "Yamada",
            "display_name": "山田 太郎",
            "password": "a good long secret",
            "role": "counter",
            "site_id": str(site_id),
            "language": "en",
            "active": "1",
        },
        page="/users",
    )
    assert made.status_code == 303
    assert "山田 太郎" in client.get("/users").text

    audit = client.get("/audit").text
    assert "拠点の作成" in audit and "南支所" in audit
    assert "ユーザーの作成" in audit and "yamada" in audit
    # The new account works, in its own language.
    other = TestClient(client.app, follow_redirects=False)
    login(other, "yamada", "a good long secret")
    home = other.get("/")
    assert "Dashboard" in home.text and 'lang="en"' in home.text


def test_audit_keeps_before_and_after_of_a_change(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    site_id = add_site(db)
    login(client, "admin")
    response = post(
        client,
        f"/sites/{site_id}",
        {
            "code": "honcho",
            "name": "市役所本庁舎",
            "timezone": "Asia/Tokyo",
            "languages": "ja",
            "active": "1",
        },
        page=f"/sites/{site_id}",
    )
    assert response.status_code == 303
    with db.connect() as conn:
        row = conn.execute(sa.text("SELECT actor, action, before, after FROM audit_log")).one()
    assert row.actor == "admin" and row.action == "site.update"
    text = client.get("/audit?action=site.update").text
    assert "<del>本庁舎</del>" in text and "<ins>市役所本庁舎</ins>" in text
    assert "<del>日本語、English</del>" in text  # languages by name, not codes


def test_invalid_site_changes_nothing(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    add_site(db, "honcho")
    login(client, "admin")
    response = post(
        client,
        "/sites",
        {
            "code": "honcho",
            "name": "<script>alert(1)</script>",
            "timezone": "Mars/Olympus",
            "languages": "xx",
        },
        page="/sites",
    )
    assert response.status_code == 422
    assert "このコードは別の拠点で使われています" in response.text
    assert "不明なタイムゾーン" in response.text
    assert "一覧の言語を1つ以上選んでください" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM sites")) == 1
        assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0


def test_last_admin_cannot_lock_everyone_out(client: TestClient, db: sa.Engine) -> None:
    admin_id = add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    response = post(
        client,
        f"/users/{admin_id}",
        {"display_name": "Admin", "role": "editor", "site_id": "", "language": "ja", "active": "1"},
        page=f"/users/{admin_id}",
    )
    assert response.status_code == 422
    assert "自分自身の管理者権限は外せません" in response.text
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT role FROM users")) == "admin"


def test_switching_language_is_kept_per_user(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    assert "ダッシュボード" in client.get("/").text
    response = post(client, "/language", {"language": "en", "next": "/users"})
    assert response.status_code == 303 and response.headers["location"] == "/users"
    page = client.get("/users").text
    assert "Add a user" in page and "ユーザーを追加" not in page
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT language FROM users")) == "en"
    # A new browser gets it too, once logged in.
    other = TestClient(client.app, follow_redirects=False)
    login(other, "admin", PASSWORD)
    assert "Dashboard" in other.get("/").text


def test_language_before_login(client: TestClient) -> None:
    response = post(client, "/language", {"language": "en", "next": "/login"}, page="/login")
    assert response.status_code == 303
    assert "Log in" in client.get("/login").text
    bad = post(client, "/language", {"language": "fr"}, page="/login")
    assert bad.status_code == 422


def test_audit_log_pages_back_with_htmx(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    with db.begin() as conn:
        for i in range(60):
            conn.execute(
                sa.text(
                    "INSERT INTO audit_log (at, actor, action, target_type, target_id, "
                    "target_label, ip) VALUES (:at, 'admin', 'site.update', 'site', '1', :l, '')"
                ),
                {"at": "2026-11-27 01:00:00", "l": f"entry-{i:02d}"},
            )
    login(client, "admin")
    first = client.get("/audit").text
    assert "entry-59" in first and "entry-09" not in first
    assert 'id="audit-more"' in first
    start = first.index('hx-get="/audit?before=') + len('hx-get="')
    more_url = first[start : first.index('"', start)].replace("&amp;", "&")
    older = client.get(more_url, headers={"HX-Request": "true"})
    assert older.status_code == 200
    assert "<html" not in older.text
    assert "entry-00" in older.text and "entry-59" not in older.text
    assert "2026-11-27 10:00" in first  # shown in the site time zone (JST)
