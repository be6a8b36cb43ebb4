"""Emergency alerts in the browser player (headless Chromium) against the real server
(uvicorn with the options of `signage serve`, in a thread, with the demo city hall): the
`alerts` state message is pushed through the server's hub as the server side sends it
(docs/protocol.md). A takeover covers the queue board within a second, in each language in
turn, with the time it was issued, and is acknowledged; an empty list clears it; a banner
never hides a queue call; an alert is gone at its expiry and an expired one never shows,
also after a reload; queue call audio waits for the end of a takeover, and then only each
counter's latest call is said."""

from __future__ import annotations

import io
import json
import struct
import time
import wave
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from signage.models import AuditEntry
from signage.settings import Settings

from .alert_push import (
    BOARD,
    HALL,
    RED,
    alert,
    call,
    load_demo,
    load_demo_accounts,
    open_board,
    push,
    screen_id_of,
    serving,
    shown,
)
from .browser import Page, chromium
from .test_fanout import ThreadServer


@pytest.fixture
def demo_server(settings: Settings, db: sa.Engine) -> Iterator[ThreadServer]:
    with serving(settings) as server:
        yield server


CURRENT = "document.querySelector('#alert .alert-page.current')"


def test_a_takeover_covers_the_board_within_a_second_in_each_language_and_clears(
    demo_server: ThreadServer, settings: Settings, db: sa.Engine, browser: Page, tmp_path: Path
) -> None:
    tokens = load_demo(settings)
    screen_id = screen_id_of(db, tokens[BOARD])
    page = browser
    open_board(page, demo_server, tokens[BOARD])
    page.wait_for("window.signagePlayer.state.socket.readyState === 1")

    pushed = time.monotonic()
    push(demo_server, screen_id, [alert("a17", issued=datetime(2026, 12, 2, 5, 1, tzinfo=UTC))])
    page.wait_for(f"{CURRENT} && {CURRENT}.dataset.language === 'ja'", timeout=3)
    seconds = time.monotonic() - pushed
    assert seconds < 1.0, f"the alert took {seconds:.2f} s to reach the screen"
    assert page.text("#alert .alert-page.current .alert-headline") == "地震が発生しました"
    assert "落ち着いて" in page.text("#alert .alert-page.current .alert-body")
    # The time it was issued, in the site's time zone (Tokyo).
    assert "14:01" in page.text("#alert .alert-page.current .alert-issued")
    assert "発表" in page.text("#alert .alert-page.current .alert-issued")
    assert page.eval("document.querySelectorAll('.alert-drill').length") == 0

    # Over every zone, the board included: the whole window, and what is at the board's
    # place is the alert.
    cover = page.eval(
        "(() => { const r = document.getElementById('alert').getBoundingClientRect();"
        " const b = document.querySelector('[data-board] .board-now').getBoundingClientRect();"
        " const hit = document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2);"
        " return [r.left, r.top, r.right === innerWidth, r.bottom === innerHeight,"
        " !!hit.closest('#alert')]; })()"
    )
    assert cover == [0, 0, True, True, True]
    shot = Image.open(io.BytesIO(page.screenshot(tmp_path / "takeover.png"))).convert("RGB")
    small = shot.resize((64, 40))
    red = sum(
        count
        for count, pixel in small.getcolors(64 * 40) or []
        if all(abs(a - b) <= 24 for a, b in zip(pixel, RED, strict=True))
    )
    assert red > 0.6 * 64 * 40, red  # the background is the alert's, not the board's
    assert shot.convert("L").getextrema()[1] > 200  # bright text on it

    # The player said it shows the alert.
    deadline = time.monotonic() + 5
    while "a17" not in shown(demo_server, screen_id):
        assert time.monotonic() < deadline, "no alert_ack"
        time.sleep(0.1)

    # The next language follows by itself.
    page.wait_for(f"{CURRENT} && {CURRENT}.dataset.language === 'en'", timeout=8)
    assert page.text("#alert .alert-page.current .alert-headline") == "An earthquake occurred"
    assert "Issued" in page.text("#alert .alert-page.current .alert-issued")

    # A long text gets smaller type until all of it is in view.
    long = alert("a18")
    long["texts"][0]["body"] = "落ち着いて頭を守り、係員の指示に従って避難してください。" * 12
    push(demo_server, screen_id, [long])
    page.wait_for(f"{CURRENT} && {CURRENT}.dataset.alert === 'a18'", timeout=3)
    fitted = page.eval(
        f"(() => {{ const p = {CURRENT};"
        " return [Number(p.style.getPropertyValue('--fit')),"
        " p.getBoundingClientRect().top >= 0 && p.getBoundingClientRect().bottom <= innerHeight];"
        " })()"
    )
    assert 0.3 < fitted[0] < 1 and fitted[1] is True, fitted

    # An empty list clears it: the board is in view again.
    cleared = time.monotonic()
    push(demo_server, screen_id, [])
    page.wait_for("document.getElementById('alert').hidden", timeout=3)
    assert time.monotonic() - cleared < 1.0
    deadline = time.monotonic() + 5
    while shown(demo_server, screen_id) != []:  # and says it shows none
        assert time.monotonic() < deadline, shown(demo_server, screen_id)
        time.sleep(0.1)
    hit = page.eval(
        "(() => { const b = document.querySelector('[data-board] .board-now')"
        ".getBoundingClientRect();"
        " return !!document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2)"
        ".closest('[data-board]'); })()"
    )
    assert hit is True
    page.drain()
    assert [e for e in page.errors if "favicon" not in e] == []


def test_a_banner_never_hides_a_queue_call_and_shows_the_drill_mark(
    demo_server: ThreadServer, settings: Settings, db: sa.Engine, browser: Page
) -> None:
    tokens = load_demo(settings)
    screen_id = screen_id_of(db, tokens[BOARD])
    page = browser
    open_board(page, demo_server, tokens[BOARD])
    page.wait_for("window.signagePlayer.state.socket.readyState === 1")
    push(demo_server, screen_id, [alert("b1", mode="banner", level="moderate", drill=True)])
    page.wait_for("!document.getElementById('alert-banner').hidden", timeout=3)
    assert page.eval("document.getElementById('alert').hidden") is True  # no takeover
    assert page.text("#alert-banner .alert-drill") == "訓練 / DRILL"
    assert "地震が発生しました" in page.text("#alert-banner .alert-page.current")

    # A call is made while the banner shows: the board highlights it, and neither it nor
    # any call listed is under the banner.
    demo_server.call(demo_server.app.state.hub.publish, call("A-101", 1, []), [screen_id])
    page.wait_for("!!document.querySelector('.board-now.calling[data-label=\"A-101\"]')")
    overlaps = page.eval(
        "(() => { const band = document.getElementById('alert-banner').getBoundingClientRect();"
        " const stage = document.getElementById('stage').getBoundingClientRect();"
        " const nodes = [...document.querySelectorAll("
        "   '[data-board] [data-label], [data-board] .board-now, #call')]"
        "   .filter((n) => n.offsetParent !== null);"
        " return {stage: stage.bottom <= band.top + 0.5, count: nodes.length, hidden: nodes"
        "   .map((n) => n.getBoundingClientRect())"
        "   .filter((r) => r.bottom > band.top + 0.5 && r.top < band.bottom).length,"
        "   band: band.height > innerHeight * 0.1}; })()"
    )
    assert overlaps == {"stage": True, "count": overlaps["count"], "hidden": 0, "band": True}
    assert overlaps["count"] >= 1
    deadline = time.monotonic() + 5
    while "b1" not in shown(demo_server, screen_id):
        assert time.monotonic() < deadline, "no alert_ack for the banner"
        time.sleep(0.1)

    # Cleared: the band goes and the stage has the whole window again.
    push(demo_server, screen_id, [])
    page.wait_for("document.getElementById('alert-banner').hidden", timeout=3)
    assert page.eval(
        "document.getElementById('stage').getBoundingClientRect().bottom === innerHeight"
    )


def test_an_alert_ends_at_its_expiry_by_the_servers_clock_and_an_expired_one_never_shows(
    demo_server: ThreadServer,
    settings: Settings,
    db: sa.Engine,
    browser: Page,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = load_demo(settings)
    screen_id = screen_id_of(db, tokens[HALL])
    # The server's clock is a minute ahead of this machine's (where the browser runs): the
    # player goes by the server's, which the welcome tells it.
    ahead = timedelta(seconds=60)
    monkeypatch.setattr("signage.live.socket.utcnow", lambda: datetime.now(UTC) + ahead)

    def server_now() -> datetime:
        return datetime.now(UTC) + ahead

    page = browser
    page.goto(f"http://127.0.0.1:{demo_server.port}/player/#token={tokens[HALL]}")
    page.wait_for(
        "window.signagePlayer.state.socket.readyState === 1"
        " && !!window.signagePlayer.state.manifest",
        timeout=15,
    )

    # Expired by the server's clock (though not by the browser's): never shown, never
    # acknowledged.
    push(demo_server, screen_id, [alert("old", expires_in=-20, now=server_now())])
    page.wait_for("window.signagePlayer.state.alerts.length === 1")
    time.sleep(0.3)
    assert page.eval("document.getElementById('alert').hidden") is True
    assert "old" not in shown(demo_server, screen_id)

    # Three seconds left by the server's clock: shown, then gone at its expiry (by the
    # browser's own clock it would have a minute more).
    push(demo_server, screen_id, [alert("short", expires_in=3, now=server_now())])
    page.wait_for("!document.getElementById('alert').hidden", timeout=3)
    time.sleep(0.3)
    assert shown(demo_server, screen_id) == ["short"]
    # It is gone at its expiry (by the timer, not a later tick), and stays gone after a
    # reload although the stored list still has it.
    page.wait_for("document.getElementById('alert').hidden", timeout=5)
    page.goto(f"http://127.0.0.1:{demo_server.port}/player/")
    time.sleep(0.5)
    assert page.eval("JSON.parse(localStorage.getItem('signage.alerts'))[0].id") == "short"
    assert page.eval("document.getElementById('alert').hidden") is True

    # A kept alert cleared while the player was away is dropped by the list the server
    # sends right after the welcome (empty, from the hub's memory), not after a wait. A
    # list older than the one the player has is ignored.
    revision = push(demo_server, screen_id, [alert("gone", expires_in=600, now=server_now())])
    page.wait_for("!document.getElementById('alert').hidden", timeout=3)
    stale = json.dumps({"type": "alerts", "revision": revision - 1, "alerts": []})
    demo_server.call(demo_server.app.state.hub.push_state, "alerts", stale, [screen_id])
    time.sleep(0.5)
    assert page.eval("document.getElementById('alert').hidden") is False
    assert page.eval("window.signagePlayer.state.alertsRevision") == revision
    page.goto("about:blank")
    push(demo_server, screen_id, [])
    page.goto(f"http://127.0.0.1:{demo_server.port}/player/")
    page.wait_for("window.signagePlayer.state.alerts.length === 0", timeout=3)
    assert page.eval("document.getElementById('alert').hidden") is True

    # A live alert is kept: after a reload it is on screen before the server says anything.
    push(demo_server, screen_id, [alert("kept", expires_in=600, now=server_now())])
    page.wait_for("!document.getElementById('alert').hidden", timeout=3)
    demo_server.server.should_exit = True  # the server goes away
    demo_server.thread.join(timeout=30)
    page.goto(f"http://127.0.0.1:{demo_server.port}/player/")
    page.wait_for("!document.getElementById('alert').hidden", timeout=5)
    assert page.eval(f"{CURRENT}.dataset.alert") == "kept"


def _wav(path: Path, seconds: float) -> None:
    with wave.open(str(path), "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        frames = int(8000 * seconds)
        sound.writeframes(struct.pack(f"<{frames}h", *([800, -800] * (frames // 2))))


def test_queue_calls_wait_for_a_takeover_and_then_each_counters_latest_is_said(
    demo_server: ThreadServer, settings: Settings, db: sa.Engine, browser: Page
) -> None:
    tokens = load_demo(settings)
    screen_id = screen_id_of(db, tokens[BOARD])
    folder = settings.media_dir / "voice"
    folder.mkdir(parents=True, exist_ok=True)
    names = {
        part: f"{prefix}-{index:024x}.wav"
        for index, (part, prefix) in enumerate(
            [("alarm", "alarm"), ("speech", "ja"), ("chime", "chime"), ("a1", "ja"),
             ("a2", "ja"), ("b1", "ja")],
            start=1,
        )
    }  # fmt: skip
    for name in names.values():
        _wav(folder / name, 0.3)
    page = browser
    open_board(page, demo_server, tokens[BOARD])
    page.wait_for("window.signagePlayer.state.socket.readyState === 1")
    state = "window.signagePlayer.state"

    push(
        demo_server,
        screen_id,
        [
            alert(
                "a9",
                alarm=f"/voice/{names['alarm']}",
                voice=[{"language": "ja", "url": f"/voice/{names['speech']}"}],
            )
        ],
    )
    page.wait_for("!document.getElementById('alert').hidden", timeout=3)

    def clip(name: str, **extra: str) -> dict[str, str]:
        return {"file": names[name], **extra}

    chime = clip("chime", part="chime")
    for label, counter, part in (("A-001", 1, "a1"), ("A-002", 1, "a2"), ("B-001", 2, "b1")):
        demo_server.call(
            demo_server.app.state.hub.publish,
            call(label, counter, [chime, clip(part, language="ja")]),
            [screen_id],
        )
    page.wait_for(f"{state}.received.length === 3")
    # The alarm, then the spoken alert, in that order; no queue call while it is up.
    page.wait_for(f"{state}.played.filter((p) => p.part === 'alert').length === 2", timeout=10)
    time.sleep(0.5)
    played = page.eval(f"{state}.played")
    assert [p["file"] for p in played if p["part"] == "alert"] == [
        f"/voice/{names['alarm']}",
        f"/voice/{names['speech']}",
    ]
    assert [p for p in played if p["part"] != "alert"] == []
    # The calls are on the board meanwhile (under the alert).
    assert page.eval("document.querySelector('[data-board] .board-now').dataset.label") in {
        "A-002",
        "B-001",
    }

    push(demo_server, screen_id, [])
    page.wait_for(f"{state}.announced.length === 2 && {state}.announced[1].ended > 0", timeout=15)
    said = [a["labels"] for a in page.eval(f"{state}.announced")]
    assert sorted(said) == [["A-002"], ["B-001"]]  # A-001 was passed by its counter


def _log_in(page: Page, base: str, username: str, password: str) -> None:
    page.send("Network.clearBrowserCookies")
    page.goto(base + "/login")
    page.fill("#f-username", username)
    page.fill("#f-password", password)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for("location.pathname === '/' && document.readyState === 'complete'")


def _raise_from_the_form(page: Page, base: str, *, drill: bool) -> str:
    """Open the form, choose the fire template, fill its blanks, preview, send (as a
    person does, clicking); the preview's text."""
    page.goto(base + "/alerts")
    page.click("a[href='/alerts/new']")
    page.wait_for("location.pathname === '/alerts/new' && document.readyState === 'complete'")
    page.eval("document.getElementById('f-template').value = 'fire'")
    page.eval("document.getElementById('f-level').value = 'severe'")
    page.fill("#f-floor", "3F")
    page.fill("#f-place", "East stairs / 東階段")
    page.fill("#f-expires_minutes", "30")
    page.click("input[name=targets][value=all]")
    if drill:
        page.click("input[name=drill]")
    page.click("form[action='/alerts/new'] button.primary")
    page.wait_for("!!document.querySelector('button[name=step][value=send]')")
    preview = page.text(".alert-sample")
    page.click("button[name=step][value=send]")
    page.wait_for("location.pathname === '/alerts' && document.readyState === 'complete'")
    return preview


def test_a_publisher_raises_an_alert_and_a_drill_from_the_staff_ui_and_the_player_shows_them(
    demo_server: ThreadServer, settings: Settings, db: sa.Engine, browser: Page
) -> None:
    """The demo's publisher, in Chromium with htmx on: the form, a template with its blanks
    filled, the preview, the confirmation; the demo's board player (another Chromium)
    takes it over within a second; the alert is ended from the list; then the same as a
    drill, with the 訓練 / DRILL mark. Counter staff and editors see no raise form."""
    tokens, passwords = load_demo_accounts(settings)
    base = f"http://127.0.0.1:{demo_server.port}"
    staff = browser
    with chromium() as player:
        open_board(player, demo_server, tokens[BOARD])
        player.wait_for("window.signagePlayer.state.socket.readyState === 1")
        _log_in(staff, base, "sato", passwords["sato"])
        assert staff.eval("!!window.htmx")

        for drill in (False, True):
            sent = time.monotonic()
            preview = _raise_from_the_form(staff, base, drill=drill)
            assert "3F" in preview and "East stairs / 東階段" in preview
            assert ("訓練 / DRILL" in preview) is drill
            player.wait_for("!document.getElementById('alert').hidden", timeout=5)
            # From the click on "send" (its POST and redirect included) to the screen.
            assert time.monotonic() - sent < 5
            assert player.eval(f"{CURRENT}.dataset.language") == "ja"
            assert "火災" in player.text("#alert .alert-page.current .alert-headline")
            marks = player.eval("document.querySelectorAll('#alert .alert-drill').length")
            assert (marks > 0) is drill
            if drill:
                assert player.text("#alert .alert-page.current .alert-drill") == "訓練 / DRILL"
            # The list says the screens show it (acknowledged), then "End the alert".
            staff.goto(base + "/alerts")
            staff.click("form[action$='/clear'] button")
            staff.wait_for("location.search.includes('done=cleared')")
            player.wait_for("document.getElementById('alert').hidden", timeout=5)

    with db.connect() as conn:
        actions = list(
            conn.scalars(
                sa.select(AuditEntry.action)
                .where(AuditEntry.action.like("alert.%") | AuditEntry.action.like("drill.%"))
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["alert.raise", "alert.clear", "drill.raise", "drill.clear"]

    # Counter staff and editors: no link to alerts, and the raise form is refused.
    for username in ("suzuki", "tanaka"):
        _log_in(staff, base, username, passwords[username])
        assert staff.eval("document.querySelector(\"nav a[href='/alerts']\")") is None
        staff.goto(base + "/alerts/new")
        assert staff.eval("document.getElementById('f-template')") is None
        assert staff.eval("document.querySelector(\"form[action='/alerts/new']\")") is None
