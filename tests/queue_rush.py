"""A rush at the demo city hall's counters, for the end-to-end queue tests: tickets from
the kiosk API, then 12 calls from the 3 counter consoles at once (real HTTP requests as
htmx sends them), each counter pressing its buttons as fast as the server answers."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx

from .conftest import LiveServer

# What each counter presses, in order: counters 1 and 2 move on four times; counter 3
# moves on once and then calls its resident again twice.
PLAN = {
    1: ("next", "next", "next", "next"),
    2: ("next", "next", "next", "next"),
    3: ("next", "next", "recall", "recall"),
}


@dataclass(frozen=True)
class Demo:
    stdout: str
    password: str
    kiosk: str  # the kiosk's token
    consoles: dict[int, str]  # counter number -> its console's address
    players: dict[str, str]  # screen name -> its provisioning link

    def token(self, screen: str) -> str:
        return self.players[screen].rsplit("#token=", 1)[1]


@dataclass(frozen=True)
class Made:
    counter: int
    action: str
    label: str  # the counter's ticket once the press was answered
    at: float  # time.time() when the answer came back (the call had gone out)


def load_demo(server: LiveServer) -> Demo:
    loaded = server.cli("load-demo")
    assert loaded.returncode == 0, loaded.stderr
    out = loaded.stdout
    password = re.search(r"suzuki\s+(\S+)", out)
    kiosk = re.search(r"/kiosk/#token=([A-Za-z0-9_-]+)", out)
    consoles = re.findall(r"Counter console \S+ ?\S* \(log in as suzuki\): (\S+/counter/\d+)", out)
    players = dict(re.findall(r"^\s+(\S+ ?\S*): (http://\S+/player/#token=\S+)$", out, re.M))
    assert password and kiosk and len(consoles) == 3 and len(players) >= 3, out
    # The demo lists its counters in order of their numbers (1, 2, 3).
    return Demo(
        out,
        password.group(1),
        kiosk.group(1),
        {i + 1: url for i, url in enumerate(consoles)},
        players,
    )


def issue(server: LiveServer, demo: Demo, prefixes: str) -> None:
    """Tickets from the kiosk, one per letter of `prefixes` (their numbers are spoken)."""
    headers = {"Authorization": f"Bearer {demo.kiosk}"}
    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as kiosk:
        services = {s["prefix"]: s["id"] for s in kiosk.get("/api/kiosk/setup").json()["services"]}
        for prefix in prefixes:
            made = kiosk.post("/api/kiosk/tickets", json={"service": services[prefix]})
            assert made.status_code == 201, made.text


def wait_for_clips(server: LiveServer, count: int, within: float = 120) -> None:
    """Wait until the server has `count` voice clips (the issued numbers are spoken in the
    background, as at a city hall, where tickets are taken minutes before their call)."""
    folder = Path(server.env["SIGNAGE_DATA_DIR"]) / "media" / "voice"
    deadline = time.monotonic() + within
    while len([f for f in folder.glob("*.wav") if not f.name.startswith("chime-")]) < count:
        assert time.monotonic() < deadline, f"fewer than {count} clips in {folder}"
        time.sleep(0.2)


def _clerk(server: LiveServer, demo: Demo) -> httpx.Client:
    clerk = httpx.Client(base_url=server.url, timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', clerk.get("/login").text)
    assert csrf
    clerk.post("/login", data={"username": "suzuki", "password": demo.password,
                               "csrf_token": csrf.group(1)})  # fmt: skip
    return clerk


def rush(server: LiveServer, demo: Demo) -> list[Made]:
    """The 12 calls of PLAN, the three counters at once; what each press left on screen."""
    made: list[Made] = []
    failures: list[str] = []
    clerks = {number: _clerk(server, demo) for number in PLAN}
    tokens = {}
    for number, clerk in clerks.items():
        page = clerk.get(demo.consoles[number]).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token, page[-300:]
        tokens[number] = token.group(1)
    start = threading.Barrier(len(PLAN))

    def counter(number: int) -> None:
        clerk = clerks[number]
        start.wait()
        for action in PLAN[number]:
            answer = clerk.post(
                f"{demo.consoles[number]}/{action}",
                data={"csrf_token": tokens[number]},
                headers={"HX-Request": "true"},
            )
            label = re.search(r'data-ticket="([^"]+)"', answer.text)
            if answer.status_code != 200 or label is None:
                failures.append(f"counter {number} {action}: {answer.status_code}")
                return
            made.append(Made(number, action, label.group(1), time.time()))

    threads = [threading.Thread(target=counter, args=(n,)) for n in PLAN]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for clerk in clerks.values():
        clerk.close()
    assert not failures, failures
    assert len(made) == sum(len(p) for p in PLAN.values())
    return sorted(made, key=lambda m: m.at)


def latest(made: list[Made]) -> dict[int, Made]:
    """Each counter's last call."""
    return {m.counter: m for m in made}
