"""The browser player in Debian's headless Chromium against the real server: it pairs,
plays the notice scheduled for now, keeps playing while the server is down (also after a
reload), and picks up an edited notice when the server is back."""

from __future__ import annotations

import io
import re
import time
from pathlib import Path

from PIL import Image

from .browser import Page
from .conftest import LiveServer, Staff

MAIN_TITLE = "document.querySelector('[data-zone=main] .view.shown h2')"


def _title(page: Page) -> str:
    return str(page.eval(f"({MAIN_TITLE} || {{textContent: ''}}).textContent"))


def test_browser_player_pairs_plays_survives_an_outage_and_catches_up(
    live_server: LiveServer, staff: Staff, browser: Page, tmp_path: Path
) -> None:
    page = browser
    # Content first: an approved notice in the playlist the new screen will use.
    notice_id = staff.notice(
        "ようこそ市役所へ", style="important", body_ja="**9時**から開庁します", title_en="Welcome"
    )
    playlist_id = staff.playlist([notice_id], seconds=30)
    site_id = staff.site()

    # A new screen opens the player: it shows a pairing code in large type.
    page.goto(live_server.url + "/player")
    code = page.wait_for("document.getElementById('pairing-code').textContent", timeout=15)
    assert re.fullmatch(r"[A-Z2-9]{3}-[A-Z2-9]{3}", code)
    staff.post(
        "/screens/pair",
        {
            "code": code,
            "screen_id": "",
            "name": "1F ロビー",
            "site_id": str(site_id),
            "layout": "hall",
            "default_playlist_id": str(playlist_id),
            "groups": "",
        },
        page="/screens/pair",
    )
    page.wait_for(f"{MAIN_TITLE} && {MAIN_TITLE}.textContent === 'ようこそ市役所へ'", timeout=15)
    assert page.eval("document.getElementById('pairing').hidden") is True
    assert "9時" in page.text("[data-zone=main] .view.shown .body")
    time.sleep(1)  # let the crossfade finish
    shot = Image.open(io.BytesIO(page.screenshot(tmp_path / "playing.png"))).convert("L")
    # Not a black screen: the notice's title is drawn in bright type in the main zone.
    width, height = shot.size
    assert shot.crop((0, height // 10, width * 7 // 10, height // 2)).getextrema()[1] > 200
    # The fleet view shows it online, with what it plays and its manifest, at once (the
    # player reports right after it shows a manifest, not only every 30 s).
    deadline = time.monotonic() + 10
    while True:
        row = staff.http.get("/fleet").text.split('data-screen="')[1].split("</tr>")[0]
        if "お知らせ「ようこそ市役所へ」 (日本語、English)" in row or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    # In words: the notice's title and languages, and the content version it plays.
    assert "オンライン" in row and "お知らせ「ようこそ市役所へ」 (日本語、English)" in row
    assert re.search(r"最新\(版 \d+\)", row), row

    # While online, an approved edit is on the screen within a second of saving it (the
    # push, not a poll): timed from the moment the form is sent.
    token = staff.token(f"/notices/{notice_id}")
    saved_at = time.monotonic()
    saved = staff.http.post(
        f"/notices/{notice_id}",
        data={
            "site_id": "",
            "style": "important",
            "title_ja": "ようこそ市役所へ!",
            "body_ja": "**9時**から開庁します",
            "title_en": "Welcome",
            "body_en": "",
            "action": "approve",
            "csrf_token": token,
        },
    )
    assert saved.status_code == 303
    page.wait_for(f"{MAIN_TITLE} && {MAIN_TITLE}.textContent === 'ようこそ市役所へ!'", timeout=3)
    seconds = time.monotonic() - saved_at
    assert seconds < 1.0, f"the edit took {seconds:.2f} s to reach the screen"

    # The server goes away: the screen keeps playing, also after a reload.
    live_server.kill()
    page.wait_for("document.getElementById('status').className.includes('offline')")
    assert _title(page) == "ようこそ市役所へ!"
    page.goto(live_server.url + "/player/")
    page.wait_for(f"{MAIN_TITLE} && {MAIN_TITLE}.textContent === 'ようこそ市役所へ!'", timeout=15)

    # Back again, an edit of the notice reaches the screen by itself.
    live_server.start()
    staff.post(
        f"/notices/{notice_id}",
        {
            "site_id": "",
            "style": "important",
            "title_ja": "本日は17時まで",
            "body_ja": "",
            "title_en": "Open until 5 pm",
            "body_en": "",
            "action": "approve",
        },
        page=f"/notices/{notice_id}",
    )
    page.wait_for(f"{MAIN_TITLE} && {MAIN_TITLE}.textContent === '本日は17時まで'", timeout=70)
    page.screenshot(tmp_path / "updated.png")
    page.drain()
    offline_noise = [
        e for e in page.errors if "ERR_CONNECTION_REFUSED" not in e and "WebSocket" not in e
    ]
    assert offline_noise == []


def test_a_demo_player_link_plays_at_once(live_server: LiveServer, browser: Page) -> None:
    loaded = live_server.cli("load-demo")
    assert loaded.returncode == 0, loaded.stderr
    links = re.findall(r"(http://\S+/player/#token=[A-Za-z0-9_-]+)", loaded.stdout)
    assert len(links) == 3
    browser.goto(links[0])
    browser.wait_for(f"{MAIN_TITLE} && {MAIN_TITLE}.textContent.length > 0", timeout=15)
    assert browser.eval("location.hash") == ""  # the token does not stay in the address
    assert browser.eval("document.getElementById('pairing').hidden") is True


def _picture(staff: Staff, name: str, color: str) -> None:
    data = io.BytesIO()
    Image.new("RGB", (640, 360), color).save(data, "PNG")
    response = staff.http.post(
        "/media",
        files={"file": (name, data.getvalue(), "image/png")},
        headers={"X-CSRF-Token": staff.token("/media")},
    )
    assert response.status_code == 303, response.text[-400:]


CACHED = (
    "caches.open('signage-media-v1').then(c => c.keys())"
    ".then(k => k.map(r => new URL(r.url).pathname).filter(p => p.startsWith('/media/files/')))"
)


def test_media_a_screen_no_longer_needs_leaves_its_cache(
    live_server: LiveServer, staff: Staff, browser: Page
) -> None:
    page = browser
    _picture(staff, "red.png", "red")
    _picture(staff, "blue.png", "blue")
    response = staff.post("/playlists", {"name": "写真", "site_id": ""}, page="/playlists")
    playlist_id = int(response.headers["location"].rsplit("/", 1)[1])
    detail = f"/playlists/{playlist_id}"
    items = f"{detail}/items"
    options = dict(
        (name, value)
        for value, name in re.findall(
            r'<option value="(\d+)"[^>]*>([^<]+)</option>', staff.http.get(detail).text
        )
    )
    red, blue = options["red.png"], options["blue.png"]
    staff.post(items, {"kind": "image", "media_id": red, "duration_seconds": "10"}, page=detail)
    site_id = staff.site()
    page.goto(live_server.url + "/player")
    code = page.wait_for("document.getElementById('pairing-code').textContent", timeout=15)
    staff.pair(code, site_id)
    screen = re.search(r'/screens/(\d+)"', staff.http.get("/screens").text)
    assert screen
    staff.play_by_default(int(screen.group(1)), playlist_id)
    first = page.wait_for(f"{CACHED}.then(k => k.length === 1 && k)", timeout=20)
    # The playlist shows the blue picture instead: the red one leaves the player's cache.
    item = re.search(r'name="item_id" value="(\d+)"', staff.http.get(detail).text)
    assert item
    staff.post(items, {"item_id": item.group(1), "move": "remove"}, page=detail)
    staff.post(items, {"kind": "image", "media_id": blue, "duration_seconds": "10"}, page=detail)
    second = page.wait_for(
        f"{CACHED}.then(k => k.length === 1 && k[0] !== {first[0]!r} && k)", timeout=20
    )
    assert second != first
