"""Alerts across two `signage serve` processes on one Redis hub: an alert raised on one
process reaches a player connected to the other at once (with a higher revision than the
empty list it was sent on connect), and the first process's fleet view shows that
player's acknowledgement."""

from __future__ import annotations

import contextlib
import json
import time

from .procs import Processes, csrf_token, login
from .test_hub_processes import Player, _demo, pytestmark  # noqa: F401 (same conditions)
from .test_redis_hub import RedisServer, redis_server  # noqa: F401 (the fixture)


def test_an_alert_raised_on_one_process_reaches_a_player_on_the_other(
    processes: Processes,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    a = processes.serve(HUB_URL=redis_server.url)
    b = processes.serve(HUB_URL=redis_server.url)
    passwords, _, _, tokens = _demo(processes)
    player = Player(tokens[0])
    try:
        welcome = player.connect(b.port)
        screen = welcome["screen"]["id"]
        player.next("manifest")
        on_connect = player.next("alerts")  # always sent: none shows yet
        assert on_connect["alerts"] == []
        with contextlib.closing(login(a.url, "admin", passwords["admin"])) as staff:
            sent = staff.post(
                "/alerts/new",
                data={
                    "template": "evacuation",
                    "level": "extreme",
                    "place": "駐車場 / Car park",
                    "targets": "screens",
                    "screen_ids": str(screen),
                    "expires_minutes": "30",
                    "drill": "1",
                    "step": "send",
                    "csrf_token": csrf_token(staff, "/alerts/new"),
                },
            )
            assert sent.status_code == 303, sent.text[-500:]
            message = player.next("alerts", timeout=1.0)
            assert message["revision"] > on_connect["revision"]
            alerts = message["alerts"]
            assert [a["mode"] for a in alerts] == ["takeover"] and alerts[0]["drill"] is True
            assert player.ws is not None
            player.ws.send(json.dumps({"type": "alert_ack", "ids": [alerts[0]["id"]]}))
            deadline = time.monotonic() + 10
            while True:
                row = staff.get("/fleet").text.split(f'data-screen="{screen}"', 1)[1]
                cell = row.split("</tr>", 1)[0].split('class="alerts"', 1)[1]
                if 'class="status status-approved"' in cell:
                    break
                assert time.monotonic() < deadline, "A's fleet view never saw B's player's ack"
                time.sleep(0.3)
    finally:
        player.close()
