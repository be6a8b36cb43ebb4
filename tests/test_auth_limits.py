"""The password limits hold under parallel requests against the real server."""

from __future__ import annotations

import re
import threading

import httpx2 as httpx

from .conftest import STAFF_PASSWORD, LiveServer

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
_PARALLEL = 40


def _client(server: LiveServer, page: str, cookies: httpx.Cookies | None = None) -> httpx.Client:
    client = httpx.Client(base_url=server.url, follow_redirects=False, timeout=60, cookies=cookies)
    match = _TOKEN.search(client.get(page).text)
    assert match, page
    client.headers["x-csrf-token"] = match.group(1)
    return client


def _all_at_once(clients: list[httpx.Client], path: str, forms: list[dict[str, str]]) -> list[int]:
    statuses = [0] * len(clients)
    start = threading.Barrier(len(clients))

    def send(i: int) -> None:
        start.wait()
        statuses[i] = clients[i].post(path, data=forms[i]).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_parallel_guesses_never_pass_the_login_limit(live_server: LiveServer) -> None:
    made = live_server.cli("create-admin", "chief", "--password-stdin", stdin=STAFF_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    clients = [_client(live_server, "/login") for _ in range(_PARALLEL)]
    forms = [{"username": "chief", "password": f"guess {i}"} for i in range(_PARALLEL)]
    try:
        statuses = _all_at_once(clients, "/login", forms)
    finally:
        for client in clients:
            client.close()
    # Only as many passwords as the limit allows (5) are ever checked ...
    assert len([s for s in statuses if s != 429]) <= 5, statuses
    assert set(statuses) <= {401, 429}
    # ... so the right one, guessed next (the probe's 37th), never gets in. (A right
    # password among the first five would log in and rightly start the count afresh.)
    late = _client(live_server, "/login")
    answer = late.post("/login", data={"username": "chief", "password": STAFF_PASSWORD})
    late.close()
    assert answer.status_code == 429


def test_parallel_guesses_of_the_current_password_are_limited(live_server: LiveServer) -> None:
    made = live_server.cli("create-admin", "chief", "--password-stdin", stdin=STAFF_PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    owner = _client(live_server, "/login")
    logged_in = owner.post("/login", data={"username": "chief", "password": STAFF_PASSWORD})
    assert logged_in.status_code == 303
    clients = [_client(live_server, "/account", owner.cookies) for _ in range(_PARALLEL)]
    forms = [
        {"current_password": f"guess {i}", "new_password": "an attacker's new password"}
        for i in range(_PARALLEL)
    ]
    statuses = _all_at_once(clients, "/account", forms)
    assert len([s for s in statuses if s != 429]) <= 5, statuses
    assert set(statuses) <= {422, 429}
    # Past the limit even the right current password changes nothing.
    late = _client(live_server, "/account", owner.cookies)
    answer = late.post(
        "/account",
        data={"current_password": STAFF_PASSWORD, "new_password": "an attacker's new password"},
    )
    assert answer.status_code == 429
    assert "試行回数が多すぎます" in answer.text
    for client in [owner, late, *clients]:
        client.close()
