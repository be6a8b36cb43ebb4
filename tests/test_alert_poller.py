"""Polling Atom feeds of alerts (signage/alerts/feeds.py) from real HTTP servers on
127.0.0.1: only the configured feed URL and documents on its host are requested, a
redirect to another host is not followed, an entry is read once, and what the feed's
documents say reaches the alerts service as a posted one would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from content.alerts.rules import Feed, RulesError, rules_from
from signage.alerts.feeds import FeedPoller, FetchRefused, _origin, fetch
from signage.app import create_app
from signage.jobs import Jobs
from signage.models import Alert
from signage.settings import Settings

from .alerts_docs import doc
from .conftest import add_site


@dataclass
class Site:
    """A small web server: path -> (status, headers, body); it logs each path asked."""

    pages: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    port: int = 0


@pytest.fixture
def web() -> Iterator[tuple[Site, Site]]:
    servers = []
    sites = (Site(), Site())
    for site in sites:

        class Handler(BaseHTTPRequestHandler):
            served = site

            def do_GET(self) -> None:
                self.served.asked.append(self.path)
                status, headers, body = self.served.pages.get(self.path, (404, {}, b""))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        site.port = server.server_address[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield sites
    for server in servers:
        server.shutdown()
        server.server_close()


def atom(*entries: tuple[str, str]) -> bytes:
    items = "".join(
        f"<entry><id>{i}</id><title>t</title><updated>2026-12-02T05:00:00Z</updated>"
        f'<link type="application/xml" href="{href}"/></entry>'
        for i, href in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        f"<title>高頻度（地震火山）</title><id>urn:feed</id>{items}</feed>"
    ).encode()


def test_the_poller_reads_its_feed_once_and_never_another_host(
    settings: Settings, db: sa.Engine, web: tuple[Site, Site]
) -> None:
    home, other = web
    # The other host is the same machine under another name: a different origin.
    elsewhere = f"http://localhost:{other.port}/evil.xml"
    other.pages["/evil.xml"] = (200, {}, doc("vxse51.xml"))
    home.pages["/eq.xml"] = (200, {}, doc("vxse53.xml", datetime.now(UTC) - timedelta(seconds=5)))
    home.pages["/moved"] = (302, {"location": elsewhere}, b"")
    home.pages["/feed.xml"] = (200, {}, atom(
        ("urn:3", "/moved"), ("urn:2", elsewhere), ("urn:1", "/eq.xml"),
    ))  # fmt: skip
    add_site(db, "honcho")
    rules = rules_from({
        "sites": [{"code": "honcho", "municipality": "1310100"}],
        "feeds": [{"url": f"http://127.0.0.1:{home.port}/feed.xml", "kind": "jma"}],
    })  # fmt: skip
    app = create_app(settings, scheduler=False)
    with TestClient(app) as client:
        poller = FeedPoller(app.state.db, rules)
        assert client.portal is not None
        assert client.portal.call(poller.poll_all) == 1
        assert client.portal.call(poller.poll_all) == 0  # nothing new
    assert home.asked == ["/feed.xml", "/eq.xml", "/moved", "/feed.xml"]
    assert other.asked == []
    with db.connect() as conn:
        [(identifier, state)] = conn.execute(sa.select(Alert.identifier, Alert.state)).all()
    assert identifier.startswith("jma:earthquake:20261202140000:VXSE53:")
    assert state == "active"


def test_fetch_refuses_other_hosts_and_big_answers(web: tuple[Site, Site]) -> None:
    home, other = web
    home.pages["/big"] = (200, {}, b"x" * 2000)
    origin = _origin(f"http://127.0.0.1:{home.port}/feed.xml")
    with pytest.raises(FetchRefused, match="size limit"):
        fetch(f"http://127.0.0.1:{home.port}/big", origin, max_bytes=1000)
    with pytest.raises(FetchRefused, match="not on the feed's host"):
        fetch(f"http://127.0.0.1:{other.port}/big", origin)
    assert other.asked == []


def test_the_feeds_of_the_rules_file(settings: Settings, tmp_path: Path) -> None:
    rules = rules_from({"feeds": [{"url": "https://feeds.example.jp/eq.xml", "kind": "jma",
                                   "every_seconds": 30}]})  # fmt: skip
    assert rules.feeds == (Feed("https://feeds.example.jp/eq.xml", "jma", 30),)
    for bad, key in [
        ({"url": "ftp://x/feed", "kind": "jma"}, "feeds[0].url"),
        ({"url": "https://x/feed", "kind": "rss"}, "feeds[0].kind"),
        ({"url": "https://x/feed", "kind": "cap", "every_seconds": 1}, "feeds[0].every_seconds"),
        ({"url": "https://x/feed", "kind": "cap", "proxy": "y"}, "unknown key 'proxy'"),
    ]:
        with pytest.raises(RulesError, match=key.replace("[", r"\[").replace("]", r"\]")):
            rules_from({"feeds": [bad]})
    # With feeds, the jobs poll them at the shortest interval.
    app = create_app(settings, scheduler=False)
    jobs = Jobs(
        app.state.db, app.state.policy, "Asia/Tokyo", media_dir=tmp_path,
        poller=FeedPoller(app.state.db, rules),
    )  # fmt: skip
    job = jobs.scheduler.get_job("alert_feeds")
    assert job is not None and job.trigger.interval == timedelta(seconds=30)
    plain = Jobs(app.state.db, app.state.policy, "Asia/Tokyo", media_dir=tmp_path)
    assert plain.scheduler.get_job("alert_feeds") is None
