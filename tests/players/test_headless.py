"""The headless player (players/headless/) against the real server: it pairs, draws the
notice scheduled for now, keeps drawing it while the server is down (also after its own
restart), and picks up an edited notice when the server is back. Media downloads, frame
outputs and text layout are also checked on their own."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import json
import re
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from PIL import Image

from content.layouts import LAYOUTS
from content.protocol import Board, Manifest, read_manifest
from players.headless import (
    FramebufferOutput,
    MediaError,
    Options,
    Player,
    fetch_media,
    html_lines,
    raw_pixels,
    wrap,
)
from players.headless.text import Fonts
from signage.settings import PROJECT_ROOT

from ..conftest import LiveServer, Staff

NAVY = (0, 0, 128)
YELLOW = (0xFF, 0xD2, 0x4D)
SIDE_BG = (0x10, 0x18, 0x20)
CODE = re.compile(r"[A-Z2-9]{3}-[A-Z2-9]{3}")


def _wait(condition: Callable[[], object], timeout: float = 15.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.05)


def _options(server: str, tmp_path: Path, **extra: Any) -> Options:
    return Options(
        server=server,
        cache=tmp_path / "cache",
        output=tmp_path / "frame.png",
        size=(640, 360),
        backoff_cap=1.0,
        restart_delay=1.0,
        **extra,
    )


@contextmanager
def _playing(options: Options) -> Iterator[Player]:
    player = Player(options)
    player.start()
    try:
        yield player
    finally:
        player.stop()


def _frame(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _has_colour(image: Image.Image, colour: tuple[int, int, int], tolerance: int = 12) -> bool:
    return any(
        all(abs(a - b) <= tolerance for a, b in zip(rgb, colour, strict=True))
        for _, rgb in image.getcolors(image.width * image.height) or []
    )


def _upload_picture(staff: Staff) -> int:
    buffer = io.BytesIO()
    Image.new("RGB", (400, 300), NAVY).save(buffer, "PNG")
    boundary = "----headless-player-test"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="map.png"\r\n'
        f"Content-Type: image/png\r\n\r\n".encode()
        + buffer.getvalue()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = staff.http.post(
        "/media",
        content=body,
        headers={
            "X-CSRF-Token": staff.token("/media"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )
    assert response.status_code == 303, response.text[-500:]
    form = staff.http.get("/notices/new").text
    match = re.search(r'<option value="(\d+)" *>map\.png</option>', form)
    assert match, "the uploaded picture is not offered for notices"
    return int(match.group(1))


def _notice_form(title: str, image_id: int | str = "") -> dict[str, object]:
    return {
        "site_id": "",
        "style": "important",
        "title_ja": title,
        "body_ja": "**9時**から開庁します\n- 住民票\n- 印鑑登録",
        "title_en": "Welcome",
        "body_en": "",
        "image_id": str(image_id),
        "action": "approve",
    }


def test_headless_player_pairs_plays_survives_an_outage_and_catches_up(
    live_server: LiveServer, staff: Staff, tmp_path: Path
) -> None:
    # Content first: an approved notice with a picture, in the playlist the screen will use.
    image_id = _upload_picture(staff)
    made = staff.post(
        "/notices/new", _notice_form("ようこそ市役所へ", image_id), page="/notices/new"
    )
    notice_id = int(made.headers["location"].split("/")[2].split("?")[0])
    playlist = staff.post("/playlists", {"name": "案内", "site_id": ""}, page="/playlists")
    playlist_id = int(playlist.headers["location"].rsplit("/", 1)[1])
    staff.post(
        f"/playlists/{playlist_id}/items",
        {"kind": "notice", "notice_id": str(notice_id), "duration_seconds": "30"},
        page=f"/playlists/{playlist_id}",
    )
    site_id = staff.site()
    options = _options(live_server.url, tmp_path)
    frame_path = tmp_path / "frame.png"

    with _playing(options) as player:
        # A new player makes a token, keeps it private, and shows a pairing code.
        _wait(lambda: player.pairing_code, what="a pairing code")
        code = player.pairing_code
        assert code and CODE.fullmatch(code)
        token_file = options.cache / "token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        # The code, in large type, on the screen too.
        _wait(lambda: frame_path.exists() and _has_colour(_frame(frame_path), YELLOW))

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
        _wait(lambda: player.playing.get("main", "").startswith(f"notice {notice_id} "))
        assert "ようこそ市役所へ" in player.playing["main"]
        assert player.online and player.pairing_code is None
        # The picture was fetched, verified and kept; the manifest is cached.
        stored = json.loads((options.cache / "manifest.json").read_text())
        assert stored["version"] == player.manifest_version >= 1
        (picture,) = stored["manifest"]["media"]
        cached = options.cache / "media" / picture["file"]
        assert hashlib.sha256(cached.read_bytes()).hexdigest() == picture["sha256"]
        # The frame shows the notice: bright text and the yellow title of an important
        # notice, the picture, not a black screen.
        _wait(lambda: _has_colour(_frame(frame_path), NAVY), what="the picture in the frame")
        frame = _frame(frame_path)
        main = frame.crop((0, 36, 448, 324))
        assert main.convert("L").getextrema()[1] > 200
        assert _has_colour(main, YELLOW) and _has_colour(main, NAVY)
        assert "小型表示器" in staff.http.get("/fleet").text  # the player kind, in words

        # The server goes away: the screen keeps playing the same notice.
        live_server.kill()
        _wait(lambda: not player.online, what="the player to notice the outage")
        time.sleep(1.5)
        assert player.playing["main"].startswith(f"notice {notice_id} ")
        assert _has_colour(_frame(frame_path), YELLOW)

    # The player itself restarts while the server is still down: it plays from its cache.
    with _playing(options) as player:
        _wait(lambda: player.playing.get("main", "").startswith(f"notice {notice_id} "))
        assert player.frames_written >= 1
        assert not player.online
    command = ["--server", live_server.url, "--cache", str(options.cache), "--once"]
    once = subprocess.run(
        [sys.executable, "-m", "players", *command, "--output", str(tmp_path / "once.png")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        check=True,
    )
    assert f"main: notice {notice_id} ja+en: ようこそ市役所へ / Welcome" in once.stdout
    assert _frame(tmp_path / "once.png").convert("L").getextrema()[1] > 200

    # Back again, an edit of the notice reaches the screen by itself.
    with _playing(options) as player:
        live_server.start()
        staff.post(
            f"/notices/{notice_id}",
            _notice_form("本日は17時まで", image_id),
            page=f"/notices/{notice_id}",
        )
        _wait(lambda: "本日は17時まで" in player.playing.get("main", ""), timeout=30)
        assert player.online
        version = player.manifest_version
        assert json.loads((options.cache / "manifest.json").read_text())["version"] == version


def test_commands_reach_the_player_and_a_revoked_screen_pairs_again(
    live_server: LiveServer, staff: Staff, tmp_path: Path
) -> None:
    options = _options(live_server.url, tmp_path)
    with _playing(options) as player:
        _wait(lambda: player.pairing_code, what="a pairing code")
        first_code, first_token = player.pairing_code, player.token
        assert first_code
        screen_id = staff.pair(first_code, staff.site(), name="2番窓口")
        # Nothing is scheduled: the main area shows the time and the site, never black.
        _wait(lambda: player.playing.get("main") == "idle", what="the first manifest")
        assert _frame(tmp_path / "frame.png").crop((0, 36, 448, 324)).getextrema()[0][1] > 200

        staff.post(f"/screens/{screen_id}/command", {"command": "identify"}, page="/fleet")
        _wait(lambda: player.identifying == "2番窓口", what="identify")
        # The whole screen, the name in large type.
        _wait(lambda: _frame(tmp_path / "frame.png").getpixel((2, 358)) == (0x0B, 0x4F, 0x8A))

        # A screenshot command: the player uploads the frame it shows; staff can open it.
        staff.post(f"/screens/{screen_id}/command", {"command": "screenshot"}, page="/fleet")
        shot = f"/screens/{screen_id}/screenshot"
        _wait(lambda: staff.http.get(shot).status_code == 200, what="the screenshot")
        with Image.open(io.BytesIO(staff.http.get(shot).content)) as uploaded:
            assert uploaded.size == (640, 360)
            assert uploaded.convert("RGB").getpixel((2, 358)) == (0x0B, 0x4F, 0x8A)

        staff.post(f"/screens/{screen_id}/revoke", {}, page=f"/screens/{screen_id}")
        _wait(lambda: player.pairing_code not in (None, first_code), what="a new code")
        assert player.token != first_token
        assert (options.cache / "token").read_text() == player.token
        assert not (options.cache / "manifest.json").exists()
        assert player.manifest_version == 0
        _wait(lambda: player.playing == {}, what="the pairing screen")


class _Files(BaseHTTPRequestHandler):
    """Serves `files` under /media/files/ and records POSTs."""

    files: ClassVar[dict[str, bytes]] = {}
    posts: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_GET(self) -> None:
        data = self.files.get(self.path.removeprefix("/media/files/"))
        self.send_response(200 if data is not None else 404)
        self.send_header("Content-Length", str(len(data or b"")))
        self.end_headers()
        self.wfile.write(data or b"")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posts.append((self.path, dict(self.headers), body))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def file_server() -> Iterator[tuple[str, type[_Files]]]:
    handler = type("Files", (_Files,), {"files": {}, "posts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _picture(colour: str) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, "PNG")
    data = buffer.getvalue()
    return hashlib.sha256(data).hexdigest() + ".png", data


def _entry(name: str, data: bytes, sha256: str | None = None) -> dict[str, Any]:
    return {"file": name, "size": len(data), "sha256": sha256 or name.split(".")[0]}


def _manifest(
    items: list[dict[str, Any]], media: list[dict[str, Any]], layout: str = "counter"
) -> Manifest:
    """A manifest as a player has it: read from what the server would send (parts the
    player does not need are left out, as an older server might)."""
    now = datetime.now(UTC)
    zones = LAYOUTS[layout].zones
    slot = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(hours=1)).isoformat(),
        "items": items,
    }
    return read_manifest({
        "screen": {"id": 1, "name": "窓口"},
        "site": {"name": "本庁舎", "timezone": "Asia/Tokyo"},
        "layout": {
            "key": layout,
            "orientation": LAYOUTS[layout].orientation,
            "zones": [
                {"name": z.name, "kind": z.kind.value, "x": z.x, "y": z.y}
                | {"width": z.width, "height": z.height}
                for z in zones
            ],
        },
        "timeline": {"main": [slot]},
        "fallback": {},
        "notices": {},
        "media": media,
    })  # fmt: skip


def test_media_are_verified_and_a_mismatch_never_activates_the_manifest(
    tmp_path: Path, file_server: tuple[str, type[_Files]]
) -> None:
    url, handler = file_server
    good, good_data = _picture("navy")
    handler.files[good] = good_data
    player = Player(Options(server=url, cache=tmp_path / "cache", size=(320, 180)))
    media = tmp_path / "cache" / "media"
    first = _manifest([{"type": "image", "file": good, "duration": 10}], [_entry(good, good_data)])
    assert asyncio.run(player.offer_manifest(1, first))
    assert (media / good).read_bytes() == good_data
    assert player.render() and player.playing["main"] == f"image {good}"
    assert _has_colour(_frame(tmp_path / "cache" / "frame.png"), NAVY)

    # A damaged file in the cache is fetched again.
    (media / good).write_bytes(b"junk")
    fetch_media(url, media, [_entry(good, good_data)])
    assert (media / good).read_bytes() == good_data

    # The server sends other bytes than the manifest names, or nothing at all: the new
    # manifest is not activated, the old one keeps playing, nothing half-written stays.
    wrong, wrong_data = _picture("red")
    handler.files[wrong] = good_data + b"!"
    missing, missing_data = _picture("green")
    for entry in (
        _entry(wrong, good_data + b"!", sha256=wrong.split(".")[0]),
        _entry(wrong, wrong_data),
        _entry(missing, missing_data),
    ):
        second = _manifest([{"type": "image", "file": entry["file"], "duration": 10}], [entry])
        assert not asyncio.run(player.offer_manifest(2, second))
        assert player.manifest_version == 1
        assert json.loads((tmp_path / "cache" / "manifest.json").read_text())["version"] == 1
        assert sorted(p.name for p in media.iterdir()) == [good]
    assert not player.render() and player.playing["main"] == f"image {good}"
    with pytest.raises(MediaError, match="unsafe"):
        fetch_media(url, media, [{"file": "../token", "size": 1, "sha256": "0" * 64}])

    # A manifest that no longer needs a file lets the cache drop it.
    assert asyncio.run(player.offer_manifest(3, _manifest([], [])))
    assert list(media.iterdir()) == []


def test_events_are_applied_once_and_a_screenshot_is_posted(
    tmp_path: Path, file_server: tuple[str, type[_Files]]
) -> None:
    url, handler = file_server
    player = Player(Options(server=url, cache=tmp_path / "cache", token="t" * 32, size=(320, 180)))

    async def scenario() -> None:
        assert await player.offer_manifest(1, _manifest([], []))
        player.render()
        event = {"kind": "identify", "seconds": 1}
        identify = {"type": "event", "id": "e1", "seq": 7, "event": event}
        player.receive(json.dumps(identify))
        assert player.identifying == "窓口" and player.seq == 7
        await asyncio.sleep(1.05)
        player.receive(json.dumps(identify | {"seq": 8}))  # the same event again: not applied twice
        assert player.identifying is None and player.seq == 8
        player.receive(
            json.dumps({"type": "event", "id": "e2", "seq": 9, "event": {"kind": "screenshot"}})
        )
        # An event of a kind this player does not know is not acted on; its seq counts.
        player.receive(json.dumps({"type": "event", "id": "e3", "seq": 12, "event": {"kind": "x"}}))
        assert player.seq == 12
        # A malformed message is ignored: the playing manifest stays.
        player.receive(json.dumps({"type": "manifest", "version": 5, "manifest": {"layout": 1}}))
        assert player.manifest_version == 1
        for _ in range(200):
            if handler.posts:
                break
            await asyncio.sleep(0.02)

    asyncio.run(scenario())
    ((path, headers, body),) = handler.posts
    assert path == "/player/screenshot"
    assert headers["Authorization"] == "Bearer " + "t" * 32
    assert body.startswith(b"\x89PNG")
    assert json.loads((tmp_path / "cache" / "events.json").read_text())["seq"] == 12


def test_notice_bodies_become_plain_lines() -> None:
    html = (
        "<p><strong>9時</strong>から &amp; <br>17時まで</p>"
        "<ul><li>住民票</li><li>戸籍</li></ul><ol><li>番号札</li><li>待つ</li></ol>"
        "<p>&lt;script&gt;</p>"
    )
    assert html_lines(html) == [
        "9時から &",
        "17時まで",
        "",
        "• 住民票",
        "• 戸籍",
        "",
        "1. 番号札",
        "2. 待つ",
        "",
        "<script>",
    ]


def test_text_wraps_by_width_in_japanese_and_at_spaces_in_english() -> None:
    font = Fonts().get(20)
    japanese = "本日は十七時まで開庁しています。マイナンバーカードの受け取りは二番窓口へ。"
    lines = wrap(japanese, font, 200)
    assert len(lines) > 2 and "".join(lines) == japanese
    assert all(font.getlength(line) <= 200 + 20 for line in lines)  # + a hanging 。
    assert not any(line.startswith(("。", "、")) for line in lines)
    english = "Residence certificates are issued at the general counter"
    lines = wrap(english, font, 200)
    assert " ".join(lines) == english and all(font.getlength(line) <= 200 for line in lines)


def test_without_a_cjk_font_the_player_still_draws(tmp_path: Path) -> None:
    from players.headless import Painter, Scene

    fonts = Fonts(Path("/nonexistent.ttc"), Path("/nonexistent.ttc"))
    frame = Painter((320, 180), tmp_path, fonts).paint(Scene(0, code="K7M-4QX"))
    assert frame.convert("L").getextrema()[1] > 200


def test_frames_for_framebuffers(tmp_path: Path) -> None:
    image = Image.new("RGB", (2, 1), (255, 0, 0))
    image.putpixel((1, 0), (0, 0, 255))
    assert raw_pixels(image, 16) == b"\x00\xf8\x1f\x00"  # RGB565, little-endian
    assert raw_pixels(image, 32) == b"\x00\x00\xff\xff\xff\x00\x00\xff"  # BGRA
    sysfs = tmp_path / "sys"
    (sysfs / "fb1").mkdir(parents=True)
    (sysfs / "fb1" / "bits_per_pixel").write_text("16\n")
    (sysfs / "fb1" / "stride").write_text("6\n")
    device = tmp_path / "fb1"
    device.write_bytes(bytes(12))
    FramebufferOutput(device, sysfs).write(image.resize((2, 2), Image.Resampling.NEAREST))
    assert device.read_bytes() == b"\x00\xf8\x1f\x00\x00\x00" * 2
    unknown = FramebufferOutput(tmp_path / "fb9", sysfs)
    assert unknown.bits == 32  # bits_per_pixel unreadable: assume BGRA


def _main_zone_colour(player: Player) -> tuple[int, int, int]:
    """The colour at the top left of the main zone, with no call drawn over it."""
    scene = dataclasses.replace(player.scene(player.now()), call=None)
    frame = player.painter.paint(scene).convert("RGB")
    zone = next(v.zone for v in scene.zones if v.zone.get("name") == "main")
    x, y = round(zone["x"] * frame.width) + 2, round(zone["y"] * frame.height) + 2
    pixel = frame.getpixel((x, y))
    assert isinstance(pixel, tuple)
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]))


def test_a_counter_top_display_shows_its_own_calls(live_server: LiveServer, tmp_path: Path) -> None:
    import httpx2 as httpx

    loaded = live_server.cli("load-demo")
    assert loaded.returncode == 0, loaded.stderr
    token = re.search(r"3番窓口: http://\S+/player/#token=([A-Za-z0-9_-]+)", loaded.stdout)
    password = re.search(r"suzuki\s+(\S+)", loaded.stdout)
    consoles = dict(re.findall(r"Counter console (\S+ ?\S*) \(log in as suzuki\): (\S+)",
                               loaded.stdout))  # fmt: skip
    assert token and password and len(consoles) == 3, loaded.stdout
    clerk = httpx.Client(base_url=live_server.url, timeout=30)
    form = clerk.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert csrf
    clerk.post("/login", data={"username": "suzuki", "password": password.group(1),
                               "csrf_token": csrf.group(1)})  # fmt: skip

    def press(console: str, action: str = "next") -> None:
        page = clerk.get(console).text
        token_match = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token_match
        response = clerk.post(f"{console}/{action}", data={"csrf_token": token_match.group(1)})
        assert response.status_code == 303, response.text[-300:]

    scheduled = "the scheduled content"
    options = _options(live_server.url, tmp_path, token=token.group(1))
    with _playing(options) as player:
        _wait(lambda: player.manifest_version > 0 and player.board, what="manifest and board")
        assert player.manifest is not None and player.manifest["queue"]["counter"] is not None
        assert player.manifest["queue"]["counter"]["number"] == 3
        # Counter 3 serves no one yet: its screen plays what is scheduled, not the board.
        assert _main_zone_colour(player) != SIDE_BG
        press(consoles["住民票 1"])  # counter 1 calls A-001: not this screen's call
        _wait(lambda: _serving(player.board, 1), what="A-001")
        assert player.calling is None
        assert _main_zone_colour(player) != SIDE_BG
        press(consoles["税・保険"])  # counter 3 calls B-001
        _wait(lambda: player.calling == "B-001 → 3", what="the call of counter 3")
        _wait(lambda: _has_colour(_frame(tmp_path / "frame.png"), YELLOW), what="a yellow frame")
        scene = player.scene(player.now())
        assert scene.board is not None and scene.board.now == "B-001 → 3"
        assert scene.board.services == ()  # a counter screen shows only its own calls
        assert _main_zone_colour(player) == SIDE_BG  # the number it serves, under the call
        _wait(lambda: player.playing.get("main") == "serving B-001", what="serving")
        # Served: the screen goes back to its scheduled content, as the browser player does.
        press(consoles["税・保険"], "finish")
        _wait(lambda: not _serving(player.board, 3), what="counter 3 done")
        # Once the call's highlight time (10 s in the demo) is over:
        _wait(lambda: _main_zone_colour(player) != SIDE_BG, timeout=25, what=scheduled)
        _wait(lambda: not player.playing.get("main", "").startswith("serving"), what=scheduled)
    clerk.close()


def _serving(board: Board | None, number: int) -> bool:
    return board is not None and any(
        c["number"] == number and c["current"] for c in board["counters"]
    )


def test_the_newest_call_shows_at_once_and_a_board_lists_the_others(
    tmp_path: Path, file_server: tuple[str, type[_Files]]
) -> None:
    url, _ = file_server
    player = Player(Options(server=url, cache=tmp_path / "cache", token="t" * 32, size=(320, 180)))

    def call(n: int, label: str, counter: int, counter_id: int, age: float = 0) -> str:
        at = (player.now() - timedelta(seconds=age)).isoformat()
        event = {"kind": "queue.call", "label": label, "counter": counter,
                 "counter_id": counter_id, "at": at, "highlight_seconds": 5}  # fmt: skip
        return json.dumps({"type": "event", "id": f"c{n}", "seq": n, "event": event})

    async def scenario() -> list[str | None]:
        assert await player.offer_manifest(1, _manifest([], []))  # a screen with no board
        seen = [player.calling]
        player.receive(call(1, "A-001", 1, 11, age=0.2))
        seen.append(player.calling)
        player.receive(call(2, "B-001", 2, 12, age=0.1))  # newer: shown at once
        seen.append(player.calling)
        player.receive(call(3, "A-002", 1, 11, age=0.15))  # older than the one shown
        player.receive(call(4, "C-001", 3, 13, age=120))  # caught up late: never shown
        seen.append(player.calling)
        return seen

    seen = asyncio.run(scenario())
    assert seen == [None, "A-001 → 1", "B-001 → 2", "B-001 → 2"]
    frame = player.painter.paint(player.scene(player.now()))
    assert _has_colour(frame, YELLOW)  # the call is drawn over everything

    # On a queue board the board highlights the newest call and lists the recent ones.
    asyncio.run(player.offer_manifest(2, _manifest([], [], layout="queue")))
    player.receive(json.dumps({"type": "queue", "board": {
        "languages": ["ja"], "texts": {}, "services": [], "counters": [],
        "calls": [{"label": "A-001", "counter": 1, "counter_id": 11,
                   "at": (player.now() - timedelta(seconds=1)).isoformat()}]}}))  # fmt: skip
    scene = player.scene(player.now())
    assert scene.call is None and scene.board is not None
    assert scene.board.now == "B-001 → 2" and scene.board.recent == ("A-001 → 1",)
