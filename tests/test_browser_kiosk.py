"""The ticket kiosk in headless Chromium: its header is never covered, whatever the screen,
and every resident starts with the site's first language and no priority chosen."""

from __future__ import annotations

import re

from .browser import Page, chromium
from .conftest import LiveServer

TAKE = "document.querySelector('.service-button[data-service]:not([disabled])')"


def _kiosk_link(live_server: LiveServer) -> str:
    loaded = live_server.cli("load-demo")
    assert loaded.returncode == 0, loaded.stderr
    link = re.search(r"(http://\S+/kiosk/#token=[A-Za-z0-9_-]+)", loaded.stdout)
    assert link, loaded.stdout
    return link.group(1)


def _take_a_number(kiosk: Page) -> str:
    kiosk.wait_for(f"!!{TAKE}", timeout=15)
    kiosk.click(".service-button[data-service]:not([disabled])")
    return str(
        kiosk.wait_for(
            "!document.getElementById('kiosk-ticket').hidden"
            " && document.getElementById('ticket-number').textContent",
            timeout=10,
        )
    )


def test_the_ticket_page_never_covers_the_header(live_server: LiveServer, browser: Page) -> None:
    link = _kiosk_link(live_server)
    for size in [(1080, 1920), (1080, 800), (1920, 1080)]:
        with chromium(*size) as kiosk:
            kiosk.goto(link)
            _take_a_number(kiosk)
            box = kiosk.eval(
                "(() => { const h = document.querySelector('.kiosk-top').getBoundingClientRect();"
                " const t = document.getElementById('kiosk-ticket').getBoundingClientRect();"
                " const b = document.getElementById('ticket-back').getBoundingClientRect();"
                " return [h.top, h.bottom, t.top, b.bottom, innerHeight]; })()"
            )
            header_top, header_bottom, ticket_top, back_bottom, height = box
            assert header_top == 0 and header_bottom > 0, size
            assert ticket_top >= header_bottom - 0.5, (size, box)  # below the header
            assert back_bottom <= height + 0.5, (size, box)  # its buttons on the screen


def test_each_resident_starts_afresh(live_server: LiveServer, browser: Page) -> None:
    kiosk = browser
    kiosk.goto(_kiosk_link(live_server))
    kiosk.wait_for(f"!!{TAKE}", timeout=15)
    first = kiosk.eval("document.documentElement.lang")
    # A resident picks English and the priority button, takes a number, and goes back.
    kiosk.click("#kiosk-languages button:nth-child(2)")
    kiosk.click("#kiosk-priority")
    chosen = kiosk.eval("document.documentElement.lang")
    assert chosen != first
    assert (
        kiosk.eval("document.getElementById('kiosk-priority').getAttribute('aria-pressed')")
        == "true"
    )
    _take_a_number(kiosk)
    kiosk.click("#ticket-back")
    kiosk.wait_for("!document.getElementById('kiosk-home').hidden")
    assert kiosk.eval("document.documentElement.lang") == first
    assert (
        kiosk.eval("document.getElementById('kiosk-priority').getAttribute('aria-pressed')")
        == "false"
    )
    # The next resident picks a language on the start page and walks away.
    kiosk.eval("window.signageKiosk.state.idleMs = 300")
    kiosk.click("#kiosk-languages button:nth-child(2)")
    assert kiosk.eval("document.documentElement.lang") == chosen
    kiosk.wait_for(f"document.documentElement.lang === '{first}'", timeout=5)
