from __future__ import annotations

import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import Role

from .conftest import add_user, csrf_token, login, post


def test_unknown_route_is_a_page_in_the_users_language(client: TestClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "このページは存在しません" in response.text
    assert "Traceback" not in response.text


def test_unknown_route_as_json_and_as_htmx(client: TestClient) -> None:
    as_json = client.get("/nothing", headers={"Accept": "application/json"})
    assert as_json.status_code == 404
    assert as_json.json()["status"] == 404
    assert as_json.json()["error"]
    fragment = client.get("/nothing", headers={"HX-Request": "true"})
    assert fragment.status_code == 404
    assert fragment.text.strip().startswith('<p class="banner error"')
    assert "<html" not in fragment.text


def test_wrong_method(client: TestClient) -> None:
    response = client.post("/audit", data={"csrf_token": csrf_token(client)})
    assert response.status_code == 405
    assert "リクエストを受け付けません" in response.text


def test_oversized_form_gets_413_and_nothing_changes(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    token = csrf_token(client, "/sites")
    response = client.post(
        "/sites",
        data={
            "code": "big",
            "name": "x" * 2_000_000,
            "timezone": "Asia/Tokyo",
            "languages": "ja",
            "csrf_token": token,
        },
    )
    assert response.status_code == 413
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM sites")) == 0


def test_missing_and_too_long_fields_get_422_with_field_messages(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    response = post(
        client,
        "/users",
        {
            "username": "",
            "display_name": "x" * 101,
            "password": "short",
            "role": "king",
            "language": "ja",
        },
        page="/users",
    )
    assert response.status_code == 422
    text = response.text
    assert "必須項目です" in text
    assert "長すぎます" in text
    assert "選択肢から選んでください" in text
    short = post(
        client,
        "/users",
        {
            "username": "newbie",
            "display_name": "New",
            "password": "short",
            "role": "editor",
            "language": "ja",
        },
        page="/users",
    )
    assert short.status_code == 422
    assert "10文字以上にしてください" in short.text
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM users")) == 1
        assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0


def test_security_headers_on_every_page(client: TestClient) -> None:
    for path in ("/login", "/missing"):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_session_cookie_is_httponly_and_samesite(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    response = client.post(
        "/login",
        data={
            "username": "admin",
            "password": "correct horse battery",
            "csrf_token": csrf_token(client),
        },
    )
    cookie = response.headers["set-cookie"]
    assert "signage_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_no_inline_script_in_pages(client: TestClient, db: sa.Engine) -> None:
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    for path in ("/", "/users", "/sites", "/audit", "/account", "/login"):
        text = client.get(path).text
        assert "<script>" not in text
        assert " on" + "click=" not in text


def test_htmx_is_served_locally(client: TestClient) -> None:
    response = client.get("/vendor/htmx/htmx.min.js")
    assert response.status_code == 200
    assert "htmx" in response.text[:2000]
    page = client.get("/login").text
    assert '<script src="/vendor/htmx/htmx.min.js" defer>' in page
    assert "http" not in page.split("<body")[0].replace("http-equiv", "")


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
