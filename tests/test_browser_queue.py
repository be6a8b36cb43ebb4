"""A resident's visit in the demo, end to end in headless Chromium against the real server:
a ticket from the kiosk, the phone view, a call from the counter console, and the queue
board showing it with the chime and the voice it is told to play."""

from __future__ import annotations

import io
import json
import re
import wave
from pathlib import Path

import httpx2 as httpx
import pytest

from .browser import Page, chromium
from .conftest import LiveServer
from .queue_rush import issue, latest, load_demo, rush, wait_for_clips


@pytest.mark.usefixtures("openjtalk")  # the board plays the Japanese clips too
def test_kiosk_phone_console_and_board(
    live_server: LiveServer, browser: Page, tmp_path: Path
) -> None:
    loaded = live_server.cli("load-demo")
    assert loaded.returncode == 0, loaded.stderr
    out = loaded.stdout
    kiosk_link = re.search(r"(http://\S+/kiosk/#token=[A-Za-z0-9_-]+)", out)
    board_link = re.search(r"1階 呼び出し表示: (http://\S+/player/#token=[A-Za-z0-9_-]+)", out)
    console = re.search(r"Counter console 住民票 1 \(log in as suzuki\): (http://\S+)", out)
    second = re.search(r"Counter console 住民票 2・税 \(log in as suzuki\): (http://\S+)", out)
    third = re.search(r"Counter console 税・保険 \(log in as suzuki\): (http://\S+)", out)
    above = re.search(r"3番窓口: (http://\S+/player/#token=[A-Za-z0-9_-]+)", out)
    password = re.search(r"suzuki\s+(\S+)", out)
    assert kiosk_link and board_link and console and second and third and above and password, out

    with chromium() as board:
        # The hall's queue board, already paired by the demo.
        board.goto(board_link.group(1))
        board.wait_for("!!document.querySelector('[data-board] [data-service=A]')", timeout=15)

        # A resident takes a number for resident records at the kiosk.
        kiosk = browser
        kiosk.goto(kiosk_link.group(1))
        kiosk.wait_for("!!document.querySelector('[data-service]')", timeout=15)
        kiosk.click(".service-button[data-service]")
        label = kiosk.wait_for(
            "!document.getElementById('kiosk-ticket').hidden"
            " && document.getElementById('ticket-number').textContent",
            timeout=10,
        )
        assert re.fullmatch(r"A-0\d\d", label)
        assert kiosk.eval("location.hash") == ""  # the token does not stay in the address
        qr = str(kiosk.eval("document.getElementById('ticket-qr').getAttribute('src')"))
        phone_path = qr.removesuffix("/qr.svg")

        # The QR code's page, on the resident's phone.
        kiosk.goto(live_server.url + phone_path)
        assert label in kiosk.text(".phone-number")
        assert "あなたの前に" in kiosk.text(".phone-headline")

        # The board counts the new ticket among those waiting (its state is pushed).
        board.wait_for("document.querySelector('[data-board] [data-service=A] .waiting')"
                       ".textContent === '4人待ち'", timeout=10)  # fmt: skip

        # Counter staff call it by its number from the console, with the keyboard.
        with chromium() as staff:
            staff.goto(live_server.url + "/login")
            staff.fill("#f-username", "suzuki")
            staff.fill("#f-password", password.group(1))
            staff.click("form button[type=submit].primary")
            staff.wait_for("location.pathname === '/'", timeout=10)
            staff.goto(console.group(1))
            staff.fill("input[name=label]", label)
            staff.click("input[name=label] + button")
            staff.wait_for(f"!!document.querySelector('[data-ticket=\"{label}\"]')", timeout=10)
            # The board highlights the call and is told to play the chime and the voice.
            board.wait_for(f"!!document.querySelector('.board-now.calling[data-label=\"{label}\"]')",
                           timeout=10)  # fmt: skip
            audio = str(
                board.wait_for("document.getElementById('call').getAttribute('data-audio')")
            )
            files = audio.split()
            assert files[0].startswith("chime-")
            assert any(f.startswith("ja-") for f in files) and any(
                f.startswith("en-") for f in files
            )
            played = board.wait_for("document.getElementById('call').getAttribute('data-played')",
                                    timeout=30)  # fmt: skip
            assert played == "yes"
            for name in files:
                clip = httpx.get(f"{live_server.url}/voice/{name}", timeout=10)
                assert clip.headers["content-type"] == "audio/wav"
                with wave.open(io.BytesIO(clip.content)) as sound:
                    assert sound.getnframes() / sound.getframerate() > 0.3
            board.screenshot(tmp_path / "board.png")
            board.drain()
            assert [e for e in board.errors if "favicon" not in e] == []

            # Two more calls right after it, from two counters: they wait their turn.
            labels = [label]
            current = "(document.querySelector('[data-ticket]') || {dataset: {}}).dataset.ticket"
            for page in (second.group(1), third.group(1)):
                staff.goto(page)
                before = staff.eval(current) or ""
                staff.click("[data-key=n]")
                labels.append(staff.wait_for(f"{current} !== '{before}' && {current}", timeout=10))
            staff.drain()
            assert staff.errors == []
            assert len(set(labels)) == 3

            # The resident's phone says where to go (counter 1 still calls the ticket).
            kiosk.wait_for("!!document.querySelector('.phone-main.is-called')", timeout=15)
            assert "1番窓口へお越しください" in kiosk.text(".phone-detail")

            # The screen above counter 3 shows the number counter 3 called, and only that.
            staff.goto(above.group(1))
            staff.wait_for(
                f"!!document.querySelector('[data-zone=main] .counter-board"
                f' [data-label="{labels[2]}"]\')',
                timeout=15,
            )

        # The three counters' calls were said one after another, each in its own turn.
        announced = "window.signagePlayer.state.announced"
        board.wait_for(f"{announced}.length >= 3 && {announced}[2].ended > 0", timeout=60)
        said = board.eval(announced)
        assert [c["labels"] for c in said[-3:]] == [[one] for one in labels]
        for before, after in zip(said[-3:], said[-2:], strict=False):
            assert before["ended"] is not None and after["started"] >= before["ended"]


# Records, in the page, when each label first shows on a board and the most boards that
# ever existed at once (after each change of the page, as it could be painted).
WATCH = """(() => {
  window.rushSeen = {}; window.rushBoards = 0;
  const look = () => {
    window.rushBoards = Math.max(window.rushBoards,
                                 document.querySelectorAll('[data-board]').length);
    document.querySelectorAll('[data-board] [data-label]').forEach((node) => {
      const label = node.getAttribute('data-label');
      if (!(label in window.rushSeen)) { window.rushSeen[label] = Date.now(); }
    });
  };
  new MutationObserver(look).observe(document.body, {subtree: true, childList: true});
  look();
  return true;
})()"""


@pytest.mark.usefixtures("openjtalk")  # waits for the Japanese clips of the numbers
def test_a_rush_keeps_the_board_current_and_says_each_counter_once(
    live_server: LiveServer, browser: Page
) -> None:
    demo = load_demo(live_server)
    issue(live_server, demo, "AAAAAABBBBCC")
    wait_for_clips(live_server, 2 * 12)  # their numbers, in Japanese and English
    board = browser
    board.goto(demo.players["1階 呼び出し表示"])
    board.wait_for("!!document.querySelector('[data-board] [data-service=A]')", timeout=15)
    board.eval(WATCH)

    made = rush(live_server, demo)  # 12 calls from 3 counters at once
    last = latest(made)
    state = "window.signagePlayer.state"

    # Each counter's latest call is on the board within a second of being made.
    wanted = json.dumps([m.label for m in last.values()])
    board.wait_for(f"{wanted}.every((label) => label in window.rushSeen)", timeout=10)
    seen = board.eval("window.rushSeen")
    for call in last.values():
        assert seen[call.label] / 1000 - call.at < 1.0, (call, seen)
    newest = made[-1].label
    assert board.eval("document.querySelector('[data-board] .board-now').dataset.label") in {
        m.label for m in last.values()
    }
    on_board = board.eval("[...document.querySelectorAll('[data-board] [data-label]')]"
                          ".map((node) => node.dataset.label)")  # fmt: skip
    assert set(json.loads(wanted)) <= set(on_board), (on_board, newest)

    # The voice says each counter's latest call in one turn (one chime per counter), never
    # a number its counter had already moved past when it began, and a ticket's clips once.
    board.wait_for(f"Object.keys({state}.seenEvents).length >= {len(made)}", timeout=60)
    board.wait_for(f"{state}.announced.length > 0 && !{state}.voice.speaking"
                   f" && {state}.voice.order.length === 0", timeout=120)  # fmt: skip
    played = board.eval(f"{state}.played")
    received = board.eval(f"{state}.received")
    assert len(received) == len(made)
    chimes = [p["counter"] for p in played if p["part"] == "chime"]
    assert sorted(chimes) == [1, 2, 3], played
    for number, call in last.items():
        words = [p for p in played if p["counter"] == number and p["part"] != "chime"]
        assert words and words[-1]["label"] == call.label, (number, played)
        for clip in words:
            mine = [r for r in received if r["counter"] == number and r["at"] <= clip["asked"]]
            assert mine[-1]["label"] == clip["label"], (clip, mine)  # not moved past
        files = [p["file"] for p in words if p["label"] == call.label]
        assert len(files) == len(set(files)), words  # recalls waiting together: said once
    assert [a["labels"][-1] for a in board.eval(f"{state}.announced")] == [
        last[c].label for c in chimes
    ]

    # Exactly one board existed at any moment.
    assert board.eval("window.rushBoards") == 1
    board.drain()
    assert [e for e in board.errors if "favicon" not in e] == []
