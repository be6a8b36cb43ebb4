"""The queue through HTTP: set-up by a publisher, the kiosk's device endpoints, the
counter console with htmx, the resident's phone view, the printed ticket, statistics."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from PIL import Image
from starlette.testclient import TestClient

from signage.models import AuditEntry, QueueSite, Role, Ticket

from .conftest import add_site, add_user, csrf_token, login, post

HX = {"HX-Request": "true"}


@pytest.fixture
def site_id(db: sa.Engine) -> int:
    site = add_site(db)
    # Open all day, so the kiosk issues numbers whenever the test runs.
    with db.begin() as conn:
        conn.execute(
            sa.insert(QueueSite).values(
                site_id=site,
                opens_at="00:00",
                closes_at="23:59",
                normal_per_priority=3,
                noshow_after_recalls=1,
                highlight_seconds=10,
                voice_languages="ja,en",
                normal_since_priority=0,
            )
        )
    add_user(db, "chief", Role.PUBLISHER)
    add_user(db, "clerk", Role.COUNTER, site_id=site)
    return site


@pytest.fixture
def setup(client: TestClient, site_id: int) -> Iterator[dict[str, object]]:
    """Services A and B, counter 3 for both, and a kiosk, made through the set-up page."""
    login(client, "chief")
    page = f"/queue/{site_id}"
    for prefix, name, name_en in (("a", "住民票", "Resident registration"), ("B", "税", "Taxes")):
        made = post(
            client,
            f"/queue/{site_id}/services",
            {"prefix": prefix, "name": name, "name_en": name_en, "open": "1"},
            page,
        )
        assert made.status_code == 303
    html = client.get(page).text
    ids = [int(i) for i in re.findall(r'name="service_ids" value="(\d+)"', html)][:2]
    response = post(
        client,
        f"/queue/{site_id}/counters",
        {"number": "3", "name": "3番", "service_ids": ids},
        page,
    )
    assert response.status_code == 303
    made = post(client, f"/queue/{site_id}/kiosks", {"name": "1F 入口"}, page)
    link = re.search(r"/kiosk/#token=([A-Za-z0-9_-]+)", made.text)
    assert link, made.text[-800:]
    counter = re.search(r'/queue/counters/(\d+)"', client.get(page).text)
    assert counter
    yield {"token": link.group(1), "services": ids, "counter": int(counter.group(1))}


def kiosk(client: TestClient, token: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    response = client.post(
        "/api/kiosk/tickets", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    return response.status_code, response.json()


def test_setup_page_checks_its_input(client: TestClient, site_id: int, db: sa.Engine) -> None:
    login(client, "chief")
    page = f"/queue/{site_id}"
    bad = post(client, f"/queue/{site_id}/services", {"prefix": "A1", "name": ""}, page)
    assert bad.status_code == 422
    assert "capital letters" in bad.text or "大文字" in bad.text
    rules = post(
        client,
        f"/queue/{site_id}/rules",
        {"opens_at": "17:00", "closes_at": "08:30", "normal_per_priority": "3",
         "noshow_after_recalls": "2", "highlight_seconds": "10", "voice_languages": ["ja", "xx"]},
        page,
    )  # fmt: skip
    assert rules.status_code == 422
    with db.connect() as conn:
        assert conn.scalar(sa.select(QueueSite.opens_at)) == "00:00"
        assert conn.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
    # Editors and counter staff cannot change the set-up.
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "clerk")
    assert client.get(page).status_code == 403


def test_kiosk_issues_one_ticket_per_tap_and_refuses_bad_input(
    client: TestClient, setup: dict[str, object], db: sa.Engine
) -> None:
    token = str(setup["token"])
    services = setup["services"]
    assert isinstance(services, list)
    info = client.get("/api/kiosk/setup", headers={"Authorization": f"Bearer {token}"}).json()
    assert [s["prefix"] for s in info["services"]] == ["A", "B"]
    assert info["open"] is True and "ja" in info["texts"]
    status, first = kiosk(client, token, {"service": services[0], "request_id": "tap-0001"})
    again, repeat = kiosk(client, token, {"service": services[0], "request_id": "tap-0001"})
    assert (status, again) == (201, 200)
    assert first["ticket"]["label"] == repeat["ticket"]["label"] == "A-001"  # type: ignore[index]
    _, second = kiosk(client, token, {"service": services[0], "priority": True,
                                      "language": "vi", "request_id": "tap-0002"})  # fmt: skip
    assert second["ticket"]["label"] == "A-002"  # type: ignore[index]
    assert second["ticket"]["ahead"] == 1  # type: ignore[index]
    for body, code in [
        ({"service": services[0]}, 401),  # no token: checked below with a wrong one
        ({"service": "A"}, 422),
        ({"service": services[0], "language": "xx"}, 422),
        ({"service": 999999}, 404),  # missing, like another site's
        ({"service": services[0], "request_id": "<script>"}, 422),
    ]:
        headers = {"Authorization": "Bearer " + ("x" * 40 if code == 401 else token)}
        response = client.post("/api/kiosk/tickets", json=body, headers=headers)
        assert response.status_code == code, (body, response.text)
        assert response.json()["error"]
    broken = client.post(
        "/api/kiosk/tickets",
        content=b"{not json",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    assert broken.status_code == 400
    with db.connect() as conn:
        assert conn.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
        actors = set(conn.scalars(sa.select(AuditEntry.actor).where(
            AuditEntry.action == "ticket.issue")))  # fmt: skip
    assert actors == {"kiosk:1F 入口"}


def test_phone_view_ticket_image_and_qr(client: TestClient, setup: dict[str, object]) -> None:
    services = setup["services"]
    assert isinstance(services, list)
    _, made = kiosk(client, str(setup["token"]), {"service": services[1], "language": "en"})
    ticket = made["ticket"]
    assert isinstance(ticket, dict)
    public_path = ticket["url"].split("/", 3)[3]
    page = client.get("/" + public_path)
    assert page.status_code == 200
    assert "B-001" in page.text and "0 ahead of you" in page.text
    assert client.get("/" + public_path + "?lang=ja").text.count("あなたの前に0人") == 1
    image = client.get(ticket["image"] + "?paper=58")
    assert image.headers["content-type"] == "image/png"
    printed = Image.open(io.BytesIO(image.content))
    assert printed.width == 384 and printed.height > 384 and printed.mode == "1"
    assert Image.open(io.BytesIO(client.get(ticket["image"]).content)).width == 576
    svg = client.get(ticket["qr"])
    assert svg.headers["content-type"].startswith("image/svg+xml") and b"<svg" in svg.content
    forged = client.get("/q/not-a-real-ticket-id")
    assert forged.status_code == 404 and "cannot be found" not in forged.text  # Japanese first
    assert "見つかりません" in forged.text
    assert client.get("/q/not-a-real-ticket-id/ticket.png").status_code == 404


def test_counter_console_calls_and_audits(
    client: TestClient, setup: dict[str, object], db: sa.Engine
) -> None:
    services = setup["services"]
    assert isinstance(services, list)
    token = str(setup["token"])
    for n in range(3):
        kiosk(client, token, {"service": services[0], "request_id": f"tap-{n:04d}"})
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, "clerk")
    console = f"/counter/{setup['counter']}"
    assert "A-001" in client.get(console).text
    headers = {**HX, "X-CSRF-Token": csrf_token(client, console)}
    called = client.post(f"{console}/next", headers=headers)
    assert called.status_code == 200 and 'data-ticket="A-001"' in called.text
    assert client.post(f"{console}/recall", headers=headers).status_code == 200
    assert client.post(f"{console}/no_show", headers=headers).status_code == 200  # after 1 recall
    assert 'data-ticket="A-002"' in client.post(f"{console}/next", headers=headers).text
    assert client.post(f"{console}/start", headers=headers).status_code == 200
    # A bad request answers with a message in #messages and changes nothing.
    wrong = client.post(f"{console}/call", data={"label": "Z-999"}, headers=headers)
    assert wrong.status_code == 404 and wrong.headers["hx-retarget"] == "#messages"
    done = client.post(f"{console}/call", data={"label": "A-001"}, headers=headers)
    assert done.status_code == 409
    assert client.post(f"{console}/explode", headers=headers).status_code == 404
    assert client.post(f"{console}/next", headers={**HX}).status_code == 403  # no CSRF token
    issued = client.post(
        f"{console}/issue", data={"service_id": str(services[1]), "priority": "1"}, headers=headers
    )
    assert "B-001" in issued.text
    with db.connect() as conn:
        rows = dict(conn.execute(sa.select(Ticket.label, Ticket.status)).all())
        actions = list(conn.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)))
    assert rows == {"A-001": "no_show", "A-002": "serving", "A-003": "waiting", "B-001": "waiting"}
    assert actions[-6:] == [
        "ticket.call", "ticket.recall", "ticket.no_show", "ticket.call", "ticket.start",
        "ticket.issue",
    ]  # fmt: skip
    lists = client.get(f"{console}?part=queue_lists", headers=HX)
    assert lists.text.lstrip().startswith('<div id="queue-lists"') and "A-003" in lists.text


def test_statistics_page_and_csv(
    client: TestClient, setup: dict[str, object], db: sa.Engine
) -> None:
    services = setup["services"]
    assert isinstance(services, list)
    kiosk(client, str(setup["token"]), {"service": services[0]})
    console = f"/counter/{setup['counter']}"
    headers = {**HX, "X-CSRF-Token": csrf_token(client, console)}
    for action in ("next", "start", "finish"):
        assert client.post(f"{console}/{action}", headers=headers).status_code == 200
    site = re.search(r"/queue/(\d+)/stats", client.get(f"/queue/{_site(db)}").text)
    assert site
    page = client.get(f"/queue/{site.group(1)}/stats")
    assert page.status_code == 200 and "<svg" in page.text
    # The ticket's day is the site's local day (Asia/Tokyo), a day ahead of UTC after 15:00.
    with db.connect() as conn:
        today = conn.scalar(sa.select(sa.func.max(Ticket.day)))
    assert today is not None
    csv = client.get(f"/queue/{site.group(1)}/stats.csv?from=2020-01-01&to={today}")
    lines = csv.text.lstrip("\ufeff").splitlines()
    assert lines[0].startswith("day,number,service")
    assert len(lines) == 2 and ",A-001,A," in lines[1] and ",done,3," in lines[1]
    assert client.get(f"/queue/{site.group(1)}/stats?from=garbage").status_code == 200


def _site(db: sa.Engine) -> int:
    with db.connect() as conn:
        return int(conn.scalar(sa.select(QueueSite.site_id)) or 0)


def test_a_double_click_does_nothing_twice(
    client: TestClient, setup: dict[str, object], db: sa.Engine
) -> None:
    services = setup["services"]
    assert isinstance(services, list)
    for n in range(3):
        kiosk(client, str(setup["token"]), {"service": services[0], "request_id": f"tap-{n:04d}"})
    console = f"/counter/{setup['counter']}"
    page = client.get(console).text
    expect = re.search(r'name="expect" value="([^"]*)"', page)
    assert expect and expect.group(1) == "none"
    headers = {**HX, "X-CSRF-Token": csrf_token(client, console)}
    first = client.post(f"{console}/next", data={"expect": expect.group(1)}, headers=headers)
    again = client.post(f"{console}/next", data={"expect": expect.group(1)}, headers=headers)
    assert first.status_code == 200 and again.status_code == 409
    shown = re.search(r'name="expect" value="([^"]*)"', first.text)
    assert shown
    recall = client.post(f"{console}/recall", data={"expect": shown.group(1)}, headers=headers)
    twice = client.post(f"{console}/recall", data={"expect": shown.group(1)}, headers=headers)
    assert recall.status_code == 200 and twice.status_code == 409
    with db.connect() as conn:
        rows = dict(conn.execute(sa.select(Ticket.label, Ticket.status)).all())
        recalls = conn.scalar(sa.select(Ticket.recalls).where(Ticket.label == "A-001"))
    assert rows == {"A-001": "called", "A-002": "waiting", "A-003": "waiting"}
    assert recalls == 1


def test_odd_input_gets_a_clear_answer_not_a_500(
    client: TestClient, setup: dict[str, object]
) -> None:
    token = str(setup["token"])
    services = setup["services"]
    assert isinstance(services, list)
    for body in (
        {"service": services[0], "language": []},
        {"service": services[0], "language": {}},
        {"service": 10**30},
        {"service": -1},
        {"service": True},
    ):
        status, reply = kiosk(client, token, body)
        assert status == 422, (body, reply)
    console = f"/counter/{setup['counter']}"
    headers = {**HX, "X-CSRF-Token": csrf_token(client, console)}
    for action, data in (
        ("return", {"ticket_id": "²"}),
        ("cancel", {"ticket_id": "9" * 30}),
        ("transfer", {"target": "service:²"}),
        ("transfer", {"target": "counter:" + "9" * 25}),
        ("issue", {"service_id": "²"}),
    ):
        response = client.post(f"{console}/{action}", data=data, headers=headers)
        assert 400 <= response.status_code < 500, (action, data, response.status_code)
    assert client.get("/counter/" + "9" * 23).status_code == 404
    assert client.get("/screens/" + "9" * 23).status_code == 404
