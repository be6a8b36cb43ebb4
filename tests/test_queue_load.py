"""Many kiosks issuing and many counters calling at once, against the real server (its
own process, real HTTP): every ticket is called at most once and none is lost. Runs on
SQLite and, in CI, on PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from collections import Counter

import httpx2 as httpx
import sqlalchemy as sa

from signage.models import Ticket

from .conftest import LiveServer, Staff

COUNTERS = 8
KIOSK_TAPS = 60


def _ids(html: str, name: str) -> list[int]:
    return [int(i) for i in re.findall(rf'name="{name}" value="(\d+)"', html)]


def test_concurrent_issuers_and_callers(
    live_server: LiveServer, staff: Staff, db: sa.Engine
) -> None:
    site_id = staff.site()
    page = f"/queue/{site_id}"
    staff.post(f"/queue/{site_id}/rules", {"opens_at": "00:00", "closes_at": "23:59",
               "normal_per_priority": "2", "noshow_after_recalls": "1",
               "highlight_seconds": "5"}, page=page)  # fmt: skip
    for prefix in ("A", "B"):
        staff.post(f"/queue/{site_id}/services", {"prefix": prefix, "name": f"窓口{prefix}",
                   "open": "1"}, page=page)  # fmt: skip
    services = _ids(staff.http.get(page).text, "service_ids")[:2]
    for number in range(1, COUNTERS + 1):
        staff.post(f"/queue/{site_id}/counters",
                   {"number": str(number), "service_ids": services}, page=page)  # fmt: skip
    kiosk_tokens = []
    for name in ("入口", "2階"):  # two kiosks: their requests are not in one line by the kiosk
        made = staff.http.post(
            f"/queue/{site_id}/kiosks", data={"name": name, "csrf_token": staff.token(page)}
        )
        found = re.search(r"#token=([A-Za-z0-9_-]+)", made.text)
        assert found
        kiosk_tokens.append(found.group(1))
    counters = sorted(
        {int(i) for i in re.findall(r"/queue/counters/(\d+)", staff.http.get(page).text)}
    )
    assert len(counters) == COUNTERS
    csrf = staff.token(f"/counter/{counters[0]}")
    cookies = dict(staff.http.cookies)

    async def scenario() -> tuple[list[str], list[str], Counter[int]]:
        issued: list[str] = []
        called: list[str] = []
        codes: Counter[int] = Counter()
        done_issuing = asyncio.Event()
        limits = httpx.Limits(max_connections=40)
        options = {"base_url": live_server.url, "timeout": 60, "limits": limits}
        async with (
            httpx.AsyncClient(**options) as kiosk,  # type: ignore[arg-type]
            httpx.AsyncClient(cookies=cookies, **options) as desk,  # type: ignore[arg-type]
        ):

            async def tap(n: int) -> None:
                headers = {"Authorization": f"Bearer {kiosk_tokens[n % 2]}"}
                # Every fifth tap is a double tap: the same request id twice at once.
                body = {"service": services[n % 2], "priority": n % 7 == 0,
                        "request_id": f"tap-{n:05d}"}  # fmt: skip
                taps = 2 if n % 5 == 0 else 1
                replies = await asyncio.gather(
                    *(
                        kiosk.post("/api/kiosk/tickets", json=body, headers=headers)
                        for _ in range(taps)
                    )
                )
                labels = {r.json()["ticket"]["label"] for r in replies}
                assert all(r.status_code in (200, 201) for r in replies), [r.text for r in replies]
                assert len(labels) == 1, labels  # one ticket for a double tap
                issued.extend(labels)

            async def issue_all() -> None:
                await asyncio.gather(*(tap(n) for n in range(KIOSK_TAPS)))
                done_issuing.set()

            async def counter(counter_id: int) -> None:
                hx = {"HX-Request": "true", "X-CSRF-Token": csrf}
                while True:
                    reply = await desk.post(f"/counter/{counter_id}/next", headers=hx)
                    codes[reply.status_code] += 1
                    if reply.status_code == 200:
                        label = re.search(r'data-ticket="([A-Z]+-\d+)"', reply.text)
                        assert label, reply.text[-300:]
                        called.append(label.group(1))
                    elif reply.status_code == 409:
                        if done_issuing.is_set():
                            return
                        await asyncio.sleep(0.05)
                    else:
                        raise AssertionError(f"{reply.status_code}: {reply.text[-300:]}")

            await asyncio.gather(issue_all(), *(counter(c) for c in counters))
        return issued, called, codes

    issued, called, codes = asyncio.run(scenario())
    assert len(issued) == KIOSK_TAPS and len(set(issued)) == KIOSK_TAPS
    duplicates = [label for label, n in Counter(called).items() if n > 1]
    assert duplicates == []  # no ticket was called twice
    assert sorted(called) == sorted(issued)  # and none was lost
    assert codes[500] == 0
    with db.connect() as conn:
        rows = conn.execute(sa.select(Ticket.label, Ticket.status, Ticket.counter_id)).all()
    assert len(rows) == KIOSK_TAPS
    # Each counter's last call is still at its counter; every other ticket was finished.
    statuses = Counter(status for _, status, _ in rows)
    assert statuses["waiting"] == 0
    assert statuses["called"] <= COUNTERS and statuses["called"] + statuses["done"] == KIOSK_TAPS
