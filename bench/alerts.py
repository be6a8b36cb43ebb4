"""Alerts: time from the POST of a CAP or JMA document, or of a staff member's "send"
of a manual alert, to the last of N connected players receiving the alert, against
websockets' own broadcast() in the same run.

Each server runs in its own process (bench/_players.py): `ours` is the real app under
uvicorn with the production websocket options, on a temporary SQLite database with N
paired screens at one site, a rules file naming that site and an API token; `bare` is
`websockets.asyncio.server.serve()` + `broadcast()`. N real players connect from this
process and say hello. Then each round:

- ours, CAP: `POST /api/v1/alerts/cap` with a severe CAP 1.2 alert (then a Cancel, also
  timed): parsed, mapped by the rules, stored by the alerts service, and sent to every
  screen as the `alerts` state message;
- ours, JMA: `POST /api/v1/alerts/jma` with a VXSE53 report of intensity 5+ in the
  site's municipality (then its 取消);
- ours, manual: a publisher signed in through the login form (a real session cookie and
  CSRF token) fills the alert form and posts it for its preview, as a browser does (not
  timed); then the POST of the preview's "send to N screens" form, with its hidden fields
  (the CSRF token and the one-time request id), is timed; then "end the alert" from the
  alerts list (`POST /alerts/<id>/clear`), also timed;
- bare: one broadcast() of a message of the same size, started by an HTTP request.

The time is from sending the request to the moment the last player has the message;
p50 and p99 over the rounds (nearest rank), and the ratio ours/bare. Players here are
websocket clients: what a browser needs to draw it is not counted (tests/
test_browser_alert_feeds.py checks that a real browser shows it within a second).

    .venv/bin/python bench/alerts.py [--n 1000] [--rounds 20]

Bounded: every wait for the players has a time limit (bench/_players.py), and it talks
only to servers it started on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _players import (
    Player,
    ServerProcess,
    Tally,
    connect_all,
    finish,
    free_port,
    make_database,
    percentile,
    print_server_logs,
    raise_nofile,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.alerts_docs import doc  # the test documents, filled in

RULES = """
[[sites]]
code = "bench"
municipality = "1310100"
earthquake_areas = ["350"]
cap_geocodes = ["JIS=13101"]
"""


async def http(port: int, method: str, path: str, body: bytes = b"", token: str = "") -> int:
    """A plain HTTP/1.1 request on a fresh connection; the status code."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/xml\r\nContent-Length: {len(body)}\r\n"
        + (f"Authorization: Bearer {token}\r\n" if token else "")
        + "\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    data = await reader.read()
    writer.close()
    return int(data.split(b" ", 2)[1])


def add_token(url: str) -> str:
    import sqlalchemy as sa

    from signage.api_tokens import token_hash
    from signage.db import create_sync_engine
    from signage.models import ApiToken

    token = secrets.token_urlsafe(32)
    engine = create_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(ApiToken).values(name="bench", token_hash=token_hash(token)))
    engine.dispose()
    return token


PUBLISHER, PASSWORD = "bench-publisher", "bench-password-123"
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
CLEAR = re.compile(r'action="(/alerts/\d+/clear)"')
MANUAL = [
    ("template", "evacuation"),
    ("level", "extreme"),
    ("place", "駐車場 / Car park"),
    ("floor", ""),
    ("time", ""),
    ("targets", "all"),
    ("expires_minutes", "30"),
]


def add_publisher(url: str) -> None:
    import sqlalchemy as sa

    from signage import auth
    from signage.db import create_sync_engine, utcnow
    from signage.models import Role, User

    now = utcnow()
    engine = create_sync_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(User).values(
                username=PUBLISHER, display_name="Bench", role=Role.PUBLISHER.value,
                password_hash=auth.hash_password(PASSWORD), language="en", active=True,
                created_at=now, password_changed_at=now,
            )
        )  # fmt: skip
    engine.dispose()


class Browser:
    """A staff member's browser, as far as the server can tell: one HTTP/1.1 request per
    connection, its cookies, the Origin header on POSTs, forms posted url-encoded."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.cookies: dict[str, str] = {}

    async def request(
        self, method: str, path: str, form: list[tuple[str, str]] | None = None
    ) -> tuple[int, str]:
        from urllib.parse import urlencode

        body = urlencode(form or []).encode()
        origin = f"http://127.0.0.1:{self.port}"
        head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{self.port}", "Connection: close"]
        if self.cookies:
            head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        if method == "POST":
            head += [
                f"Origin: {origin}",
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
            ]
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        data = await reader.read()
        writer.close()
        raw_head, _, raw_body = data.partition(b"\r\n\r\n")
        lines = raw_head.decode("latin-1").split("\r\n")
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.lower() == "set-cookie":
                key, _, rest = value.strip().partition("=")
                self.cookies[key] = rest.split(";", 1)[0]
        return int(lines[0].split(" ", 2)[1]), raw_body.decode("utf-8", "replace")

    async def hidden(self, path: str) -> list[tuple[str, str]]:
        status, page = await self.request("GET", path)
        assert status == 200, (path, status)
        return [(k, html.unescape(v)) for k, v in HIDDEN.findall(page)]

    async def login(self) -> None:
        fields = await self.hidden("/login")
        form = [*fields, ("username", PUBLISHER), ("password", PASSWORD)]
        status, page = await self.request("POST", "/login", form)
        assert status == 303, (status, page[-300:])

    async def preview(self, drill: bool) -> list[tuple[str, str]]:
        """Fill the form and post it for the preview (as the browser does); the fields of
        the preview's "send" form."""
        fields = [(k, v) for k, v in await self.hidden("/alerts/new") if k != "step"]
        form = fields + MANUAL + [("step", "preview")] + ([("drill", "1")] if drill else [])
        status, page = await self.request("POST", "/alerts/new", form)
        assert status == 200 and "request_id" in page, (status, page[-300:])
        return [(k, html.unescape(v)) for k, v in HIDDEN.findall(page)] + [("step", "send")]

    async def send(self, fields: list[tuple[str, str]]) -> int:
        status, page = await self.request("POST", "/alerts/new", fields)
        assert status == 303, (status, page[-300:])
        return status

    async def clear_form(self) -> tuple[str, list[tuple[str, str]]]:
        status, page = await self.request("GET", "/alerts")
        assert status == 200, status
        action = CLEAR.search(page)
        assert action is not None, "no open alert to end"
        token = [(k, html.unescape(v)) for k, v in HIDDEN.findall(page) if k == "csrf_token"]
        return action.group(1), token[:1]

    async def clear(self, action: str, fields: list[tuple[str, str]]) -> int:
        status, page = await self.request("POST", action, fields)
        assert status == 303, (status, page[-300:])
        return status


async def _timed(tally: Tally, kind: str, goal: int, start: object) -> float:
    started = time.perf_counter()
    status = await start  # type: ignore[misc]
    assert status in (200, 202, 303), status
    await tally.reach(kind, goal)
    return (tally.last[kind] - started) * 1000


async def main(n: int, rounds: int) -> None:
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        folder = Path(tmp)
        url, tokens = make_database(folder, n)
        api_token = add_token(url)
        add_publisher(url)
        rules = folder / "alert_rules.toml"
        rules.write_text(RULES, encoding="utf-8")
        results: dict[str, list[float]] = {"bare": [], "cap": [], "cap cancel": [],
                                           "jma": [], "jma 取消": [], "manual": [],
                                           "manual clear": []}  # fmt: skip

        bare = ServerProcess("bare", free_port(), folder / "bare.log")
        await bare.start()
        tally = Tally()
        tasks = await connect_all(
            [Player(f"ws://127.0.0.1:{bare.port}/player/ws", t, tally) for t in tokens], tally
        )
        for _ in range(rounds):
            goal = tally.counts["event"] + n
            results["bare"].append(
                await _timed(tally, "event", goal, http(bare.port, "GET", "/bench/publish"))
            )
        await bare.stop()
        await finish(tasks)

        ours = ServerProcess(
            "ours", free_port(), folder / "ours.log", database_url=url, data_dir=str(folder),
            alert_rules=str(rules),
        )  # fmt: skip
        await ours.start()
        tally = Tally()
        # Each player is sent the screen's alerts right after the welcome: counted before
        # the rounds start.
        tasks = await connect_all(
            [Player(f"ws://127.0.0.1:{ours.port}/player/ws", t, tally) for t in tokens],
            tally,
            kind="alerts",
        )
        staff = Browser(ours.port)
        await staff.login()
        for k in range(rounds):
            now = datetime.now(UTC)
            cap = doc("cap_severe.xml", now).replace(b"CITY-2026-0001", f"B{k}".encode())
            cancel = (
                doc("cap_cancel.xml", now)
                .replace(b"CITY-2026-0003", f"C{k}".encode())
                .replace(b"CITY-2026-0002", f"B{k}".encode())
            )
            event = f"{20261202000000 + k}"
            jma = doc("vxse53.xml", now - timedelta(seconds=1), EVENT=event)
            gone = doc("vxse53.xml", now, EVENT=event, SERIAL="2", INFOTYPE="取消")
            for name, path, body in (
                ("cap", "/api/v1/alerts/cap", cap),
                ("cap cancel", "/api/v1/alerts/cap", cancel),
                ("jma", "/api/v1/alerts/jma", jma),
                ("jma 取消", "/api/v1/alerts/jma", gone),
            ):
                goal = tally.counts["alerts"] + n
                post = http(ours.port, "POST", path, body, api_token)
                results[name].append(await _timed(tally, "alerts", goal, post))
            fields = await staff.preview(drill=k % 2 == 1)
            goal = tally.counts["alerts"] + n
            results["manual"].append(await _timed(tally, "alerts", goal, staff.send(fields)))
            action, token = await staff.clear_form()
            goal = tally.counts["alerts"] + n
            results["manual clear"].append(
                await _timed(tally, "alerts", goal, staff.clear(action, token))
            )
        await ours.stop()
        await finish(tasks)

        base = percentile(results["bare"], 0.5), percentile(results["bare"], 0.99)
        print(f"Alerts: POST to the last of {n} players, {rounds} rounds (ms)")
        print(f"{'':<12} {'p50':>7} {'p99':>7} {'p50/bare':>9} {'p99/bare':>9}")
        for name, values in results.items():
            p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
            print(
                f"{name:<12} {p50:>7.1f} {p99:>7.1f} {p50 / base[0]:>8.1f}x {p99 / base[1]:>8.1f}x"
            )
        print_server_logs(folder)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    asyncio.run(main(args.n, args.rounds))
    print(f"took {time.perf_counter() - started:.0f} s")
