"""A create form acts once: a double click, a re-posted form or a second window sending
the same form creates nothing the second time and answers as the first did."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.models import QueueSite, Role

from .conftest import add_site, add_user, csrf_token, login
from .test_notices import NOTICE
from .test_scheduling import _playlist

REQUEST_ID = re.compile(r'name="request_id" value="([A-Za-z0-9_-]+)"')
HX = {"HX-Request": "true"}


def _count(db: sa.Engine, table: str) -> int:
    with db.connect() as conn:
        return int(conn.scalar(sa.text(f"SELECT count(*) FROM {table}")))  # noqa: S608


def _queue_site(db: sa.Engine, site_id: int) -> None:
    with db.begin() as conn:
        conn.execute(
            sa.insert(QueueSite).values(
                site_id=site_id, opens_at="00:00", closes_at="23:59", normal_per_priority=3,
                noshow_after_recalls=1, highlight_seconds=10, voice_languages="ja",
                normal_since_priority=0,
            )
        )  # fmt: skip


# (page with the form, where it posts, the form's fields, the table it adds a row to)
Case = tuple[str, str, dict[str, object], str]


def _cases(client: TestClient, db: sa.Engine, site_id: int) -> dict[str, Callable[[], Case]]:
    def playlist_item() -> Case:
        playlist_id = _playlist(client, "いつもの", [])
        page = f"/playlists/{playlist_id}"
        data = {"kind": "ticker", "text": "本日は混雑しています", "duration_seconds": "10"}
        return page, f"{page}/items", data, "playlist_items"

    def service() -> Case:
        _queue_site(db, site_id)
        page = f"/queue/{site_id}"
        data = {"prefix": "A", "name": "住民票", "open": "1"}
        return page, f"{page}/services", data, "queue_services"

    return {
        "site": lambda: (
            "/sites", "/sites",
            {"code": "minami", "name": "南支所", "timezone": "Asia/Tokyo",
             "languages": ["ja", "en"], "active": "1"},
            "sites",
        ),
        "user": lambda: (
            "/users", "/users",
            {"username": "yamada", "display_name": "山田", "password": "a good long secret",
             "role": "editor", "site_id": str(site_id), "language": "ja", "active": "1"},
            "users",
        ),
        "notice": lambda: (
            "/notices/new", "/notices/new", {**NOTICE, "action": "draft"}, "notices"
        ),
        "playlist": lambda: (
            "/playlists", "/playlists", {"name": "朝", "site_id": str(site_id)}, "playlists"
        ),
        "playlist item": playlist_item,
        "screen": lambda: (
            "/screens", "/screens",
            {"name": "1F ロビー", "site_id": str(site_id), "layout": "hall", "groups": ""},
            "screens",
        ),
        "closure": lambda: (
            "/closures", "/closures",
            {"site_id": str(site_id), "day": "2026-12-29", "reason": "年末"},
            "closures",
        ),
        "service": service,
    }  # fmt: skip


CASES = ["site", "user", "notice", "playlist", "playlist item", "screen", "closure", "service"]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize("case", CASES)
def test_a_create_form_sent_twice_creates_once(
    client: TestClient, db: sa.Engine, case: str, htmx: bool
) -> None:
    site_id = add_site(db)
    add_user(db, "admin", Role.ADMIN)
    login(client, "admin")
    page, path, data, table = _cases(client, db, site_id)[case]()
    html = client.get(page).text
    found = REQUEST_ID.search(html)
    assert found, f"the form on {page} has no request_id"
    form = {**data, "request_id": found.group(1), "csrf_token": csrf_token(client, page)}
    before = _count(db, table)
    # What htmx sends with a request: it says which page it was sent from.
    headers = {**HX, "HX-Current-URL": f"http://testserver{page}"} if htmx else {}
    first = client.post(path, data=form, headers=headers)
    assert first.status_code in (200, 204, 303), first.text[-500:]
    assert _count(db, table) == before + 1
    second = client.post(path, data=form, headers=headers)
    assert _count(db, table) == before + 1
    assert second.status_code in (204, 303)
    where = first.headers.get("location") or first.headers.get("hx-redirect")
    again = second.headers.get("location") or second.headers.get("hx-redirect")
    if where:
        assert again == where  # answers as the first did
    else:
        assert again == page  # the first answered with a fragment of this page
    # A new form (a new id) creates again: only the repeat is refused.
    if case in {"notice", "playlist item", "closure"}:
        form["request_id"] = REQUEST_ID.search(client.get(page).text).group(1)  # type: ignore[union-attr]
        if case == "closure":
            form["day"] = "2026-12-30"
        assert client.post(path, data=form, headers=headers).status_code in (200, 204, 303)
        assert _count(db, table) == before + 2


def test_console_issue_sent_twice_gives_one_ticket(client: TestClient, db: sa.Engine) -> None:
    site_id = add_site(db)
    _queue_site(db, site_id)
    add_user(db, "chief", Role.PUBLISHER)
    add_user(db, "clerk", Role.COUNTER, site_id=site_id)
    login(client, "chief")
    page = f"/queue/{site_id}"
    made = client.post(
        f"{page}/services",
        data={"prefix": "A", "name": "住民票", "open": "1", "csrf_token": csrf_token(client, page)},
    )
    assert made.status_code == 303
    service_id = re.findall(r'name="service_ids" value="(\d+)"', client.get(page).text)[0]
    counter = client.post(
        f"{page}/counters",
        data={"number": "3", "name": "3番", "service_ids": [service_id],
              "csrf_token": csrf_token(client, page)},
    )  # fmt: skip
    assert counter.status_code == 303
    counter_id = re.search(r'/queue/counters/(\d+)"', client.get(page).text).group(1)  # type: ignore[union-attr]
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "clerk")
    console = f"/counter/{counter_id}"
    html = client.get(console).text
    found = REQUEST_ID.search(html)
    assert found, "the console's issue form has no request_id"
    form = {"service_id": service_id, "request_id": found.group(1)}
    headers = {**HX, "X-CSRF-Token": csrf_token(client, console)}
    first = client.post(f"{console}/issue", data=form, headers=headers)
    second = client.post(f"{console}/issue", data=form, headers=headers)
    assert first.status_code == second.status_code == 200
    assert "A-001" in first.text and "A-001" in second.text
    assert _count(db, "tickets") == 1
