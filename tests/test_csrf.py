from __future__ import annotations

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import Role

from .conftest import add_user, csrf_token, login

NEW_SITE = {
    "code": "minami",
    "name": "南支所",
    "timezone": "Asia/Tokyo",
    "languages": "ja",
    "active": "1",
}


def _site_count(db: sa.Engine) -> int:
    with db.connect() as conn:
        return int(conn.scalar(sa.text("SELECT count(*) FROM sites")) or 0)


def test_form_without_token_is_refused_and_changes_nothing(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    response = client.post("/sites", data=NEW_SITE)
    assert response.status_code == 403
    assert "再読み込み" in response.text
    assert _site_count(db) == 0


def test_forged_token_is_refused(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    response = client.post("/sites", data={**NEW_SITE, "csrf_token": "forged"})
    assert response.status_code == 403
    assert _site_count(db) == 0


def test_token_of_another_session_is_refused(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    attacker = TestClient(client.app, follow_redirects=False)
    login(attacker, "admin")
    foreign = csrf_token(attacker, "/sites")
    login(client, "admin")
    response = client.post("/sites", data={**NEW_SITE, "csrf_token": foreign})
    assert response.status_code == 403
    assert _site_count(db) == 0


def test_htmx_header_token_is_accepted_and_checked(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    bad = client.post(
        "/sites", data=NEW_SITE, headers={"HX-Request": "true", "X-CSRF-Token": "nope"}
    )
    assert bad.status_code == 403
    assert bad.headers["hx-retarget"] == "#messages"
    good = client.post(
        "/sites",
        data=NEW_SITE,
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_token(client, "/sites")},
    )
    assert good.status_code == 204
    assert good.headers["hx-redirect"] == "/sites?done=created"
    assert _site_count(db) == 1


def test_foreign_origin_is_refused_even_with_a_token(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    response = client.post(
        "/sites",
        data={**NEW_SITE, "csrf_token": csrf_token(client, "/sites")},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403
    assert _site_count(db) == 0


def test_login_form_needs_a_token_too(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    response = client.post("/login", data={"username": "admin", "password": "x"})
    assert response.status_code == 403
    assert "signage_session" not in response.cookies


def test_json_body_without_header_token_is_refused(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    response = client.post("/sites", json=NEW_SITE)
    assert response.status_code == 403
    assert _site_count(db) == 0


def test_token_with_characters_beyond_ascii_is_refused(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    for token in ("²", "トークン"):
        response = client.post("/sites", data={**NEW_SITE, "csrf_token": token})
        assert response.status_code == 403
    header = client.post("/sites", data=NEW_SITE, headers={"X-CSRF-Token": "é".encode()})
    assert header.status_code == 403
    assert _site_count(db) == 0
