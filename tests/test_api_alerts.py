"""POST /api/v1/alerts/cap and /api/v1/alerts/jma on the real app and database: the API
token, the rules from SIGNAGE_ALERT_RULES, and bad input (a 4xx naming what is wrong,
nothing stored but a rate-limited audit entry of the refusal)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from signage import api_tokens
from signage.app import create_app
from signage.db import create_engine, session_factory, transaction
from signage.models import Alert, ApiToken, AuditEntry, Base, Site
from signage.settings import Settings, SettingsError
from tests.alerts_docs import doc, edxl

from .conftest import add_site

RULES = """
[[sites]]
code = "honcho"
municipality = "1310100"
earthquake_areas = ["350"]
tsunami_areas = ["300"]
cap_geocodes = ["JIS=13101"]
"""


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "alert_rules.toml"
    path.write_text(RULES, encoding="utf-8")
    return path


@pytest.fixture
def api(settings: Settings, db: sa.Engine, rules_file: Path) -> Iterator[TestClient]:
    app = create_app(
        Settings.load(
            environ={}, env_file=None, **{**_values(settings), "alert_rules": rules_file}
        ),
        scheduler=False,
    )
    with TestClient(app, follow_redirects=False) as c:
        yield c


def _values(settings: Settings) -> dict[str, object]:
    return {name: getattr(settings, name) for name in settings.__dataclass_fields__}


def make_token(settings: Settings, name: str = "relay") -> str:
    async def run() -> str:
        engine = create_engine(settings.database_url)
        try:
            async with transaction(session_factory(engine)) as db:
                return await api_tokens.create_token(db, name, actor_name="test")
        finally:
            await engine.dispose()

    return asyncio.run(run())


def dump(engine: sa.Engine) -> dict[str, list[tuple[object, ...]]]:
    """Every table but the audit log and the tokens' last use, to compare."""
    with engine.connect() as conn:
        return {
            t.name: sorted(
                (tuple(str(v) for k, v in row._mapping.items() if k != "last_used_at")
                 for row in conn.execute(sa.select(t))),
            )
            for t in Base.metadata.sorted_tables
            if t.name != "audit_log"
        }  # fmt: skip


def refusals(engine: sa.Engine) -> list[AuditEntry]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(AuditEntry.actor, AuditEntry.target_label, AuditEntry.after).where(
                AuditEntry.action == "alert_feed.refused"
            )
        )
        return list(rows)  # type: ignore[arg-type]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/xml"}


def test_a_severe_cap_alert_is_accepted_for_the_site_its_area_names(
    api: TestClient, settings: Settings
) -> None:
    token = make_token(settings)
    response = api.post("/api/v1/alerts/cap", content=doc("cap_severe.xml"), headers=bearer(token))
    assert response.status_code == 202, response.text
    [draft] = response.json()["drafts"]
    assert draft["areas"] == ["honcho"] and draft["mode"] == "takeover"
    assert [t["language"] for t in draft["texts"]] == ["ja", "en"]


def test_a_jma_report_in_an_edxl_envelope_is_accepted(api: TestClient, settings: Settings) -> None:
    token = make_token(settings)
    response = api.post(
        "/api/v1/alerts/jma", content=edxl(doc("vxse53.xml")), headers=bearer(token)
    )
    assert response.status_code == 202, response.text
    [draft] = response.json()["drafts"]
    assert draft["texts"][0]["headline"] == "震度5強の地震がありました（市内）"
    assert draft["texts"][1]["headline"] == (
        "An earthquake of seismic intensity 5+ was observed in the city"
    )


def alerts(engine: sa.Engine) -> list[tuple[str, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(Alert.identifier, Alert.state, Alert.mode).order_by(Alert.id))
        return [(i, s, m) for i, s, m in rows]


def test_cap_alert_update_cancel_and_replay_reach_the_alerts_service(
    api: TestClient, db: sa.Engine, settings: Settings
) -> None:
    add_site(db, "honcho")
    token = make_token(settings)
    first = "bousai@city.example.jp,CITY-2026-0001@honcho"
    second = "bousai@city.example.jp,CITY-2026-0002@honcho"
    response = api.post("/api/v1/alerts/cap", content=doc("cap_severe.xml"), headers=bearer(token))
    assert response.json()["raised"] == [first]
    assert alerts(db) == [(first, "active", "takeover")]
    again = api.post("/api/v1/alerts/cap", content=doc("cap_severe.xml"), headers=bearer(token))
    assert again.json()["ignored"] == [{"identifier": first, "why": "replay"}]
    update = api.post("/api/v1/alerts/cap", content=doc("cap_update.xml"), headers=bearer(token))
    assert update.json()["replaced"] == [first]
    assert [a[:2] for a in alerts(db)] == [(first, "cleared"), (second, "active")]
    # The cancel names both; the last one named is the one shown.
    cancel = api.post("/api/v1/alerts/cap", content=doc("cap_cancel.xml"), headers=bearer(token))
    assert cancel.json()["cancelled"] == [second]
    assert [a[1] for a in alerts(db)] == ["cleared", "cancelled"]


def test_a_cap_alert_reaches_the_sites_other_languages_from_the_best_matching_block(
    api: TestClient, db: sa.Engine, settings: Settings
) -> None:
    site = add_site(db, "honcho")
    with db.begin() as conn:
        conn.execute(sa.update(Site).where(Site.id == site).values(languages="ja,zh-Hant,vi"))
    chinese = """<info>
    <language>zh-CN</language><category>Safety</category><event>疏散指示</event>
    <urgency>Immediate</urgency><severity>Severe</severity><certainty>Observed</certainty>
    <headline>市政府周边疏散指示</headline><description>请从北侧出口离开。</description>
    <area><areaDesc>市政府周边</areaDesc>
      <geocode><valueName>JIS</valueName><value>13101</value></geocode></area>
  </info>
</alert>"""
    body = doc("cap_severe.xml").decode().replace("</alert>", chinese)
    response = api.post(
        "/api/v1/alerts/cap", content=body.encode(), headers=bearer(make_token(settings))
    )
    assert response.status_code == 202, response.text
    with db.connect() as conn:
        [texts] = conn.scalars(sa.select(Alert.texts)).all()
    by_language = {t["language"]: t["headline"] for t in texts}
    assert by_language == {
        "ja": "市役所周辺に避難指示",
        "en": "Evacuation order around the city hall",
        "zh-Hans": "市政府周边疏散指示",
        "zh-Hant": "市政府周边疏散指示",  # the same primary language: the zh-CN block
        "vi": "Evacuation order around the city hall",  # none: the English block
    }


def test_a_cancel_naming_only_the_first_alert_clears_its_update(
    api: TestClient, db: sa.Engine, settings: Settings
) -> None:
    add_site(db, "honcho")
    token = make_token(settings)
    for name in ("cap_severe.xml", "cap_update.xml"):
        api.post("/api/v1/alerts/cap", content=doc(name), headers=bearer(token))
    only_first = doc("cap_cancel.xml").split(b" bousai")[0] + b"</references>\n</alert>\n"
    cancel = api.post("/api/v1/alerts/cap", content=only_first, headers=bearer(token))
    assert cancel.json()["cancelled"] == ["bousai@city.example.jp,CITY-2026-0002@honcho"]


def test_jma_serials_replace_the_event_and_its_cancellation_clears_it(
    api: TestClient, db: sa.Engine, settings: Settings
) -> None:
    add_site(db, "honcho")
    token = make_token(settings)
    now = datetime.now(UTC)

    def post(data: bytes) -> dict[str, object]:
        response = api.post("/api/v1/alerts/jma", content=data, headers=bearer(token))
        assert response.status_code == 202, response.text
        return response.json()  # type: ignore[no-any-return]

    first = post(doc("vxse51.xml", now - timedelta(minutes=2)))
    [shown] = first["raised"]  # type: ignore[misc]
    later = post(doc("vxse53.xml", now - timedelta(minutes=1), SERIAL="2"))
    assert later["replaced"] == [shown]
    # A late copy of an older report changes nothing.
    late = post(doc("vxse51.xml", now - timedelta(minutes=3), SERIAL="1"))
    assert late["raised"] == [] and late["ignored"]
    gone = post(doc("vxse53.xml", now, SERIAL="3", INFOTYPE="取消"))
    assert len(gone["cancelled"]) == 1  # type: ignore[arg-type]
    assert [a[1] for a in alerts(db)] == ["cleared", "cancelled"]


@pytest.mark.parametrize("header", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer "])
def test_a_missing_or_wrong_token_is_401(
    api: TestClient, db: sa.Engine, settings: Settings, header: str | None
) -> None:
    make_token(settings)
    before = dump(db)
    headers = {"authorization": header} if header else {}
    for path in ("/api/v1/alerts/cap", "/api/v1/alerts/jma"):
        response = api.post(path, content=doc("cap_severe.xml"), headers=headers)
        assert response.status_code == 401
        assert "token" in response.json()["error"].lower() or "トークン" in response.json()["error"]
    assert dump(db) == before
    assert [r.target_label for r in refusals(db)] == ["token", "token"]


BAD = [
    ("cap", b"<alert", 422, "document"),
    ("cap", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
     b"<alert>&x;</alert>", 422, "document"),
    ("cap", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aa"><!ENTITY b "&a;&a;">]>'
     b"<alert>&b;</alert>", 422, "document"),
    ("cap", '<?xml version="1.0" encoding="Shift_JIS"?><alert/>'.encode("shift_jis"), 422,
     "encoding"),
    ("cap", b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', 422, "namespace"),
    ("cap", b'<alert xmlns="urn:example:other"/>', 422, "namespace"),
    ("cap", doc("cap_severe.xml").replace(b"<status>Actual</status>", b""), 422, "status"),
    ("cap", doc("cap_severe.xml").replace(b">Immediate<", b">Soon<"), 422, "info/urgency"),
    ("cap", b"<alert>" + b"x" * (600 * 1024) + b"</alert>", 413, None),
    ("jma", doc("vxse51.xml").replace("震度速報".encode(), "噴火速報".encode()), 422,
     "Control/Title"),
    ("jma", doc("cap_severe.xml"), 422, "namespace"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "data", "status", "field"), BAD)
def test_bad_documents_are_refused_naming_the_field_and_store_nothing(
    api: TestClient,
    db: sa.Engine,
    settings: Settings,
    kind: str,
    data: bytes,
    status: int,
    field: str | None,
) -> None:
    token = make_token(settings)
    before = dump(db)
    response = api.post(f"/api/v1/alerts/{kind}", content=data, headers=bearer(token))
    assert response.status_code == status, response.text
    if field is not None:
        assert field in response.json()["fields"]
    assert dump(db) == before
    [entry] = refusals(db)
    assert entry.actor == "api:relay" and entry.target_label == (field or "document")


def test_refusals_are_audited_at_most_once_a_minute_per_address_and_reason(
    api: TestClient, db: sa.Engine, settings: Settings
) -> None:
    token = make_token(settings)
    for _ in range(5):
        assert (
            api.post("/api/v1/alerts/cap", content=b"<a", headers=bearer(token)).status_code == 422
        )
    api.post("/api/v1/alerts/cap", content=b'<alert xmlns="x"/>', headers=bearer(token))
    assert [r.target_label for r in refusals(db)] == ["document", "namespace"]


def test_a_bad_rules_file_stops_the_start_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[sites]]\ncode = "a"\nseismic_takeover = "9"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"SIGNAGE_ALERT_RULES=.*sites\[0\].seismic_takeover"):
        Settings.load(environ={"SIGNAGE_ALERT_RULES": str(path)}, env_file=None, data_dir=tmp_path)


def test_create_api_token_prints_it_once_and_keeps_its_hash(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")}
    environ |= {"SIGNAGE_DATA_DIR": str(tmp_path)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "signage", *args], capture_output=True, text=True,
            env=environ, cwd=tmp_path, timeout=120, check=False,
        )  # fmt: skip

    made = run("create-api-token", "jma-relay")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip().splitlines()[-1]
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'signage.db'}")
    with engine.connect() as conn:
        [row] = conn.execute(sa.select(ApiToken.name, ApiToken.token_hash)).all()
    engine.dispose()
    assert row == ("jma-relay", api_tokens.token_hash(token)) and token not in row
    again = run("create-api-token", "jma-relay")
    assert again.returncode == 1 and "already exists" in again.stderr
    bad = run("create-api-token", "no spaces")
    assert bad.returncode == 1 and "name:" in bad.stderr
