"""Two-step sign-in over HTTP: set-up, the second step of logging in, replay, recovery
codes, the login limit, the setting that requires it, and an administrator's reset.

Time is injected at the edge only (`app.state.clock`); everything else is real.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from content.ticket_print import qr_svg
from signage import totp
from signage.app import create_app
from signage.db import utcnow
from signage.models import PendingLogin, Role, StaffSession, User
from signage.settings import Settings

from .conftest import PASSWORD, add_user, csrf_token, login, post

T0 = 1_800_000_000.0  # a fixed moment (2027-01-15), the start of a 30-second step
SECRET_ON_PAGE = re.compile(r'id="two-step-secret">([A-Z2-7 ]+)</code>')
RECOVERY_ON_PAGE = re.compile(r"<li><code>([a-z2-9]{5}-[a-z2-9]{5})</code></li>")


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def code(self, steps: int = 0) -> str:
        """The code an app shows `steps` steps from now."""
        return totp.code_at(self.secret, totp.step_of(self.now) + steps)

    secret = ""


@pytest.fixture
def clock(client: TestClient) -> Clock:
    fake = Clock()
    client.app.state.clock = fake  # type: ignore[attr-defined]
    return fake


def set_up(client: TestClient, clock: Clock) -> list[str]:
    """Turn two-step sign-in on for the logged-in user; returns the recovery codes."""
    page = client.get("/account/two-step")
    assert page.status_code == 200
    match = SECRET_ON_PAGE.search(page.text)
    assert match, page.text
    clock.secret = match.group(1).replace(" ", "")
    done = post(client, "/account/two-step", {"code": clock.code()}, page="/account/two-step")
    assert done.status_code == 200, done.text
    codes = RECOVERY_ON_PAGE.findall(done.text)
    assert len(codes) == 10
    return codes


def password_step(client: TestClient, username: str, next_path: str = "/") -> None:
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": PASSWORD,
            "next": next_path,
            "csrf_token": csrf_token(client),
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/login/two-step"
    assert "signage_session" not in response.cookies


def code_step(client: TestClient, code: str) -> tuple[int, str]:
    response = client.post(
        "/login/two-step",
        data={"code": code, "csrf_token": csrf_token(client, "/login/two-step")},
    )
    return response.status_code, response.headers.get("location", response.text)


def logout(client: TestClient) -> None:
    post(client, "/logout", {})
    client.cookies.clear()


def audit_actions(db: sa.Engine) -> list[str]:
    with db.connect() as conn:
        return list(conn.scalars(sa.text("SELECT action FROM audit_log ORDER BY id")))


def test_codes_match_the_rfc_6238_test_vectors() -> None:
    # RFC 6238 appendix B, SHA-1 (the last six of the eight digits given there).
    secret = base64.b32encode(b"12345678901234567890").decode()
    vectors = {
        59: "287082",
        1111111109: "081804",
        1111111111: "050471",
        1234567890: "005924",
        2000000000: "279037",
        20000000000: "353130",
    }
    for moment, code in vectors.items():
        assert totp.code_at(secret, totp.step_of(moment)) == code
        assert totp.matching_step(secret, code, moment) == totp.step_of(moment)


def test_set_up_then_log_in_with_a_code(client: TestClient, db: sa.Engine, clock: Clock) -> None:
    add_user(db, "sato", Role.PUBLISHER, language="en")
    login(client, "sato")
    elsewhere = TestClient(client.app, follow_redirects=False)
    login(elsewhere, "sato")
    account = client.get("/account").text
    assert "Two-step sign-in is off." in account and 'href="/account/two-step"' in account
    page = client.get("/account/two-step").text
    assert '<img class="qr" src="/account/two-step/qr.svg"' in page
    qr = client.get("/account/two-step/qr.svg")
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/svg+xml"
    assert qr.text.lstrip().startswith("<?xml") and "<svg" in qr.text
    # It holds the otpauth:// address of the very key the page shows as text.
    shown = SECRET_ON_PAGE.findall(page)[0].replace(" ", "")
    uri = totp.provisioning_uri(shown, "sato")
    assert uri.startswith("otpauth://totp/City%20Hall%20Signage:sato?secret=" + shown)
    assert qr.content == qr_svg(uri, scale=6)
    # A reload shows the same key, so a phone that scanned it first still works.
    assert SECRET_ON_PAGE.findall(page) == SECRET_ON_PAGE.findall(
        client.get("/account/two-step").text
    )

    wrong = post(client, "/account/two-step", {"code": "000000"}, page="/account/two-step")
    assert wrong.status_code == 422
    assert "This code is not right." in wrong.text
    codes = set_up(client, clock)
    assert len(set(codes)) == 10
    # Another session of the same person, which never gave a code, has ended.
    assert client.get("/account").status_code == 200
    assert elsewhere.get("/account").headers["location"] == "/login?next=/account"

    with db.connect() as conn:
        stored = conn.scalar(sa.select(User.totp_secret).where(User.username == "sato"))
        hashes = list(conn.scalars(sa.text("SELECT code_hash FROM recovery_codes")))
    assert stored and clock.secret not in stored  # sealed, never in clear
    assert len(hashes) == 10 and all(h.startswith("$argon2id$") for h in hashes)
    assert not any(c.replace("-", "") in h for c in codes for h in hashes)
    # Once on, the key is never shown again, nor its QR code.
    again = client.get("/account/two-step").text
    assert "Two-step sign-in is on." in again and 'id="two-step-secret"' not in again
    assert client.get("/account/two-step/qr.svg").status_code == 409

    logout(client)
    password_step(client, "sato", next_path="/notices")
    # Between the two steps there is no session: pages still ask for a login.
    assert client.get("/notices").headers["location"] == "/login?next=/notices"
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 0
    clock.now += 30
    status, where = code_step(client, clock.code())
    assert (status, where) == (303, "/notices")
    assert client.get("/notices").status_code == 200
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(PendingLogin)) == 0
    assert audit_actions(db) == ["user.two_step_on"]
    log = client.get("/audit?action=user.two_step_on").text
    assert "Two-step sign-in turned on" in log


def test_wrong_old_and_replayed_codes_are_refused(
    client: TestClient, db: sa.Engine, clock: Clock
) -> None:
    add_user(db, "sato", Role.ADMIN, language="en")
    login(client, "sato")
    set_up(client, clock)  # uses the code of the current step
    logout(client)

    password_step(client, "sato")
    # The code that turned it on cannot log in: same step, used already.
    status, text = code_step(client, clock.code())
    assert status == 401 and "このコードは正しくないか、すでに使われています。" in text
    assert code_step(client, "123456")[0] == 401
    assert code_step(client, "not a code")[0] == 401
    clock.now += 90
    assert code_step(client, clock.code(-2))[0] == 401  # a minute old: too old
    # One step of drift either way is fine (a phone clock a little fast).
    assert code_step(client, clock.code(+1)) == (303, "/")

    logout(client)
    password_step(client, "sato")
    # The same code again, still inside its window: refused; so is the step before it.
    assert code_step(client, clock.code(+1))[0] == 401
    assert code_step(client, clock.code())[0] == 401
    clock.now += 60
    assert code_step(client, clock.code())[0] == 303


def test_a_recovery_code_works_once(client: TestClient, db: sa.Engine, clock: Clock) -> None:
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    codes = set_up(client, clock)
    logout(client)

    password_step(client, "sato")
    # Typed as people do: upper case, with spaces.
    assert code_step(client, f"  {codes[3].upper().replace('-', ' ')} ") == (303, "/")
    assert client.get("/").status_code == 200
    assert audit_actions(db)[-1] == "user.two_step_recovery_used"
    logout(client)

    password_step(client, "sato")
    status, text = code_step(client, codes[3])
    assert status == 401 and "このコードは正しくないか、すでに使われています。" in text
    assert code_step(client, codes[4])[0] == 303
    me = client.get("/account/two-step").text
    assert "残りの回復コード: 8" in me
    # The audit log says it in words, in Japanese.
    assert "回復コードでログイン" in client.get("/audit").text


def test_guessing_codes_is_limited_like_passwords(
    client: TestClient, db: sa.Engine, clock: Clock
) -> None:
    add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    set_up(client, clock)
    logout(client)

    password_step(client, "sato")
    for guess in ["111111", "222222", "333333"]:
        assert code_step(client, guess)[0] == 401
    # The right password again does not wipe the count of wrong codes.
    password_step(client, "sato")
    for guess in ["444444", "555555"]:
        assert code_step(client, guess)[0] == 401
    clock.now += 30
    # Even the right code is refused now, and so is the password step.
    status, text = code_step(client, clock.code())
    assert status == 429 and "試行回数が多すぎます" in text
    again = client.post(
        "/login",
        data={"username": "sato", "password": PASSWORD, "csrf_token": csrf_token(client)},
    )
    assert again.status_code == 429
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(StaffSession)) == 0


def test_the_half_done_login_is_short_lived(
    client: TestClient, db: sa.Engine, clock: Clock
) -> None:
    add_user(db, "sato", Role.PUBLISHER, language="en")
    login(client, "sato")
    set_up(client, clock)
    logout(client)

    password_step(client, "sato")
    with db.begin() as conn:
        conn.execute(sa.update(PendingLogin).values(created_at=utcnow() - timedelta(minutes=6)))
    clock.now += 30
    status, text = code_step(client, clock.code())
    assert status == 401 and "ログインに時間がかかりすぎました" in text
    assert client.get("/login/two-step").status_code == 401
    # Without the password step at all there is nothing to finish.
    client.cookies.clear()
    assert code_step(client, clock.code())[0] == 401


def test_turning_off_and_new_recovery_codes(
    client: TestClient, db: sa.Engine, clock: Clock
) -> None:
    add_user(db, "sato", Role.ADMIN, language="en")
    login(client, "sato")
    old_codes = set_up(client, clock)

    clock.now += 30
    wrong = post(client, "/account/two-step/recovery", {"code": "999999"}, page="/account")
    assert wrong.status_code == 422 and "used already" in wrong.text
    fresh = post(client, "/account/two-step/recovery", {"code": clock.code()}, page="/account")
    assert fresh.status_code == 200
    new_codes = RECOVERY_ON_PAGE.findall(fresh.text)
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)

    clock.now += 30
    refused = post(
        client,
        "/account/two-step/off",
        {"current_password": "not my password", "code": clock.code()},
        page="/account",
    )
    assert refused.status_code == 422 and "The current password is not right." in refused.text
    # An old recovery code no longer counts; a new one does.
    stale = post(
        client,
        "/account/two-step/off",
        {"current_password": PASSWORD, "code": old_codes[0]},
        page="/account",
    )
    assert stale.status_code == 422
    off = post(
        client,
        "/account/two-step/off",
        {"current_password": PASSWORD, "code": new_codes[0]},
        page="/account",
    )
    assert off.status_code == 303 and off.headers["location"] == "/account?done=two_step_off"
    with db.connect() as conn:
        row = conn.execute(
            sa.select(User.totp_secret, User.totp_enabled_at).where(User.username == "sato")
        ).one()
        assert tuple(row) == (None, None)
        assert conn.scalar(sa.text("SELECT count(*) FROM recovery_codes")) == 0
    assert audit_actions(db) == [
        "user.two_step_on",
        "user.two_step_new_codes",
        "user.two_step_recovery_used",
        "user.two_step_off",
    ]
    logout(client)
    login(client, "sato")  # the password alone again


def test_only_administrators_and_publishers_are_offered_it(
    client: TestClient, db: sa.Engine
) -> None:
    add_user(db, "ito", Role.EDITOR)
    login(client, "ito")
    assert 'href="/account/two-step"' not in client.get("/account").text
    assert client.get("/account/two-step").status_code == 403
    assert client.get("/account/two-step/qr.svg").status_code == 403


@pytest.fixture
def strict_client(settings: Settings, db: sa.Engine) -> Iterator[TestClient]:
    app = create_app(dataclasses.replace(settings, require_totp=True), scheduler=False)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def test_required_by_the_setting(strict_client: TestClient, db: sa.Engine) -> None:
    client = strict_client
    clock = Clock()
    client.app.state.clock = clock  # type: ignore[attr-defined]
    add_user(db, "sato", Role.PUBLISHER, language="en")
    add_user(db, "ito", Role.EDITOR)
    response = client.post(
        "/login",
        data={
            "username": "sato",
            "password": PASSWORD,
            "next": "/notices",
            "csrf_token": csrf_token(client),
        },
    )
    assert response.headers["location"] == "/account/two-step"
    page = client.get("/account/two-step").text
    assert "must use two-step sign-in here" in page
    # Everything else sends them back to set-up, and changes nothing.
    assert client.get("/notices").headers["location"] == "/account/two-step"
    assert client.get("/account").headers["location"] == "/account/two-step"
    made = post(
        client, "/closures", {"date": "2027-01-04", "reason": "x"}, page="/account/two-step"
    )
    assert made.status_code == 303 and made.headers["location"] == "/account/two-step"
    htmx = client.get("/notices", headers={"HX-Request": "true"})
    assert htmx.status_code == 204 and htmx.headers["hx-redirect"] == "/account/two-step"
    upload = client.post(
        "/media",
        files={"file": ("a.png", b"\x89PNG", "image/png")},
        headers={"x-csrf-token": csrf_token(client, "/account/two-step")},
    )
    assert upload.status_code == 403 and "Turn on two-step sign-in first" in upload.text
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM closures")) == 0
        assert conn.scalar(sa.text("SELECT count(*) FROM media")) == 0

    set_up(client, clock)
    assert client.get("/notices").status_code == 200
    logout(client)
    # An editor is not held back.
    login(client, "ito")
    assert client.get("/notices").status_code == 200


def test_an_administrator_resets_someone_elses_second_factor(
    client: TestClient, db: sa.Engine, clock: Clock
) -> None:
    add_user(db, "chief", Role.ADMIN, language="en")
    sato = add_user(db, "sato", Role.PUBLISHER)
    login(client, "sato")
    set_up(client, clock)
    logout(client)
    # The publisher cannot reset anyone's.
    login_with_code = Clock(clock.now + 30)
    login_with_code.secret = clock.secret
    password_step(client, "sato")
    assert code_step(client, login_with_code.code())[0] == 303
    assert post(client, f"/users/{sato}/two-step/reset", {}, page="/account").status_code == 403
    logout(client)

    login(client, "chief")
    edit = client.get(f"/users/{sato}").text
    assert "Reset two-step sign-in" in edit
    done = post(client, f"/users/{sato}/two-step/reset", {}, page=f"/users/{sato}")
    assert done.status_code == 303 and done.headers["location"] == "/users?done=two_step_reset"
    assert "Two-step sign-in was reset." in client.get("/users?done=two_step_reset").text
    again = post(client, f"/users/{sato}/two-step/reset", {}, page=f"/users/{sato}")
    assert again.status_code == 409
    assert post(client, "/users/999999/two-step/reset", {}, page="/").status_code == 404
    log = client.get("/audit?action=user.two_step_reset").text
    assert "Two-step sign-in reset by an administrator" in log and "sato" in log
    with db.connect() as conn:
        actor = conn.scalar(
            sa.text("SELECT actor FROM audit_log WHERE action = 'user.two_step_reset'")
        )
    assert actor == "chief"
    logout(client)
    login(client, "sato")  # the password alone


def test_a_changed_secret_key_leaves_recovery_codes_working(
    settings: Settings, db: sa.Engine
) -> None:
    add_user(db, "sato", Role.PUBLISHER)
    with TestClient(create_app(settings, scheduler=False), follow_redirects=False) as client:
        clock = Clock()
        client.app.state.clock = clock  # type: ignore[attr-defined]
        login(client, "sato")
        codes = set_up(client, clock)
    moved = dataclasses.replace(settings, secret_key="another-secret-key")
    with TestClient(create_app(moved, scheduler=False), follow_redirects=False) as client:
        client.app.state.clock = clock  # type: ignore[attr-defined]
        password_step(client, "sato")
        clock.now += 30
        assert code_step(client, clock.code())[0] == 401  # the secret cannot be read
        assert code_step(client, codes[0])[0] == 303


def test_the_command_line_resets_the_last_administrator(
    client: TestClient, db: sa.Engine, clock: Clock, database_url: str, tmp_path: Path
) -> None:
    add_user(db, "chief", Role.ADMIN)
    login(client, "chief")
    set_up(client, clock)
    logout(client)

    def signage(*args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
            "SIGNAGE_DATA_DIR": str(tmp_path),
            "SIGNAGE_DATABASE_URL": database_url,
        }
        return subprocess.run(
            [sys.executable, "-m", "signage", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
            check=False,
        )

    done = signage("reset-two-step", "chief")
    assert done.returncode == 0, done.stderr
    login(client, "chief")  # the password alone
    with db.connect() as conn:
        actor = conn.scalar(
            sa.text("SELECT actor FROM audit_log WHERE action = 'user.two_step_reset'")
        )
    assert actor == "command line"
    again = signage("reset-two-step", "chief")
    assert again.returncode == 1
    assert again.stderr.strip().endswith("signage: error: 'chief' does not use two-step sign-in")
    nobody = signage("reset-two-step", "nobody")
    assert nobody.returncode == 1 and "there is no user 'nobody'" in nobody.stderr
