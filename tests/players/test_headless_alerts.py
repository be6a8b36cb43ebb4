"""Emergency alerts in the headless player: frames drawn with Pillow (a takeover over the
whole screen in each language in turn, the drill mark, a banner below the zones that never
hides the queue board) and, against the real server with the demo city hall, a pushed
alert drawn and acknowledged, cleared by an empty list, never drawn past its expiry by the
server's clock, and kept while the server is away."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from content.layouts import LAYOUTS
from players.headless import Options, Painter, Player, Scene, zone_views
from players.headless.alerts import PAGE_SECONDS, parse, views
from players.headless.frames import BANNER_SHARE, Board
from players.headless.player import ALERT_CONFIRM
from players.headless.text import Fonts
from signage.settings import Settings

from ..alert_push import BOARD, RED, alert, load_demo, push, screen_id_of, serving, shown
from ..test_fanout import ThreadServer

SIZE = (640, 360)
DRILL = (0xFF, 0xD4, 0x00)
BANNER = (0xB3, 0x3A, 0x00)
IMPORTANT = (0xFF, 0xD2, 0x4D)


def _share(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 16) -> float:
    """The share of the image's pixels of about this colour."""
    colours = image.getcolors(image.width * image.height) or []
    near = sum(
        count
        for count, rgb in colours
        if all(abs(a - b) <= tolerance for a, b in zip(rgb, colour, strict=True))
    )
    return near / (image.width * image.height)


def _bright_rows(image: Image.Image) -> list[int]:
    """Rows with white text on them."""
    grey = image.convert("L")
    return [
        y for y in range(grey.height) if grey.crop((0, y, grey.width, y + 1)).getextrema()[1] > 230
    ]


def _board_manifest() -> dict[str, object]:
    layout = LAYOUTS["queue"]
    return {
        "site": {"name": "本庁舎", "timezone": "Asia/Tokyo"},
        "layout": {
            "key": layout.key,
            "orientation": "landscape",
            "zones": [
                {"name": z.name, "kind": z.kind.value, "x": z.x, "y": z.y,
                 "width": z.width, "height": z.height}
                for z in layout.zones
            ],
        },
        "timeline": {},
        "fallback": {},
        "notices": {},
        "media": [],
    }  # fmt: skip


def test_takeover_frames_cover_the_screen_in_each_language_with_the_drill_mark(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 12, 2, 5, 1, 30, tzinfo=UTC)
    raw = alert("a17", issued=datetime(2026, 12, 2, 5, 1, tzinfo=UTC), now=now, drill=True)
    alerts = parse([raw])
    first, banner = views(alerts, now, 0.0, "Asia/Tokyo")
    assert banner is None and first is not None
    assert (first.language, first.headline, first.drill) == ("ja", "地震が発生しました", True)
    assert first.issued == "12/2 14:01 発表"  # the site's time zone
    second, _ = views(alerts, now, PAGE_SECONDS + 0.1, "Asia/Tokyo")
    assert second is not None and (second.language, second.headline) == (
        "en",
        "An earthquake occurred",
    )
    assert second.issued == "Issued at 12/2 14:01"
    # Back to the first language, and gone at the expiry (by the server's time).
    assert views(alerts, now, 2 * PAGE_SECONDS + 0.1, "Asia/Tokyo")[0] == first
    assert views(alerts, alerts[0].expires_at, 0.0, "Asia/Tokyo") == (None, None)

    manifest = _board_manifest()
    painter = Painter(SIZE, tmp_path, Fonts())
    board = Board("A-023 → 3", ("A-022 → 1",), ("A 住民票  3人待ち",))
    zones = zone_views(manifest, now)
    under = painter.paint(Scene(1, zones, board=board, manifest=manifest))
    assert _share(under, IMPORTANT) > 0  # the board's call, in yellow
    frame = painter.paint(Scene(1, zones, board=board, manifest=manifest, alert=first))
    # The whole screen is the alert's: red, the yellow drill band on top, white text, and
    # nothing of the board.
    assert _share(frame, RED) > 0.6
    assert _share(frame.crop((0, 0, SIZE[0], 50)), DRILL) > 0.6
    assert _share(frame, IMPORTANT, tolerance=6) == 0
    rows = _bright_rows(frame)
    assert rows and min(rows) > 58 and max(rows) < SIZE[1] - 5  # text below the drill band
    english = painter.paint(Scene(1, zones, board=board, manifest=manifest, alert=second))
    assert english.tobytes() != frame.tobytes()  # another text


def test_a_banner_frame_leaves_the_board_whole_above_it(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    alerts = parse([alert("b1", mode="banner", level="moderate", now=now)])
    takeover, banner = views(alerts, now, 0.0, "Asia/Tokyo")
    assert takeover is None and banner is not None
    manifest = _board_manifest()
    painter = Painter(SIZE, tmp_path, Fonts())
    board = Board("A-023 → 3", ("A-022 → 1",), ())
    band_top = SIZE[1] - round(SIZE[1] * BANNER_SHARE)
    views_ = painter.paged(zone_views(manifest, now), manifest, True)
    for view in views_:
        assert painter.box(view.zone, True)[3] <= band_top  # every zone above the band
    frame = painter.paint(Scene(1, views_, board=board, manifest=manifest, banner=banner))
    assert _share(frame.crop((0, band_top, SIZE[0], SIZE[1])), BANNER) > 0.4
    assert _share(frame.crop((0, 0, SIZE[0], band_top)), BANNER) == 0
    # The board's call is drawn, above the band.
    assert _share(frame.crop((0, 0, SIZE[0], band_top)), IMPORTANT, tolerance=6) > 0
    # A takeover wins over a banner: the player never shows both.
    both = parse([alert("b1", mode="banner", now=now), alert("t1", now=now)])
    assert views(both, now, 0.0, "UTC")[1] is None


@pytest.fixture
def demo_server(settings: Settings, db: sa.Engine) -> Iterator[ThreadServer]:
    with serving(settings) as server:
        yield server


def _wait(condition: Callable[[], object], timeout: float = 10.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def _written(options: Options) -> object:
    """A pixel of the frame file (written atomically)."""
    with Image.open(options.output or "") as frame:
        return frame.convert("RGB").getpixel((5, 5))


def _red(player: Player) -> bool:
    frame = player.frame
    return frame is not None and _share(frame.resize((64, 36)), RED, 24) > 0.6


def test_the_headless_player_draws_a_pushed_alert_acknowledges_it_and_keeps_it_offline(
    demo_server: ThreadServer,
    settings: Settings,
    db: sa.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tokens = load_demo(settings)
    screen_id = screen_id_of(db, tokens[BOARD])
    # The server's clock is a minute ahead of this machine's: the player goes by it.
    ahead = timedelta(seconds=60)
    monkeypatch.setattr("signage.live.socket.utcnow", lambda: datetime.now(UTC) + ahead)

    def server_now() -> datetime:
        return datetime.now(UTC) + ahead

    options = Options(
        server=f"http://127.0.0.1:{demo_server.port}",
        cache=tmp_path / "cache",
        output=tmp_path / "frame.png",
        size=SIZE,
        token=tokens[BOARD],
        backoff_cap=1.0,
        restart_delay=1.0,
    )
    player = Player(options)
    player.start()
    try:
        _wait(lambda: player.playing.get("board") == "queue board", 20, "the board")
        # Expired by the server's clock (not by this machine's): never drawn.
        push(demo_server, screen_id, [alert("old", expires_in=-20, now=server_now())])
        _wait(lambda: [a.id for a in player.alerts] == ["old"], what="the list")
        time.sleep(0.3)
        assert not _red(player)

        pushed = time.monotonic()
        push(demo_server, screen_id, [alert("a17", now=server_now())])
        _wait(lambda: _red(player), 3, "the takeover frame")
        assert time.monotonic() - pushed < 1.0
        _wait(lambda: _written(options) == RED, 3, "the frame written")  # written after
        _wait(lambda: "a17" in shown(demo_server, screen_id), 5, "the alert_ack")

        push(demo_server, screen_id, [])
        _wait(lambda: not _red(player), 3, "the cleared frame")
        _wait(lambda: shown(demo_server, screen_id) == [], 5, "an empty alert_ack")

        # Three seconds left by the server's clock: drawn, then gone at its expiry.
        push(demo_server, screen_id, [alert("short", expires_in=3, now=server_now())])
        _wait(lambda: _red(player), 3, "the short alert")
        _wait(lambda: not _red(player), 5, "the short alert to expire")

        # A list older than the one shown (another process read it before this one) is
        # ignored: the player keeps the newer list; a newer one applies again.
        revision = push(demo_server, screen_id, [alert("newer", now=server_now())])
        _wait(lambda: _red(player), 3, "the newer alert")
        stale = json.dumps({"type": "alerts", "revision": revision - 1, "alerts": []})
        demo_server.call(demo_server.app.state.hub.push_state, "alerts", stale, [screen_id])
        time.sleep(0.5)
        assert [a.id for a in player.alerts] == ["newer"] and _red(player)
        assert player.alerts_revision == revision

        push(demo_server, screen_id, [alert("gone", expires_in=600, now=server_now())])
        _wait(lambda: [a.id for a in player.alerts] == ["gone"], 3, "the alert")
        _wait(lambda: _red(player), 3, "the alert")
    finally:
        player.stop()
    # The alert is cleared while the player is away: restarted, the player has the alert
    # it kept, and the server's list sent right after the welcome (from the hub's memory,
    # an empty list) drops it at once, not after a wait.
    push(demo_server, screen_id, [])
    again = Player(options)
    assert [a.id for a in again.alerts] == ["gone"]  # kept
    again.start()
    try:
        _wait(lambda: again.online, 10, "the welcome")
        welcomed = time.monotonic()
        _wait(lambda: again.frame is not None and not again.alerts, 3, "the kept alert dropped")
        assert time.monotonic() - welcomed < ALERT_CONFIRM / 2
        _wait(lambda: again.frame is not None and not _red(again), 3, "a frame without it")
        push(demo_server, screen_id, [alert("kept", expires_in=600, now=server_now())])
        _wait(lambda: _red(again), 3, "the kept alert")
    finally:
        again.stop()
    # The server goes away; the player restarts: it draws the alert it has, by the server's
    # clock as last measured.
    demo_server.server.should_exit = True
    demo_server.thread.join(timeout=30)
    offline = Player(options)
    assert [a.id for a in offline.alerts] == ["kept"]
    offline.render()
    assert _red(offline)
