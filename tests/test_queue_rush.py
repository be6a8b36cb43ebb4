"""A rush at the counters, seen by a real player socket: boards keep up and a call its
counter has already moved past goes out without sound (signage/queue/announcer.py)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from .conftest import LiveServer
from .queue_rush import issue, latest, load_demo, rush


def test_boards_keep_up_in_a_rush_and_moved_past_calls_are_not_spoken(
    live_server: LiveServer,
) -> None:
    demo = load_demo(live_server)
    issue(live_server, demo, "AAAAAABBBBCC")
    received: list[tuple[float, dict[str, Any]]] = []
    url = live_server.url.replace("http", "ws", 1) + "/player/ws"
    with connect(url, max_size=2**25) as socket:
        socket.send(json.dumps({
            "type": "hello", "token": demo.token("1階 呼び出し表示"), "protocol": 1,
            "epoch": None, "seq": 0, "manifest_version": 0,
            "player": {"kind": "headless", "version": "test"},
        }))  # fmt: skip

        def listen() -> None:
            try:
                for raw in socket:
                    received.append((time.time(), json.loads(raw)))
            except ConnectionClosed:
                pass

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        deadline = time.monotonic() + 15
        while not any(m["type"] == "queue" for _, m in received):
            assert time.monotonic() < deadline, "no board"
            time.sleep(0.05)

        made = rush(live_server, demo)
        last = latest(made)
        assert made[-1].at - made[0].at < 3, "the rush took too long to be one"
        time.sleep(1.5)
        events = [m["event"] for _, m in received if m["type"] == "event"]
        deadline = time.monotonic() + 60
        while len(events) < len(made):  # every call goes out (a few may wait for clips)
            assert time.monotonic() < deadline, events
            time.sleep(0.1)
            events = [m["event"] for _, m in received if m["type"] == "event"]
        socket.close()
        listener.join(5)

    # Each counter's latest call is on the board within a second of being made.
    boards = [(at, m["board"]) for at, m in received if m["type"] == "queue"]
    for number, call in last.items():
        shown = [
            at
            for at, board in boards
            if any(c["number"] == number and c["current"] == call.label for c in board["counters"])
        ]
        assert shown, f"counter {number}'s {call.label} never reached the board"
        assert shown[0] - call.at < 1.0, (number, call.label, shown[0] - call.at)

    # Every call goes out once, in order; the latest of each counter with its sound, and
    # one that its counter had moved past by then without.
    assert len(events) == len(made)
    for number, call in last.items():
        mine = [e for e in events if e["counter"] == number]
        assert mine[-1]["label"] == call.label and mine[-1]["audio"], mine[-1]
        for event in mine[:-1]:
            if not event["audio"]:
                assert event["texts"] == {}
