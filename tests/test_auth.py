from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.db import utcnow
from signage.models import LoginFailure, Role, StaffSession

from .conftest import PASSWORD, add_user, csrf_token, login, post


def test_pages_need_login(client: TestClient) -> None:
    response = client.get("/users")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/users"


def test_login_shows_dashboard_in_japanese_by_default(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    page = client.get("/")
    assert page.status_code == 200
    assert "ダッシュボード" in page.text
    assert 'lang="ja"' in page.text


def test_login_goes_to_the_page_asked_for_but_never_off_site(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "admin", Role.ADMIN)
    for next_path, expected in [("/users", "/users"), ("//evil.example/", "/"), ("https://x", "/")]:
        response = client.post(
            "/login",
            data={
                "username": "admin",
                "password": PASSWORD,
                "next": next_path,
                "csrf_token": csrf_token(client),
            },
        )
        assert response.headers["location"] == expected


def test_wrong_password_and_unknown_user_get_the_same_answer(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "admin", Role.ADMIN)
    answers = []
    for username, password in [("admin", "wrong password"), ("nobody", PASSWORD)]:
        response = client.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf_token(client)},
        )
        assert response.status_code == 401
        assert "signage_session" not in response.cookies
        answers.append(response.text.replace(username, ""))
    assert answers[0] == answers[1]
    assert "ユーザー名またはパスワードが正しくありません" in answers[0]


def test_session_id_rotates_at_login(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    first = client.cookies["signage_session"]
    login(client, "admin")
    second = client.cookies["signage_session"]
    assert first != second
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 1


def test_logout_ends_the_session_on_the_server(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    stolen = client.cookies["signage_session"]
    response = post(client, "/logout", {})
    assert response.status_code == 303
    # Replaying the old cookie must not work: the session is gone on the server.
    client.cookies.set("signage_session", stolen)
    assert client.get("/").status_code == 303
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 0


def test_idle_and_absolute_timeouts(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    assert client.get("/").status_code == 200
    with db.begin() as conn:
        conn.execute(sa.update(StaffSession).values(last_seen_at=utcnow() - timedelta(minutes=31)))
    assert client.get("/").status_code == 303

    login(client, "admin")
    with db.begin() as conn:
        conn.execute(sa.update(StaffSession).values(created_at=utcnow() - timedelta(hours=13)))
    assert client.get("/").status_code == 303


def test_repeated_failures_get_429_even_with_the_right_password(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "admin", Role.ADMIN)
    for _ in range(5):
        response = client.post(
            "/login",
            data={"username": "admin", "password": "nope", "csrf_token": csrf_token(client)},
        )
        assert response.status_code == 401
    response = client.post(
        "/login", data={"username": "admin", "password": PASSWORD, "csrf_token": csrf_token(client)}
    )
    assert response.status_code == 429
    assert response.headers["retry-after"]
    assert "試行回数が多すぎます" in response.text
    assert "signage_session" not in response.cookies
    # An unknown name is limited the same way, so the answer reveals nothing.
    for _ in range(5):
        client.post(
            "/login",
            data={"username": "ghost", "password": "nope", "csrf_token": csrf_token(client)},
        )
    ghost = client.post(
        "/login", data={"username": "ghost", "password": "x", "csrf_token": csrf_token(client)}
    )
    assert ghost.status_code == 429


def test_failures_expire_with_the_window(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    with db.begin() as conn:
        for _ in range(5):
            conn.execute(
                sa.insert(LoginFailure).values(
                    username="admin", ip="testclient", at=utcnow() - timedelta(minutes=16)
                )
            )
    login(client, "admin")


def test_disabling_an_account_ends_its_sessions_at_once(
    client: TestClient, db: sa.Engine, settings: object
) -> None:
    add_user(db, "admin", Role.ADMIN)
    editor_id = add_user(db, "editor", Role.EDITOR)
    other = TestClient(client.app, follow_redirects=False)
    login(other, "editor")
    assert other.get("/").status_code == 200

    login(client, "admin")
    response = post(
        client,
        f"/users/{editor_id}",
        {"display_name": "Editor", "role": "editor", "site_id": "", "language": "ja"},
        page=f"/users/{editor_id}",
    )
    assert response.status_code == 303
    assert other.get("/").status_code == 303
    bad = other.post(
        "/login", data={"username": "editor", "password": PASSWORD, "csrf_token": csrf_token(other)}
    )
    assert bad.status_code == 401


def test_editor_cannot_manage_users_or_sites(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "editor", Role.EDITOR)
    login(client, "editor")
    assert client.get("/users").status_code == 403
    assert client.get("/sites").status_code == 403
    assert client.get("/audit").status_code == 403
    response = post(
        client,
        "/users",
        {
            "username": "mallory",
            "display_name": "M",
            "password": "long enough pw",
            "role": "admin",
            "language": "ja",
            "active": "1",
        },
    )
    assert response.status_code == 403
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users WHERE username = 'mallory'")) == 0


def test_counter_staff_and_publisher_roles(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "pub", Role.PUBLISHER)
    login(client, "pub")
    assert client.get("/audit").status_code == 200
    assert client.get("/users").status_code == 403


def test_user_changes_own_password_and_other_sessions_end(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "editor", Role.EDITOR)
    other = TestClient(client.app, follow_redirects=False)
    login(other, "editor")
    login(client, "editor")
    wrong = post(
        client,
        "/account",
        {"current_password": "not it", "new_password": "a brand new secret"},
        page="/account",
    )
    assert wrong.status_code == 422
    assert "現在のパスワードが正しくありません" in wrong.text
    ok = post(
        client,
        "/account",
        {"current_password": PASSWORD, "new_password": "a brand new secret"},
        page="/account",
    )
    assert ok.status_code == 303
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 303
    login(other, "editor", "a brand new secret")
