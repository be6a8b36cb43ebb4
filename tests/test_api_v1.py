"""The integration API (/api/v1/) on the real app and database: tokens with scopes and a
site, each endpoint through the same domain paths as the staff UI, problem details for
every refusal (and nothing changed by one), and the OpenAPI document against the routes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from openapi_spec_validator import validate
from sqlalchemy.orm import Session
from starlette.routing import Route
from starlette.testclient import TestClient

from signage import api_tokens
from signage.db import create_engine, session_factory, transaction
from signage.models import (
    ApiToken,
    AuditEntry,
    Base,
    Playlist,
    QueueService,
    QueueSite,
    Role,
    Screen,
    Ticket,
)
from signage.openapi import PREFIX
from signage.routes import routes
from signage.settings import Settings

from .conftest import add_site, add_user, csrf_token, login, post

PROBLEM = "application/problem+json"


def make_token(settings: Settings, name: str, scopes: list[str], site_id: int | None = None) -> str:
    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as db:
                return await api_tokens.create_token(
                    db, name, actor_name="test", scopes=scopes, site_id=site_id
                )
        finally:
            await engine.dispose()

    return asyncio.run(run())


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept-language": "en"}


def dump(engine: sa.Engine) -> dict[str, list[tuple[str, ...]]]:
    """Every table but the audit log and the tokens' last use, to compare."""
    with engine.connect() as conn:
        return {
            t.name: sorted(
                tuple(str(v) for k, v in row._mapping.items() if k != "last_used_at")
                for row in conn.execute(sa.select(t))
            )
            for t in Base.metadata.sorted_tables
            if t.name != "audit_log"
        }


@pytest.fixture
def world(db: sa.Engine) -> dict[str, int]:
    """Two sites, each with a service, a screen and a playlist."""
    a = add_site(db, "honcho", "本庁舎")
    b = add_site(db, "kita", "北支所")
    found: dict[str, int] = {"a": a, "b": b}
    with Session(db) as s:
        for key, site in (("a", a), ("b", b)):
            s.add(QueueSite(site_id=site, opens_at="00:00", closes_at="23:59"))
            service = QueueService(site_id=site, prefix="A", name="住民票", name_en="Records")
            playlist = Playlist(name=f"p-{key}", site_id=site, items=[])
            s.add_all([service, playlist])
            s.flush()
            screen = Screen(site_id=site, name=f"1F {key}", layout="hall")
            screen.default_playlist_id = playlist.id
            s.add(screen)
            s.flush()
            found |= {
                f"service_{key}": service.id,
                f"screen_{key}": screen.id,
                f"playlist_{key}": playlist.id,
            }
        s.commit()
    return found


ALL = ["notices:write", "notices:approve", "playlists:write", "queue:read", "tickets:write",
       "screens:read", "alerts:read", "alerts:write"]  # fmt: skip


def _problem(response: object, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body = response.json()  # type: ignore[attr-defined]
    assert body["status"] == status and body["type"] == "about:blank"
    assert body["title"] and body["detail"]
    return body  # type: ignore[no-any-return]


# --- a notice, all the way ----------------------------------------------------------------


def test_a_notice_is_written_submitted_approved_and_audited_with_the_token(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    token = make_token(settings, "records-robot", ALL, site_id=world["a"])
    made = client.post(
        "/api/v1/notices",
        headers=auth(token),
        json={
            "texts": [
                {"language": "ja", "title": "窓口の混雑", "body": "午後は空いています"},
                {"language": "en", "title": "Counters are busy"},
            ],
            "playlist_id": world["playlist_a"],
            "seconds": 8,
        },
    )
    assert made.status_code == 201, made.text
    notice = made.json()
    assert notice["status"] == "draft" and notice["site_id"] == world["a"]
    assert [t["title"] for t in notice["texts"]] == ["窓口の混雑", "Counters are busy"]
    nid = notice["id"]
    submitted = client.post(f"/api/v1/notices/{nid}/submit", headers=auth(token))
    assert submitted.status_code == 200 and submitted.json()["status"] == "pending"
    approved = client.post(f"/api/v1/notices/{nid}/approve", headers=auth(token))
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    again = _problem(client.post(f"/api/v1/notices/{nid}/approve", headers=auth(token)), 409)
    assert "already approved" in str(again["detail"])
    assert client.get(f"/api/v1/notices/{nid}", headers=auth(token)).json()["status"] == "approved"
    listed = client.get("/api/v1/notices?status=approved", headers=auth(token)).json()
    assert [n["id"] for n in listed] == [nid]
    with db.connect() as conn:
        actions = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.actor).where(
                AuditEntry.target_type != "api_token"
            )
        ).all()
        manifest = conn.execute(
            sa.text("SELECT body FROM manifests WHERE screen_id = :s"), {"s": world["screen_a"]}
        ).scalar()
    assert {(a, actor) for a, actor in actions} == {
        ("notice.create", "api:records-robot"),
        ("playlist.update", "api:records-robot"),
        ("notice.submit", "api:records-robot"),
        ("notice.approve", "api:records-robot"),
    }
    # The same path as the staff UI: the screen's manifest was rebuilt with the notice.
    assert manifest is not None
    body = manifest if isinstance(manifest, dict) else json.loads(manifest)  # JSON on PostgreSQL
    assert str(nid) in body["notices"]


def test_approving_needs_its_scope_and_a_site_token_stays_in_its_site(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    writer = make_token(settings, "writer", ["notices:write"], site_id=world["a"])
    other = make_token(settings, "other", ALL, site_id=world["b"])
    nid = client.post(
        "/api/v1/notices", headers=auth(writer), json={"texts": [{"language": "ja", "title": "x"}]}
    ).json()["id"]
    before = dump(db)
    body = _problem(client.post(f"/api/v1/notices/{nid}/approve", headers=auth(writer)), 403)
    assert "notices:approve" in str(body["detail"])
    # Adding to a playlist is a scope of its own.
    _problem(
        client.post(
            "/api/v1/notices",
            headers=auth(writer),
            json={"texts": [{"language": "ja", "title": "y"}], "playlist_id": world["playlist_a"]},
        ),
        403,
    )
    # Another site's token: the notice, the site, the screen and the service are not there.
    for method, path in [
        ("GET", f"/api/v1/notices/{nid}"),
        ("POST", f"/api/v1/notices/{nid}/submit"),
        ("POST", f"/api/v1/notices/{nid}/approve"),
        ("GET", f"/api/v1/sites/{world['a']}/queue"),
        ("GET", f"/api/v1/sites/{world['a']}/queue/stats"),
        ("GET", f"/api/v1/screens/{world['screen_a']}"),
    ]:
        _problem(client.request(method, path, headers=auth(other)), 404)
    _problem(
        client.post(
            f"/api/v1/sites/{world['a']}/tickets", headers=auth(other), json={"service": 1}
        ),
        404,
    )
    _problem(
        client.post(
            f"/api/v1/sites/{world['b']}/tickets",
            headers=auth(other),
            json={"service": world["service_a"]},
        ),
        404,
    )
    # A notice for another site, or for every site, from a token of one site.
    refused = client.post(
        "/api/v1/notices",
        headers=auth(writer),
        json={"texts": [{"language": "ja", "title": "z"}], "site_id": None},
    )
    assert _problem(refused, 422)["fields"] == {
        "site_id": "You can only write notices for your own site."
    }
    _problem(
        client.post(
            "/api/v1/notices",
            headers=auth(writer),
            json={"texts": [{"language": "ja", "title": "z"}], "site_id": world["b"]},
        ),
        404,
    )
    assert client.get("/api/v1/notices", headers=auth(other)).json() == []
    assert dump(db) == before


# --- tokens -------------------------------------------------------------------------------


def test_missing_wrong_and_revoked_tokens_get_401_and_change_nothing(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    token = make_token(settings, "robot", ALL)
    body = {"texts": [{"language": "ja", "title": "x"}]}
    before = dump(db)
    for headers in (
        {},
        {"authorization": "Bearer " + "x" * 43},
        {"authorization": "Basic " + token},
        {"authorization": "Bearer"},
    ):
        response = client.post(
            "/api/v1/notices", headers={**headers, "accept-language": "en"}, json=body
        )
        assert (
            _problem(response, 401)["detail"] == "The API token is missing, not valid or revoked."
        )
        assert response.headers["www-authenticate"] == "Bearer"
    assert dump(db) == before
    with db.begin() as conn:
        conn.execute(sa.update(ApiToken).values(revoked_at=sa.func.now()))
    before = dump(db)
    _problem(client.post("/api/v1/notices", headers=auth(token), json=body), 401)
    _problem(client.get("/api/v1/screens", headers=auth(token)), 401)
    assert dump(db) == before


def test_old_feed_tokens_keep_the_feeds_and_nothing_else(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    async def old() -> str:  # as `signage create-api-token NAME` made them before scopes
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as session:
                return await api_tokens.create_token(session, "jma-relay", actor_name="cli")
        finally:
            await engine.dispose()

    token = asyncio.run(old())
    _problem(client.get("/api/v1/screens", headers=auth(token)), 403)
    feed = client.post(
        "/api/v1/alerts/cap", headers=auth(token), content=b"<not-cap/>"
    )  # the feed answers (a refused document), not the token check
    assert feed.status_code == 422, feed.text
    notices_only = make_token(settings, "notices-only", ["notices:write"])
    _problem(client.post("/api/v1/alerts/cap", headers=auth(notices_only), content=b"<x/>"), 403)


# --- bad input ----------------------------------------------------------------------------


def test_malformed_unknown_wrong_and_too_large_bodies_are_refused_and_change_nothing(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    token = make_token(settings, "robot", ALL, site_id=world["a"])
    before = dump(db)
    for raw in (b"{", b"[1, 2]", b"\xff\xfe", b"[" * 100_000):
        response = client.post("/api/v1/notices", headers=auth(token), content=raw)
        assert _problem(response, 400 if raw != b"[1, 2]" else 422)
    unknown = client.post(
        "/api/v1/notices",
        headers=auth(token),
        json={"texts": [{"language": "ja", "title": "x", "colour": "red"}], "sticky": True},
    )
    assert _problem(unknown, 422)["fields"] == {
        "sticky": "This field is not part of this request.",
        "texts[0].colour": "This field is not part of this request.",
    }
    wrong = client.post(
        "/api/v1/notices",
        headers=auth(token),
        json={"texts": "hello", "style": "loud", "image_id": True, "valid_from": "tomorrow"},
    )
    assert _problem(wrong, 422)["fields"] == {
        "texts": "This value has the wrong type.",
        "style": "Choose one of the options.",
        "image_id": "This value has the wrong type.",
    }
    when = client.post(
        "/api/v1/notices",
        headers=auth(token),
        json={"texts": [{"language": "ja", "title": "x"}], "valid_from": "tomorrow"},
    )
    assert set(_problem(when, 422)["fields"]) == {"valid_from"}  # type: ignore[arg-type]
    missing = client.post("/api/v1/notices", headers=auth(token), json={})
    assert _problem(missing, 422)["fields"] == {"texts": "This field is required."}
    long = client.post(
        "/api/v1/notices",
        headers=auth(token),
        json={"texts": [{"language": "ja", "title": "x" * 201}]},
    )
    assert _problem(long, 422)["fields"] == {"texts[0].title": "This is too long."}
    big = client.post(
        "/api/v1/notices",
        headers=auth(token),
        content=b'{"texts": "' + b"x" * (settings.max_form_bytes + 10) + b'"}',
    )
    _problem(big, 413)
    ticket = client.post(
        f"/api/v1/sites/{world['a']}/tickets",
        headers=auth(token),
        json={"service": world["service_a"], "language": "xx", "request_id": "!"},
    )
    assert set(_problem(ticket, 422)["fields"]) == {"language", "request_id"}  # type: ignore[arg-type]
    stats = client.get(
        f"/api/v1/sites/{world['a']}/queue/stats?first=yesterday&colour=1", headers=auth(token)
    )
    assert set(_problem(stats, 422)["fields"]) == {"colour"}  # type: ignore[arg-type]
    stats = client.get(
        f"/api/v1/sites/{world['a']}/queue/stats?first=2026-13-01", headers=auth(token)
    )
    assert set(_problem(stats, 422)["fields"]) == {"first"}  # type: ignore[arg-type]
    _problem(client.get("/api/v1/nothing-here", headers=auth(token)), 404)
    _problem(client.delete("/api/v1/notices", headers=auth(token)), 405)
    assert dump(db) == before


def test_messages_follow_accept_language(
    client: TestClient, settings: Settings, world: dict[str, int]
) -> None:
    ja = client.get("/api/v1/screens", headers={"accept-language": "ja"})
    en = client.get("/api/v1/screens", headers={"accept-language": "en-GB,en;q=0.8"})
    assert _problem(ja, 401)["detail"] != _problem(en, 401)["detail"]
    assert "token" in str(en.json()["detail"])


# --- queue, tickets, screens, alerts --------------------------------------------------------


def test_tickets_queue_state_and_statistics(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    token = make_token(settings, "desk", ["tickets:write", "queue:read"], site_id=world["a"])
    path = f"/api/v1/sites/{world['a']}/tickets"
    first = client.post(
        path, headers=auth(token), json={"service": world["service_a"], "request_id": "form-00001"}
    )
    assert first.status_code == 201, first.text
    assert first.json()["label"] == "A-001" and first.json()["ahead"] == 0
    repeat = client.post(
        path, headers=auth(token), json={"service": world["service_a"], "request_id": "form-00001"}
    )
    assert repeat.status_code == 200 and repeat.json()["id"] == first.json()["id"]
    assert repeat.json()["repeated"] is True
    second = client.post(
        path,
        headers=auth(token),
        json={"service": world["service_a"], "priority": True, "language": "en"},
    )
    assert second.json()["label"] == "A-002" and second.json()["ahead"] == 1
    state = client.get(f"/api/v1/sites/{world['a']}/queue", headers=auth(token)).json()
    assert state["open"] is True
    assert [(s["id"], s["waiting"]) for s in state["services"]] == [(world["service_a"], 2)]
    assert state["counters"] == []
    stats = client.get(f"/api/v1/sites/{world['a']}/queue/stats", headers=auth(token)).json()
    assert stats["total"]["issued"] == 2
    with db.connect() as conn:
        sources = conn.execute(sa.select(Ticket.source)).scalars().all()
        actors = (
            conn.execute(sa.select(AuditEntry.actor).where(AuditEntry.action == "ticket.issue"))
            .scalars()
            .all()
        )
    assert sources == ["api", "api"] and actors == ["api:desk", "api:desk"]
    with db.begin() as conn:
        conn.execute(sa.update(QueueService).values(open=False))
    before = dump(db)
    _problem(client.post(path, headers=auth(token), json={"service": world["service_a"]}), 409)
    assert dump(db) == before


def test_screens_and_their_status(
    client: TestClient, settings: Settings, world: dict[str, int]
) -> None:
    everywhere = make_token(settings, "monitor", ["screens:read"])
    listed = client.get("/api/v1/screens", headers=auth(everywhere)).json()
    assert {s["id"] for s in listed} == {world["screen_a"], world["screen_b"]}
    assert all(s["online"] is False and s["paired"] is False for s in listed)
    one_site = make_token(settings, "monitor-a", ["screens:read"], site_id=world["a"])
    listed = client.get("/api/v1/screens", headers=auth(one_site)).json()
    assert [s["id"] for s in listed] == [world["screen_a"]]
    _problem(client.get(f"/api/v1/screens/{world['screen_b']}", headers=auth(one_site)), 404)


def test_alerts_are_raised_listed_and_cleared(
    client: TestClient, settings: Settings, db: sa.Engine, world: dict[str, int]
) -> None:
    token = make_token(settings, "bousai", ["alerts:write"], site_id=world["a"])
    reader = make_token(settings, "reader", ["alerts:read"], site_id=world["a"])
    body = {
        "template": "free_text",
        "level": "severe",
        "targets": "all",
        "expires_minutes": 30,
        "drill": True,
        "texts": [{"language": "ja", "headline": "訓練です", "body": "避難訓練"}],
    }
    _problem(client.post("/api/v1/alerts", headers=auth(reader), json=body), 403)
    raised = client.post("/api/v1/alerts", headers=auth(token), json=body)
    assert raised.status_code == 201, raised.text
    alert = raised.json()
    assert alert["state"] == "active" and alert["screens"] == [world["screen_a"]]
    assert alert["drill"] is True
    assert [a["id"] for a in client.get("/api/v1/alerts", headers=auth(reader)).json()] == [
        alert["id"]
    ]
    before = dump(db)
    bad = client.post(
        "/api/v1/alerts",
        headers=auth(token),
        json={**body, "targets": "screens", "screen_ids": [world["screen_b"]]},
    )
    _problem(bad, 404)
    bad = client.post("/api/v1/alerts", headers=auth(token), json={**body, "template": "nope"})
    assert "template" in _problem(bad, 422)["fields"]  # type: ignore[operator]
    assert dump(db) == before
    cleared = client.post(f"/api/v1/alerts/{alert['id']}/clear", headers=auth(token))
    assert cleared.status_code == 200 and cleared.json()["state"] == "cleared"
    assert client.get("/api/v1/alerts", headers=auth(reader)).json() == []
    _problem(client.post(f"/api/v1/alerts/{alert['id']}/clear", headers=auth(token)), 409)


# --- the document ---------------------------------------------------------------------------


def test_the_openapi_document_covers_every_route_and_is_valid(
    client: TestClient, settings: Settings
) -> None:
    document = client.get("/api/v1/openapi.json").json()
    validate(document)  # OpenAPI 3.1, structurally (openapi-spec-validator)
    assert document["openapi"] == "3.1.0"
    declared = {
        (route.path, method)
        for route in routes(settings)
        if isinstance(route, Route) and route.path.startswith(PREFIX)
        for method in (route.methods or set()) - {"HEAD"}
    }
    assert len(declared) >= 16
    for path, method in declared:
        documented = path.replace(":id", "").replace(":str", "")
        assert method.lower() in document["paths"][documented], (path, method)
    described = {(p, m.upper()) for p, ops in document["paths"].items() for m in ops}
    assert described == {(p.replace(":id", "").replace(":str", ""), m) for p, m in declared}
    create = document["paths"]["/api/v1/notices"]["post"]
    schema = document["components"]["schemas"]["NoticeIn"]
    assert create["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/NoticeIn"
    }
    assert schema["additionalProperties"] is False and schema["required"] == ["texts"]
    assert create["security"] == [{"bearer": ["notices:write"]}]
    assert "422" in create["responses"] and "201" in create["responses"]


# --- making and revoking tokens ---------------------------------------------------------------


def test_administrators_make_and_revoke_tokens_in_the_staff_ui(
    client: TestClient, db: sa.Engine, world: dict[str, int]
) -> None:
    add_user(db, "chief", Role.ADMIN)
    add_user(db, "writer", Role.PUBLISHER)
    login(client, "chief")
    page = client.get("/api-tokens")
    assert page.status_code == 200 and "APIトークン" in page.text
    made = post(
        client,
        "/api-tokens",
        {
            "name": "records-robot",
            "site_id": str(world["a"]),
            "scopes": ["screens:read", "queue:read"],
        },
        page="/api-tokens",
    )
    assert made.status_code == 201, made.text[-500:]
    found = re.search(r"data-api-token>([A-Za-z0-9_-]+)<", made.text)
    assert found
    token = found.group(1)
    assert token not in client.get("/api-tokens").text  # shown once
    with db.connect() as conn:
        row = conn.execute(sa.select(ApiToken)).one()
        stored = [str(v) for v in row._mapping.values()]
    assert row.token_hash == api_tokens.token_hash(token) and token not in stored
    assert row.scopes == "queue:read screens:read" and row.site_id == world["a"]
    listed = client.get("/api/v1/screens", headers=auth(token))
    assert [s["id"] for s in listed.json()] == [world["screen_a"]]

    refused = post(
        client,
        "/api-tokens",
        {"name": "no spaces here", "site_id": "", "scopes": ["bogus"]},
        page="/api-tokens",
    )
    assert refused.status_code == 422
    assert "Choose one of the options." in refused.text or "選択肢" in refused.text
    feed_of_a_site = post(
        client,
        "/api-tokens",
        {"name": "relay", "site_id": str(world["a"]), "scopes": ["alerts:feed"]},
        page="/api-tokens",
    )
    assert feed_of_a_site.status_code == 422

    revoked = client.post(
        f"/api-tokens/{row.id}/revoke",
        headers={"hx-request": "true", "x-csrf-token": csrf_token(client, "/api-tokens")},
    )
    assert revoked.status_code == 200 and 'id="api-token-table"' in revoked.text
    assert "<html" not in revoked.text  # the table alone, for htmx
    _problem(client.get("/api/v1/screens", headers=auth(token)), 401)
    again = client.post(
        f"/api-tokens/{row.id}/revoke", data={"csrf_token": csrf_token(client, "/api-tokens")}
    )
    assert again.status_code == 409
    with db.connect() as conn:
        audited = conn.execute(
            sa.select(AuditEntry.action, AuditEntry.actor).where(
                AuditEntry.target_type == "api_token"
            )
        ).all()
    assert sorted(audited) == [("api_token.create", "chief"), ("api_token.revoke", "chief")]

    login(client, "writer")  # a publisher: not theirs to make
    assert client.get("/api-tokens").status_code == 403


def test_the_command_line_makes_tokens_with_scopes_and_a_site(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
    environ |= {"SIGNAGE_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "signage", *args], capture_output=True, text=True,
            env=environ, cwd=tmp_path, timeout=120, check=False,
        )  # fmt: skip

    assert run("migrate").returncode == 0
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    site = add_site(engine, "kita", "北支所")
    made = run("create-api-token", "robot", "--scope", "queue:read", "--scope", "tickets:write",
               "--site", "kita")  # fmt: skip
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    with engine.connect() as conn:
        row = conn.execute(sa.select(ApiToken)).one()
    assert (row.scopes, row.site_id) == ("queue:read tickets:write", site)
    assert row.token_hash == api_tokens.token_hash(token)
    bad = run("create-api-token", "robot2", "--scope", "everything")
    assert bad.returncode == 1 and "scopes:" in bad.stderr
    nowhere = run("create-api-token", "robot3", "--scope", "queue:read", "--site", "nowhere")
    assert nowhere.returncode == 1 and "no site" in nowhere.stderr
    engine.dispose()
