"""The voice of queue calls, with and without the optional Japanese voice (Open JTalk, the
`voice` extra). Without it, Japanese is shown but never spoken by the server (espeak-ng's
Japanese says every kanji as "Chinese letter"), and every other part of a call still works.
Open JTalk is taken away by blocking its import in a process of its own."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import httpx2 as httpx
import pytest

from content.announcements import PHRASES, sentence
from signage.queue.voice import Voice

from .browser import Page
from .conftest import LiveServer
from .queue_rush import issue, load_demo

# Put first in a Python process: `import pyopenjtalk` then fails and find_spec finds
# nothing, as where the package is not installed.
WITHOUT_OPENJTALK = "import sys; sys.modules['pyopenjtalk'] = None; "

CALL = """
import asyncio, json, sys
from pathlib import Path
from signage.queue.voice import Voice

async def main():
    voice = Voice(Path(sys.argv[1]))
    try:
        audio, texts = await voice.call_audio("A", 23, 3, ("ja", "en"))
    finally:
        await voice.close()
    print(json.dumps({"ja": voice.engine("ja"), "en": voice.engine("en"),
                      "audio": audio, "texts": texts}))

asyncio.run(main())
"""


def seconds(path: Path) -> float:
    with wave.open(str(path)) as sound:
        return sound.getnframes() / sound.getframerate()


def test_without_open_jtalk_a_call_shows_japanese_and_speaks_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "voice"
    ran = subprocess.run(
        [sys.executable, "-c", WITHOUT_OPENJTALK + CALL, str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    made = json.loads(ran.stdout)
    assert made["ja"] is None  # not espeak-ng: it cannot read kanji
    # The call carries both sentences, for the board and for a browser's own voice.
    assert made["texts"] == {"ja": sentence("ja", "A", 23, 3), "en": sentence("en", "A", 23, 3)}
    files = [clip["file"] for clip in made["audio"]]
    assert files[0].startswith("chime-") and made["audio"][0]["part"] == "chime"
    assert not [f for f in files if f.startswith("ja-")]
    assert not list(folder.glob("ja-*"))
    if shutil.which("espeak-ng"):
        assert made["en"] == "espeak-ng"
        assert [clip.get("language") for clip in made["audio"][1:]] == ["en", "en"]
        for name in files:
            assert seconds(folder / name) > 0.3
    else:
        assert made["en"] is None and len(files) == 1


def test_espeak_ng_has_each_voice_it_is_asked_for() -> None:
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    assert PHRASES["ja"].espeak_voice is None
    for language, phrases in PHRASES.items():
        if phrases.espeak_voice is None:
            continue
        listed = subprocess.run(
            [espeak, f"--voices={phrases.espeak_voice}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        assert phrases.espeak_voice in listed.split(), (language, listed)


@pytest.mark.usefixtures("openjtalk")
def test_with_open_jtalk_japanese_is_spoken(tmp_path: Path) -> None:
    async def speak() -> str | None:
        voice = Voice(tmp_path)
        try:
            assert voice.engine("ja") == "openjtalk"
            return await voice.clip("ja", "受付番号、エー、23番の方、")
        finally:
            await voice.close()

    name = asyncio.run(speak())
    assert name is not None and name.startswith("ja-")
    assert seconds(tmp_path / name) > 0.5


def test_the_server_without_open_jtalk_shows_a_call(
    live_server: LiveServer, browser: Page, tmp_path: Path
) -> None:
    # The same server, restarted in a Python where Open JTalk cannot be imported.
    live_server.stop()
    live_server.command = [
        sys.executable,
        "-c",
        WITHOUT_OPENJTALK + "import runpy; sys.argv = ['signage', 'serve']; "
        "runpy.run_module('signage', run_name='__main__')",
    ]
    live_server.start()
    demo = load_demo(live_server)
    issue(live_server, demo, "A")

    board = browser
    board.goto(demo.players["1階 呼び出し表示"])
    board.wait_for("!!document.querySelector('[data-board] [data-service=A]')", timeout=15)

    with httpx.Client(base_url=live_server.url, timeout=30) as clerk:
        page = clerk.get("/login").text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert csrf
        clerk.post("/login", data={"username": "suzuki", "password": demo.password,
                                   "csrf_token": csrf.group(1)})  # fmt: skip
        console = demo.consoles[1]
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', clerk.get(console).text)
        assert csrf
        called = clerk.post(f"{console}/next", data={"csrf_token": csrf.group(1)},
                            headers={"HX-Request": "true"})  # fmt: skip
        assert called.status_code == 200, called.text[-500:]
        label = re.search(r'data-ticket="([^"]+)"', called.text)
        assert label

    board.wait_for(f"!!document.querySelector('.board-now.calling[data-label=\"{label.group(1)}\"]')",
                   timeout=10)  # fmt: skip
    audio = str(board.wait_for("document.getElementById('call').getAttribute('data-audio')"))
    files = audio.split()
    assert files[0].startswith("chime-")
    assert not [f for f in files if f.startswith("ja-")]
    if shutil.which("espeak-ng"):
        assert [f for f in files if f.startswith("en-")]
    played = board.wait_for("document.getElementById('call').getAttribute('data-played')",
                            timeout=30)  # fmt: skip
    assert played == "yes"
    board.drain()
    assert [e for e in board.errors if "favicon" not in e] == []
    voice = Path(live_server.env["SIGNAGE_DATA_DIR"]) / "media" / "voice"
    assert not list(voice.glob("ja-*"))
    assert "Traceback" not in live_server.log.read_text()
