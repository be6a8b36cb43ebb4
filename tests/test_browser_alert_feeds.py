"""Alert feeds end to end: CAP 1.2 and JMA XML posted to /api/v1/alerts/ on the real server
(uvicorn with the options of `signage serve`, in a thread, the demo city hall loaded, the
rules file naming its site) reach a real browser player (headless Chromium): a severe CAP
alert takes over within a second in two languages, an Update changes its text, a Cancel
clears it; a JMA seismic intensity report for the site's municipality takes over in
Japanese and English, and its cancellation (取消) clears it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa

from signage.settings import Settings

from .alert_push import BOARD, load_demo, open_board, serving
from .alerts_docs import doc
from .browser import Page
from .test_api_alerts import make_token
from .test_fanout import ThreadServer

RULES = """
[[sites]]
code = "honcho"
municipality = "1310100"
earthquake_areas = ["350"]
cap_geocodes = ["JIS=13101"]
"""
CURRENT = "document.querySelector('#alert .alert-page.current')"


@pytest.fixture
def feed_server(settings: Settings, db: sa.Engine, tmp_path: Path) -> Iterator[ThreadServer]:
    rules = tmp_path / "alert_rules.toml"
    rules.write_text(RULES, encoding="utf-8")
    values = {name: getattr(settings, name) for name in settings.__dataclass_fields__}
    with serving(Settings.load(environ={}, env_file=None, **{**values, "alert_rules": rules})) as s:
        yield s


def _showing(page: Page, language: str, timeout: float) -> str:
    page.wait_for(f"{CURRENT} && {CURRENT}.dataset.language === '{language}'", timeout=timeout)
    return page.text("#alert .alert-page.current .alert-headline")


def test_cap_and_jma_posts_take_over_a_real_player_and_clear_it(
    feed_server: ThreadServer, settings: Settings, db: sa.Engine, browser: Page
) -> None:
    tokens = load_demo(settings)
    api_token = make_token(settings, "city-feed")
    page = browser
    open_board(page, feed_server, tokens[BOARD])
    page.wait_for("window.signagePlayer.state.socket.readyState === 1")
    base = f"http://127.0.0.1:{feed_server.port}/api/v1/alerts"
    headers = {"authorization": f"Bearer {api_token}", "content-type": "application/xml"}

    def post(kind: str, data: bytes) -> dict[str, object]:
        response = httpx.post(f"{base}/{kind}", content=data, headers=headers, timeout=10)
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    posted = time.monotonic()
    assert post("cap", doc("cap_severe.xml"))["raised"]
    assert _showing(page, "ja", timeout=3) == "市役所周辺に避難指示"
    seconds = time.monotonic() - posted
    assert seconds < 1.0, f"the CAP alert took {seconds:.2f} s from the POST to the screen"
    assert "北側の出口" in page.text("#alert .alert-page.current .alert-body")
    assert _showing(page, "en", timeout=10) == "Evacuation order around the city hall"

    assert post("cap", doc("cap_update.xml"))["replaced"]
    assert _showing(page, "ja", timeout=10) == "避難指示の範囲を拡大"
    assert post("cap", doc("cap_cancel.xml"))["cancelled"]
    page.wait_for("document.getElementById('alert').hidden", timeout=3)

    now = datetime.now(UTC)
    posted = time.monotonic()
    assert post("jma", doc("vxse53.xml", now - timedelta(seconds=30)))["raised"]
    assert _showing(page, "ja", timeout=3) == "震度5強の地震がありました（市内）"
    seconds = time.monotonic() - posted
    assert seconds < 1.0, f"the JMA report took {seconds:.2f} s from the POST to the screen"
    # JMA's own headline, as issued.
    assert (
        page.text("#alert .alert-page.current .alert-body")
        == "２日１４時００分ころ、地震がありました。"
    )
    # Then easy Japanese, then English (the site's languages, easy Japanese after Japanese).
    assert _showing(page, "en", timeout=16) == (
        "An earthquake of seismic intensity 5+ was observed in the city"
    )
    assert post("jma", doc("vxse53.xml", now, SERIAL="2", INFOTYPE="取消"))["cancelled"]
    page.wait_for("document.getElementById('alert').hidden", timeout=3)
