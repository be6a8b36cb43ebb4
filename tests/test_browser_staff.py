"""A person in a real browser: logs in, switches language, adds a site and a user, and
finds both in the audit log; htmx works under the CSP with no console errors."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from .browser import Page
from .conftest import LiveServer

PASSWORD = "a long admin password"


def test_staff_walk_through_in_chromium(
    live_server: LiveServer, browser: Page, tmp_path: Path
) -> None:
    made = live_server.cli("create-admin", "chief", "--password-stdin", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    page = browser
    page.goto(live_server.url + "/")
    page.wait_for("location.pathname === '/login'")
    assert "ログイン" in page.text("h1")
    page.fill("#f-username", "chief")
    page.fill("#f-password", PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for("location.pathname === '/' && document.readyState === 'complete'")
    assert "ダッシュボード" in page.text("nav")

    # English, kept on the account.
    page.click("button[name=language][value=en]")
    page.wait_for("document.documentElement.lang === 'en' && document.readyState === 'complete'")
    assert "Dashboard" in page.text("nav")

    page.goto(live_server.url + "/sites")
    page.fill("#f-code", "minami")
    page.fill("#f-name", "南支所")
    page.eval("document.querySelector('input[name=languages][value=vi]').checked = true")
    page.click("#new-site button[type=submit]")
    page.wait_for("document.body.innerText.includes('The site was created.')")
    assert "南支所" in page.text("table")

    page.goto(live_server.url + "/users")
    page.fill("#f-username", "yamada")
    page.fill("#f-display_name", "山田 太郎")
    page.fill("#f-password", "another long password")
    page.click("#new-user button[type=submit]")
    page.wait_for("document.body.innerText.includes('The user was created.')")

    # A picture upload through htmx, with the progress bar fed by app.js.
    picture = tmp_path / "floor-map.png"
    Image.new("RGB", (1200, 800), "teal").save(picture)
    page.goto(live_server.url + "/media")
    page.eval(
        "document.addEventListener('htmx:xhr:progress', () => {"
        " sessionStorage.setItem('progress',"
        " document.getElementById('upload-progress').value); });"
    )
    page.set_files("#f-file", [picture])
    page.click("#upload-form button[type=submit]")
    page.wait_for("location.search.includes('done=uploaded') && document.readyState === 'complete'")
    assert "floor-map.png" in page.text("#media-grid")
    page.wait_for("document.querySelector('#media-grid img').naturalWidth > 0")
    assert int(page.eval("sessionStorage.getItem('progress')")) > 0

    page.goto(live_server.url + "/audit")
    table = page.text("#audit-table")
    assert "Site created" in table and "南支所" in table
    assert "User created" in table and "yamada" in table
    assert "Picture uploaded" in table

    # The filter works through htmx (a partial swap, no page load).
    page.eval("window.__marker = 1")
    page.eval(
        "(() => { const s = document.querySelector('#f-action'); s.value = 'user.create';"
        " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
    )
    page.wait_for("!document.querySelector('#audit-table').innerText.includes('南支所')")
    assert page.eval("window.__marker") == 1
    assert "yamada" in page.text("#audit-table")
    page.screenshot(tmp_path / "audit.png")
    page.drain()
    assert page.errors == []
