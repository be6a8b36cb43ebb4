"""Two-step sign-in in a real browser: the set-up page shows its QR code under the CSP,
the first code turns it on and shows the recovery codes, and the next login asks for a
code before the dashboard."""

from __future__ import annotations

import time
from pathlib import Path

from signage import totp

from .browser import Page
from .conftest import LiveServer

PASSWORD = "a long admin password"


def test_setting_up_two_step_sign_in_in_chromium(
    live_server: LiveServer, browser: Page, tmp_path: Path
) -> None:
    made = live_server.cli("create-admin", "chief", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    page = browser
    page.goto(live_server.url + "/login")
    page.fill("#f-username", "chief")
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    page.click("button[name=language][value=en]")
    page.wait_for("document.documentElement.lang === 'en' && document.readyState === 'complete'")

    page.goto(live_server.url + "/account")
    assert "Two-step sign-in is off." in page.text("#two-step")
    page.click("#two-step a")
    page.wait_for("location.pathname === '/account/two-step' && document.readyState === 'complete'")
    # The QR code comes from the CMS itself and is drawn at a scannable size.
    page.wait_for("document.querySelector('img.qr').naturalWidth > 0")
    assert page.eval("document.querySelector('img.qr').getBoundingClientRect().width") >= 200
    secret = page.text("#two-step-secret").replace(" ", "")
    assert len(secret) == 32
    page.screenshot(tmp_path / "two-step-setup.png")

    page.fill("#f-code", "000000")
    page.click("#two-step-setup button[type=submit]")
    page.wait_for("document.body.innerText.includes('This code is not right.')")
    page.fill("#f-code", totp.code_at(secret, totp.step_of(time.time())))
    page.click("#two-step-setup button[type=submit]")
    page.wait_for("document.querySelectorAll('#recovery-codes li').length === 10")
    assert "they are not shown again" in page.text("#recovery-codes")
    page.screenshot(tmp_path / "two-step-codes.png")

    page.click("form[action='/logout'] button[type=submit]")
    page.wait_for("location.pathname === '/login' && document.readyState === 'complete'")
    page.fill("#f-username", "chief")
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for("location.pathname === '/login/two-step' && document.readyState === 'complete'")
    assert page.eval("document.activeElement.id") == "f-code"
    # The next step's code: the one that turned it on was used already.
    page.fill("#f-code", totp.code_at(secret, totp.step_of(time.time()) + 1))
    page.click("form[action='/login/two-step'] button[type=submit]")
    page.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    assert "Dashboard" in page.text("nav")
    page.drain()
    # The one error is the wrong code's answer (422), which Chromium logs.
    assert [e for e in page.errors if "status of 422" not in e] == []
