"""Every reference stays inside its site: a walk over the one list of routes.

Staff of site A (each role) and site A's kiosk name site B's objects, and missing ones,
in every path parameter and every form or JSON field that names an id. Each answer must
be 404 with nothing changed in any table; the same request naming site A's own objects
(the control) must get through, which proves the 404 came from the one swapped value.
A route the table below does not know fails the walk, so a new route cannot be forgotten.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.orm import Session
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient

from signage import api_tokens
from signage.models import (
    Alert,
    ApiToken,
    Base,
    Closure,
    Kiosk,
    Media,
    Notice,
    NoticeText,
    PairingRequest,
    Playlist,
    PlaylistItem,
    QueueCounter,
    QueueService,
    QueueSite,
    Rendition,
    Role,
    ScheduleEntry,
    Screen,
    ScreenGroup,
    Site,
    StaffSession,
    Ticket,
    User,
    Webhook,
)
from signage.queue import kiosks
from signage.routes import IdConvertor, routes
from signage.settings import PROJECT_ROOT, Settings
from signage.views import tickets as counter_views
from signage.views.player import screenshot_path

from .conftest import csrf_token

MISSING = 999_999_999  # the largest id a path accepts; no row has it
ZONE = ZoneInfo("Asia/Tokyo")


@dataclass(frozen=True)
class Ref:
    """A slot that names an object of `kind`, written into the request as `fmt`."""

    kind: str
    fmt: str | None = None  # None: the id itself (a number in JSON)


@dataclass(frozen=True)
class Case:
    """One request to walk; its `Ref`s are filled with site A's objects (the control)
    and, one at a time, with site B's and with a missing one."""

    method: str
    path: Mapping[str, object] = field(default_factory=dict)
    form: Mapping[str, object] | None = None
    json: Mapping[str, object] | None = None
    htmx: bool = False
    kiosk: bool = False  # sent by site A's kiosk (its device token), not by staff
    api: bool = False  # sent with site A's API token (every scope), not by staff


@dataclass(frozen=True)
class NamesNothing:
    """Methods of a route that name no object of a site, and why."""

    methods: tuple[str, ...]
    why: str


SITE, USER, NOTICE, MEDIA, PLAYLIST = (
    Ref("site"),
    Ref("user"),
    Ref("notice"),
    Ref("media"),
    Ref("playlist"),
)
SCREEN, SCHEDULE, CLOSURE, SERVICE, COUNTER = (
    Ref("screen"),
    Ref("schedule"),
    Ref("closure"),
    Ref("service"),
    Ref("counter"),
)
ITEM, KIOSK, HELD, WAITING = Ref("item"), Ref("kiosk"), Ref("held"), Ref("waiting")
ALERT = Ref("alert")
API_TOKEN = Ref("api_token")
API_ALERT = {
    "template": "evacuation",
    "level": "severe",
    "place": "駐車場",
    "expires_minutes": 30,
}
WEBHOOK = Ref("webhook")
WEBHOOK_FORM = {"name": "RPA", "url": "https://hooks.example.jp/x", "events": ["queue.call"]}
ALERT_FORM = {
    "template": "evacuation",
    "level": "severe",
    "place": "駐車場",
    "expires_minutes": "30",
    "step": "send",
}

NOTICE_FORM = {
    "style": "normal",
    "title_ja": "お知らせ",
    "body_ja": "",
    "action": "draft",
    "site_id": SITE,
    "image_id": MEDIA,
}
SCREEN_FORM = {
    "name": "2F",
    "site_id": SITE,
    "layout": "hall",
    "default_playlist_id": PLAYLIST,
    "groups": "",
    "counter_id": COUNTER,
}
SCHEDULE_FORM = {
    "name": "朝",
    "playlist_id": PLAYLIST,
    "target": Ref("screen", "screen:{}"),
    "zone": "main",
    "priority": "0",
    "days": "all",
}
USER_FORM = {
    "display_name": "New",
    "role": "editor",
    "site_id": SITE,
    "language": "ja",
    "active": "1",
}
SITE_FORM = {
    "code": "honcho",
    "name": "本庁舎",
    "timezone": "Asia/Tokyo",
    "languages": ["ja", "en"],
    "active": "1",
}
RULES_FORM = {
    "opens_at": "00:00",
    "closes_at": "23:59",
    "normal_per_priority": "3",
    "noshow_after_recalls": "2",
    "highlight_seconds": "10",
    "voice_languages": ["ja"],
}
COUNTER_FORMS: dict[str, dict[str, object]] = {
    "call": {"label": "A-002"},
    "return": {"ticket_id": HELD},
    "cancel": {"ticket_id": WAITING},
    "issue": {"service_id": SERVICE},
}
PUBLIC = "public: names no object of a site"

TABLE: dict[str, list[Case | NamesNothing]] = {
    "dashboard": [NamesNothing(("GET",), "the user's own start page")],
    "healthz": [NamesNothing(("GET",), PUBLIC)],
    "readyz": [NamesNothing(("GET",), PUBLIC)],
    "metrics": [NamesNothing(("GET",), "every site's totals, for Prometheus: token or address")],
    "login": [NamesNothing(("GET", "POST"), "a user name and password, before any site")],
    "login_two_step": [NamesNothing(("GET", "POST"), "a pending login's own code")],
    "logout": [NamesNothing(("POST",), "the user's own session")],
    "language": [NamesNothing(("POST",), "the user's own language")],
    "account": [NamesNothing(("GET", "POST"), "the user's own account")],
    "two_step": [NamesNothing(("GET", "POST"), "the user's own second factor")],
    "two_step_qr": [NamesNothing(("GET",), "the user's own second factor")],
    "two_step_recovery": [NamesNothing(("POST",), "the user's own second factor")],
    "two_step_off": [NamesNothing(("POST",), "the user's own second factor")],
    "user_list": [
        NamesNothing(("GET",), "lists the user's sites' accounts"),
        Case("POST", form={"username": "newcomer", "password": "a new long password", **USER_FORM}),
    ],
    "user_edit": [
        Case("GET", path={"user_id": USER}),
        Case("POST", path={"user_id": USER}, form=USER_FORM),
    ],
    "user_password": [
        Case("POST", path={"user_id": USER}, form={"password": "another long password"})
    ],
    "user_two_step_reset": [Case("POST", path={"user_id": USER}, form={})],
    "site_list": [NamesNothing(("GET", "POST"), "lists the user's sites; adds a new one")],
    "site_edit": [
        Case("GET", path={"site_id": SITE}),
        Case("POST", path={"site_id": SITE}, form=SITE_FORM),
    ],
    "audit_log": [NamesNothing(("GET",), "`before` is a position in the log, not an object")],
    "notice_list": [NamesNothing(("GET",), "lists the user's sites' notices")],
    "notice_new": [NamesNothing(("GET",), "an empty form"), Case("POST", form=NOTICE_FORM)],
    "notice_fit": [
        Case("POST", form={"title_ja": "お知らせ", "body_ja": "本文", "image_id": MEDIA}, htmx=True)
    ],
    "notice_edit": [
        Case("GET", path={"notice_id": NOTICE}),
        Case("POST", path={"notice_id": NOTICE}, form=NOTICE_FORM),
    ],
    "notice_action": [
        Case("POST", path={"notice_id": NOTICE, "action": action}, form={"reason": "誤字"})
        for action in ("submit", "approve", "reject")
    ],
    "media_list": [NamesNothing(("GET", "POST"), "lists the user's sites' pictures; uploads")],
    "media_file": [NamesNothing(("GET",), "public: a rendition named by its SHA-256")],
    "playlist_list": [
        NamesNothing(("GET",), "lists the user's sites' playlists"),
        Case("POST", form={"name": "朝", "site_id": SITE}),
    ],
    "playlist_detail": [Case("GET", path={"playlist_id": PLAYLIST})],
    "playlist_items": [
        Case(
            "POST",
            path={"playlist_id": PLAYLIST},
            htmx=True,
            form={"kind": "notice", "notice_id": NOTICE, "duration_seconds": "10"},
        ),
        Case(
            "POST",
            path={"playlist_id": PLAYLIST},
            htmx=True,
            form={"kind": "image", "media_id": MEDIA, "duration_seconds": "10"},
        ),
        Case(
            "POST",
            path={"playlist_id": PLAYLIST},
            htmx=True,
            form={"item_id": ITEM, "move": "down"},
        ),
    ],
    "screen_list": [
        NamesNothing(("GET",), "lists the user's sites' screens"),
        Case("POST", form=SCREEN_FORM),
    ],
    "screen_detail": [
        Case("GET", path={"screen_id": SCREEN}),
        Case("POST", path={"screen_id": SCREEN}, form=SCREEN_FORM),
    ],
    "screen_preview": [Case("GET", path={"screen_id": SCREEN}, htmx=True)],
    "layout_css": [NamesNothing(("GET",), "public: the built-in layouts, the same everywhere")],
    "fonts_css": [NamesNothing(("GET",), "public: the fonts every screen may need")],
    "fonts_index": [NamesNothing(("GET",), "public: the fonts every screen may need")],
    "font_file": [NamesNothing(("GET",), "public: a font file named in the index")],
    "player_redirect": [NamesNothing(("GET",), PUBLIC)],
    "player_page": [NamesNothing(("GET",), PUBLIC)],
    "player_pair": [NamesNothing(("POST",), "a new device's own token")],
    "player_service_worker": [NamesNothing(("GET",), PUBLIC)],
    "player_screenshot": [NamesNothing(("POST",), "a paired device's own screen, by its token")],
    "screen_screenshot": [Case("GET", path={"screen_id": SCREEN})],
    "player_socket": [NamesNothing((), "a device's own screen, by its token")],
    "player_assets": [NamesNothing((), PUBLIC)],
    "fleet": [NamesNothing(("GET",), "lists the user's sites' screens")],
    "screen_pair": [
        NamesNothing(("GET",), "an empty form"),
        Case("POST", form={"code": "ABC-234", "screen_id": SCREEN}),
        Case("POST", form={"code": "ABC-234", **SCREEN_FORM, "screen_id": ""}),
    ],
    "screen_revoke": [Case("POST", path={"screen_id": SCREEN}, form={})],
    "screen_command": [Case("POST", path={"screen_id": SCREEN}, form={"command": "reload"})],
    "schedule_list": [NamesNothing(("GET",), "lists the user's sites' schedules")],
    "schedule_new": [
        NamesNothing(("GET",), "an empty form"),
        Case("POST", form=SCHEDULE_FORM),
        Case("POST", form={**SCHEDULE_FORM, "target": Ref("group", "group:{}")}),
    ],
    "schedule_edit": [
        Case("GET", path={"schedule_id": SCHEDULE}),
        Case("POST", path={"schedule_id": SCHEDULE}, form=SCHEDULE_FORM),
        Case("POST", path={"schedule_id": SCHEDULE}, form={"action": "delete"}),
    ],
    "closure_list": [
        NamesNothing(("GET",), "lists the user's sites' closure days"),
        Case("POST", form={"site_id": SITE, "day": "2030-01-04", "reason": "臨時"}),
        Case("POST", form={"closure_id": CLOSURE}),
    ],
    "queue_home": [NamesNothing(("GET",), "lists the user's sites")],
    "queue_setup": [Case("GET", path={"site_id": SITE})],
    "queue_rules": [Case("POST", path={"site_id": SITE}, form=RULES_FORM)],
    "service_add": [
        Case("POST", path={"site_id": SITE}, form={"prefix": "Z", "name": "新", "open": "1"})
    ],
    "service_edit": [
        Case("POST", path={"service_id": SERVICE}, form={"prefix": "A", "name": "住民票"})
    ],
    "counter_add": [
        Case("POST", path={"site_id": SITE}, form={"number": "9", "service_ids": [SERVICE]})
    ],
    "counter_edit": [
        Case("POST", path={"counter_id": COUNTER}, form={"number": "1", "service_ids": [SERVICE]})
    ],
    "kiosk_add": [Case("POST", path={"site_id": SITE}, form={"name": "2階"})],
    "kiosk_revoke": [Case("POST", path={"kiosk_id": KIOSK}, form={})],
    "alert_list": [NamesNothing(("GET",), "lists the user's sites' alerts")],
    "alert_new": [
        NamesNothing(("GET",), "the empty form"),
        Case("POST", form={**ALERT_FORM, "targets": "screens", "screen_ids": [SCREEN]}),
        Case("POST", form={**ALERT_FORM, "targets": "sites", "site_ids": [SITE]}),
    ],
    "alert_templates": [NamesNothing(("GET",), "the texts shared by all sites")],
    "alert_template_save": [
        NamesNothing(("POST",), "texts shared by all sites: only staff of all sites change them")
    ],
    "alert_confirm": [Case("POST", path={"alert_id": ALERT}, form={})],
    "alert_clear": [Case("POST", path={"alert_id": ALERT}, form={})],
    "webhook_list": [
        NamesNothing(("GET",), "lists the user's sites' webhooks"),
        Case("POST", form={"site_id": SITE, **WEBHOOK_FORM}),
    ],
    "webhook_edit": [
        Case("GET", path={"webhook_id": WEBHOOK}),
        Case("GET", path={"webhook_id": WEBHOOK}, htmx=True),
        Case("POST", path={"webhook_id": WEBHOOK}, form={**WEBHOOK_FORM, "enabled": "1"}),
    ],
    "webhook_test": [Case("POST", path={"webhook_id": WEBHOOK}, form={})],
    "webhook_secret": [Case("POST", path={"webhook_id": WEBHOOK}, form={})],
    "webhook_delete": [Case("POST", path={"webhook_id": WEBHOOK}, form={})],
    "queue_stats": [Case("GET", path={"site_id": SITE})],
    "queue_stats_csv": [Case("GET", path={"site_id": SITE})],
    "counter_home": [NamesNothing(("GET",), "lists the user's sites' counters")],
    "counter_console": [Case("GET", path={"counter_id": COUNTER})],
    "counter_action": [
        *(
            Case(
                "POST",
                path={"counter_id": COUNTER, "action": action},
                htmx=True,
                form=COUNTER_FORMS.get(action, {}),
            )
            for action in sorted(counter_views.ACTIONS - {"transfer"})
        ),
        Case(
            "POST",
            path={"counter_id": COUNTER, "action": "transfer"},
            htmx=True,
            form={"target": Ref("service", "service:{}")},
        ),
        Case(
            "POST",
            path={"counter_id": COUNTER, "action": "transfer"},
            htmx=True,
            form={"target": Ref("other_counter", "counter:{}")},
        ),
    ],
    "kiosk_page": [NamesNothing(("GET",), PUBLIC)],
    "kiosk_setup": [NamesNothing(("GET",), "a kiosk's own site, by its token")],
    "kiosk_ticket": [Case("POST", json={"service": SERVICE, "language": "ja"}, kiosk=True)],
    "alerts_cap": [NamesNothing(("POST",), "an API token's feed: areas map to sites by the rules")],
    "alerts_jma": [NamesNothing(("POST",), "an API token's feed: areas map to sites by the rules")],
    "api_openapi": [NamesNothing(("GET",), PUBLIC)],
    "api_notice_list": [NamesNothing(("GET",), "the notices of the token's site")],
    "api_notice_create": [
        Case(
            "POST",
            json={
                "texts": [{"language": "ja", "title": "お知らせ"}],
                "site_id": SITE,
                "image_id": MEDIA,
                "playlist_id": PLAYLIST,
            },
            api=True,
        )
    ],
    "api_notice": [Case("GET", path={"notice_id": NOTICE}, api=True)],
    "api_notice_submit": [Case("POST", path={"notice_id": NOTICE}, api=True)],
    "api_notice_approve": [Case("POST", path={"notice_id": NOTICE}, api=True)],
    "api_queue": [Case("GET", path={"site_id": SITE}, api=True)],
    "api_queue_stats": [Case("GET", path={"site_id": SITE}, api=True)],
    "api_ticket_issue": [Case("POST", path={"site_id": SITE}, json={"service": SERVICE}, api=True)],
    "api_screen_list": [NamesNothing(("GET",), "the screens of the token's site")],
    "api_screen": [Case("GET", path={"screen_id": SCREEN}, api=True)],
    "api_alert_list": [NamesNothing(("GET",), "the alerts of the token's site")],
    "api_alert_raise": [
        Case("POST", json={**API_ALERT, "targets": "screens", "screen_ids": [SCREEN]}, api=True),
        Case("POST", json={**API_ALERT, "targets": "sites", "site_ids": [SITE]}, api=True),
    ],
    "api_alert_clear": [Case("POST", path={"alert_id": ALERT}, api=True)],
    "api_token_list": [
        NamesNothing(("GET",), "the tokens of the user's sites"),
        Case("POST", form={"name": "robot", "site_id": SITE, "scopes": "notices:read"}),
    ],
    "api_token_revoke": [Case("POST", path={"token_id": API_TOKEN})],
    "ticket_status": [NamesNothing(("GET",), "public: a resident's ticket, by its secret id")],
    "ticket_image": [NamesNothing(("GET",), "public: a resident's ticket, by its secret id")],
    "ticket_qr": [NamesNothing(("GET",), "public: a resident's ticket, by its secret id")],
    "voice_file": [NamesNothing(("GET",), "public: a spoken clip named by its content")],
    "static": [NamesNothing((), PUBLIC)],
    "htmx": [NamesNothing((), PUBLIC)],
}


def _route_list() -> list[BaseRoute]:
    settings = Settings.load(environ={}, env_file=None, vendor_dir=PROJECT_ROOT / "node_modules")
    return routes(settings)


ROUTES = {str(getattr(r, "name", "")): r for r in _route_list()}


def test_the_walk_knows_every_route() -> None:
    """Each route, each of its methods and each of its path parameters is in the table;
    a route that takes a row id in its path is walked, never waved through."""
    assert len(ROUTES) == len(_route_list()), "two routes share a name"
    unknown = sorted(set(ROUTES) - set(TABLE))
    assert not unknown, f"teach tests/test_isolation.py how to walk {unknown}"
    assert not set(TABLE) - set(ROUTES), "the table names a route that no longer exists"
    for name, route in ROUTES.items():
        entries = TABLE[name]
        covered = {m for e in entries for m in ((e.method,) if isinstance(e, Case) else e.methods)}
        if not isinstance(route, Route):
            assert covered == set(), name
            continue
        assert covered == set(route.methods or ()) - {"HEAD"}, (name, covered)
        takes_ids = any(isinstance(c, IdConvertor) for c in route.param_convertors.values())
        for entry in entries:
            if isinstance(entry, NamesNothing):
                assert not takes_ids, f"{name} names a row in its path: walk it"
            else:
                assert set(entry.path) == set(route.param_convertors), name
                assert _refs(entry), f"{name}: a case that names nothing walks nothing"


# A form or JSON field a view reads that names a row: `..._id`, `..._ids`, a schedule's or
# transfer's `target`, the kiosk's `service`. `request_id` is a kiosk's own retry key.
ID_FIELD = re.compile(r'(?:optional_id|text|getlist|get|choice)\(\s*"(\w*_ids?|target|service)"')
NOT_A_ROW = {"request_id"}


def test_the_walk_knows_every_field_that_names_a_row() -> None:
    """Each id field a view module reads is walked by some route of that module."""
    walked: dict[str, set[str]] = {}
    for name, route in ROUTES.items():
        module = getattr(getattr(route, "endpoint", None), "__module__", "")
        for case in TABLE[name]:
            if isinstance(case, Case):
                fields = {field for where, field, _ in _refs(case) if where != "path"}
                walked.setdefault(module, set()).update(fields)
    for path in sorted((PROJECT_ROOT / "signage" / "views").glob("*.py")):
        module = f"signage.views.{path.stem}"
        read = set(ID_FIELD.findall(path.read_text())) - NOT_A_ROW
        missing = read - walked.get(module, set())
        assert not missing, f"{module} reads {sorted(missing)}: walk them in TABLE"


# --- the two sites ----------------------------------------------------------------------


@dataclass
class World:
    a: dict[str, int]
    b: dict[str, int]
    shared: dict[str, int]  # a notice, a picture and a playlist of all sites
    kiosk_token: str
    device: TestClient  # no staff session: what a kiosk sends
    clients: dict[str, TestClient]
    tokens: dict[str, str]


def _site(session: Session, code: str, name: str, now: datetime, tag: str) -> dict[str, int]:
    """One site with one of everything a request can name."""
    site = Site(code=code, name=name, name_en="", timezone="Asia/Tokyo", languages="ja,en")
    session.add(site)
    session.flush()
    today = now.astimezone(ZONE).date()
    session.add(QueueSite(site_id=site.id, opens_at="00:00", closes_at="23:59", day=today))
    media = Media(
        sha256=secrets.token_hex(32),
        display_name=f"{code}.png",
        format="png",
        width=8,
        height=8,
        size_bytes=100,
        site_id=site.id,
        renditions=[
            Rendition(
                name="fhd",
                width=8,
                height=8,
                content_type="image/png",
                sha256=secrets.token_hex(32),
                size_bytes=100,
            )
        ],
    )
    notice = Notice(
        site_id=site.id,
        status="pending",
        texts=[NoticeText(language="ja", title=f"{name}のお知らせ")],
    )
    session.add_all([media, notice])
    session.flush()
    playlist = Playlist(
        site_id=site.id,
        name=f"{code} 案内",
        items=[
            PlaylistItem(kind="notice", notice_id=notice.id, position=0),
            PlaylistItem(kind="clock", position=1),
        ],
    )
    service = QueueService(site_id=site.id, prefix="A", name="住民票", open=True)
    session.add_all([playlist, service])
    session.flush()
    first = QueueCounter(site_id=site.id, number=1, open=True, services=[service])
    second = QueueCounter(site_id=site.id, number=2, open=True, services=[service])
    group = ScreenGroup(site_id=site.id, name="1F")
    session.add_all([first, second, group])
    session.flush()
    screen = Screen(
        token_hash=secrets.token_hex(32),  # a paired device, so it can be revoked
        site_id=site.id,
        name="1F ロビー",
        layout="hall",
        default_playlist_id=playlist.id,
        groups=[group],
    )
    session.add(screen)
    session.flush()
    schedule = ScheduleEntry(
        name="平日", playlist_id=playlist.id, screen_id=screen.id, dayparts=[], days="all"
    )
    closure = Closure(site_id=site.id, day=today + timedelta(days=30), reason="年末")
    kiosk = Kiosk(site_id=site.id, name="入口", token_hash=kiosks.kiosk_token_hash(tag * 40))
    user = User(
        username=f"{code}-staff",
        display_name="Staff",
        password_hash="!",
        role=Role.EDITOR.value,
        site_id=site.id,
    )
    alert = Alert(
        source="manual",
        identifier=f"manual-{code}",
        level="severe",
        mode="takeover",
        drill=True,
        texts=[{"language": "ja", "headline": "避難", "body": ""}],
        targets={"screens": [screen.id]},
        screens=[screen.id],
        site_id=site.id,
        state="pending_confirmation",
        expires_at=now + timedelta(hours=1),
    )
    api_token = ApiToken(
        name=f"{code}-robot",
        token_hash=api_tokens.token_hash(tag * 43),
        scopes=" ".join(s for s in api_tokens.SCOPES if s != "alerts:feed"),
        site_id=site.id,
    )
    webhook = Webhook(
        site_id=site.id,
        name="RPA",
        url="http://127.0.0.1:9/hook",
        events="queue.call,ticket.status,screen.offline",
        secret="v1.sealed-elsewhere",
    )
    session.add_all([schedule, closure, kiosk, user, alert, api_token, webhook])
    tickets = {}
    for number, status in ((1, "called"), (2, "waiting"), (3, "held")):
        ticket = Ticket(
            site_id=site.id,
            service_id=service.id,
            day=today,
            number=number,
            label=f"A-{number:03d}",
            status=status,
            public_id=secrets.token_urlsafe(18),
            issued_at=now,
            joined_at=now,
            called_at=now if number != 2 else None,
            last_called_at=now if number != 2 else None,
            counter_id=first.id if status == "called" else None,
        )
        session.add(ticket)
        tickets[status] = ticket
    service.sequence_day, service.last_number = today, 3
    session.flush()
    return {
        "site": site.id,
        "user": user.id,
        "notice": notice.id,
        "media": media.id,
        "playlist": playlist.id,
        "item": playlist.items[0].id,
        "screen": screen.id,
        "group": group.id,
        "schedule": schedule.id,
        "closure": closure.id,
        "service": service.id,
        "counter": first.id,
        "other_counter": second.id,
        "kiosk": kiosk.id,
        "held": tickets["held"].id,
        "waiting": tickets["waiting"].id,
        "alert": alert.id,
        "api_token": api_token.id,
        "webhook": webhook.id,
    }


ROLES = (Role.ADMIN, Role.PUBLISHER, Role.EDITOR, Role.COUNTER)
EVERYWHERE = "publisher of all sites"


@pytest.fixture
def world(client: TestClient, db: sa.Engine, settings: Settings) -> Iterator[World]:
    now = datetime.now(UTC)
    sessions: dict[str, str] = {}
    with Session(db) as session, session.begin():
        a = _site(session, "honcho", "本庁舎", now, "a")
        b = _site(session, "kita", "北支所", now, "b")
        media = Media(
            sha256=secrets.token_hex(32),
            display_name="all.png",
            format="png",
            width=8,
            height=8,
            size_bytes=100,
            site_id=None,
        )
        notice = Notice(
            site_id=None, status="approved", texts=[NoticeText(language="ja", title="全拠点")]
        )
        playlist = Playlist(site_id=None, name="全拠点", items=[])
        session.add_all([media, notice, playlist])
        session.flush()
        shared = {"media": media.id, "notice": notice.id, "playlist": playlist.id}
        # Each role of site A, and a publisher of all sites, is logged in by a session row
        # (logging in is tested in test_auth.py; argon2 would take most of this time).
        for role, site in [*((r, a["site"]) for r in ROLES), (Role.PUBLISHER, None)]:
            user = User(
                username=f"{'a' if site else 'all'}-{role.value}",
                display_name=role.value,
                password_hash="!",
                role=role.value,
                site_id=site,
            )
            session.add(user)
            session.flush()
            who = role.value if site else EVERYWHERE
            sessions[who] = secrets.token_urlsafe(32)
            key = hashlib.sha256(sessions[who].encode()).hexdigest()
            session.add(StaffSession(id=key, user_id=user.id))
        session.add(
            PairingRequest(
                code="ABC-234",
                token_hash=secrets.token_hex(32),
                expires_at=now + timedelta(hours=1),
            )
        )
    for ids in (a, b):
        path = screenshot_path(settings, ids["screen"])
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (4, 4)).save(path, "PNG")
    clients: dict[str, TestClient] = {}
    tokens: dict[str, str] = {}
    for who in sessions:
        person = client if not clients else TestClient(client.app, follow_redirects=False)
        person.cookies.set("signage_session", sessions[who])
        clients[who] = person
        tokens[who] = csrf_token(person, "/account")
    device = TestClient(client.app, follow_redirects=False)
    yield World(a, b, shared, "a" * 40, device, clients, tokens)


# --- walking ------------------------------------------------------------------------------


def _refs(case: Case) -> list[tuple[str, str, Ref]]:
    """(where, name, ref) of every slot: where is "path", "form" or "json"."""
    found = []
    for where, values in (("path", case.path), ("form", case.form), ("json", case.json)):
        for name, value in (values or {}).items():
            items = value if isinstance(value, list) else [value]
            found += [(where, name, item) for item in items if isinstance(item, Ref)]
    return found


def _fill(value: object, ids: Mapping[str, int], swap: Ref | None, other: int | None) -> Any:
    if isinstance(value, list):
        return [_fill(v, ids, swap, other) for v in value]
    if isinstance(value, Ref):
        chosen = other if value is swap and other is not None else ids[value.kind]
        return chosen if value.fmt is None else value.fmt.format(chosen)
    return value


def _request(
    world: World, route: Route, case: Case, role: str, swap: Ref | None, other: int | None
) -> httpx.Response:
    def fill(values: Mapping[str, object]) -> dict[str, Any]:
        return {k: _fill(v, world.a, swap, other) for k, v in values.items()}

    path = route.url_path_for(route.name, **{k: v for k, v in fill(case.path).items()})
    headers = {"HX-Request": "true"} if case.htmx else {}
    if case.kiosk:
        headers["Authorization"] = f"Bearer {world.kiosk_token}"
        return world.device.request(case.method, path, json=fill(case.json or {}), headers=headers)
    if case.api:
        headers["Authorization"] = f"Bearer {'a' * 43}"  # site A's API token
        if case.method == "GET":
            return world.device.get(path, headers=headers)
        return world.device.request(case.method, path, json=fill(case.json or {}), headers=headers)
    client = world.clients[role]
    if case.method == "GET":
        return client.get(path, headers=headers)
    form = {**fill(case.form or {}), "csrf_token": world.tokens[role]}
    return client.request(case.method, path, data=form, headers=headers)


def dump(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(table.select())), key=repr)
            for table in Base.metadata.sorted_tables
        }


def restore(engine: sa.Engine, saved: Mapping[str, list[tuple[Any, ...]]]) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
        for table in Base.metadata.sorted_tables:
            keys = list(table.columns.keys())
            if saved[table.name]:
                conn.execute(
                    table.insert(), [dict(zip(keys, row, strict=True)) for row in saved[table.name]]
                )


@pytest.mark.parametrize(
    "name", sorted(n for n, e in TABLE.items() if any(isinstance(c, Case) for c in e))
)
def test_no_route_reaches_another_sites_objects(name: str, world: World, db: sa.Engine) -> None:
    route = ROUTES[name]
    assert isinstance(route, Route)
    reached = False
    before = dump(db)  # every refused request leaves this; every control is undone to it
    for case in [c for c in TABLE[name] if isinstance(c, Case)]:
        for role in [Role.ADMIN.value] if case.kiosk or case.api else [r.value for r in ROLES]:
            answers = []
            for swap in [ref for _, _, ref in _refs(case)]:
                for other in (world.b[swap.kind], MISSING):
                    response = _request(world, route, case, role, swap, other)
                    assert dump(db) == before, (name, case, role, swap, response.status_code)
                    answers.append((swap, other, response.status_code, response.text[-300:]))
            control = _request(world, route, case, role, None, None)
            restore(db, before)
            who = f"site A's {role}"
            if case.kiosk or case.api:
                who = "site A's kiosk" if case.kiosk else "site A's API token"
            assert control.status_code != 404 and control.status_code < 500, (
                f"{who}: {case} with site A's objects: {control.status_code} {control.text[-300:]}"
            )
            if control.status_code == 403:
                # This role may not use the route at all. It learns nothing either: site
                # B's object and a missing one get the same refusal.
                statuses = [status for _, _, status, _ in answers]
                assert set(statuses) <= {403, 404}, (name, role, answers)
                assert statuses[::2] == statuses[1::2], (name, role, answers)
                continue
            reached = True
            for swap, other, status, text in answers:
                assert status == 404, (
                    f"{who}: {case.method} {name} naming {swap} {other}: {status} {text}"
                )
    assert reached, f"no role of site A reaches {name}: the walk proves nothing"


# --- the defects of issue 10, one by one ---------------------------------------------------


def _post(world: World, who: str, path: str, data: dict[str, object]) -> httpx.Response:
    form = {**data, "csrf_token": world.tokens[who]}
    return world.clients[who].post(path, data=form)


def test_a_sites_playlist_takes_its_own_and_shared_notices_only(
    world: World, db: sa.Engine
) -> None:
    """Issue 10: a publisher of site A put site B's pending notice on a site A playlist;
    once B approved it, A's screens played it."""
    items = f"/playlists/{world.a['playlist']}/items"
    before = dump(db)
    for notice in (world.b["notice"], MISSING):
        added = _post(world, "publisher", items, {"kind": "notice", "notice_id": notice})
        assert added.status_code == 404, added.text[-300:]
    picture = _post(world, "publisher", items, {"kind": "image", "media_id": world.b["media"]})
    assert picture.status_code == 404
    assert dump(db) == before
    for kind, key in (("notice", "notice_id"), ("image", "media_id")):
        shared = _post(
            world,
            "publisher",
            items,
            {"kind": kind, key: world.shared[kind.replace("image", "media")]},
        )
        assert shared.status_code == 303, shared.text[-300:]


def test_a_notice_takes_a_picture_of_its_own_site_or_a_shared_one(
    world: World, db: sa.Engine
) -> None:
    """Issue 10: an editor of site A attached site B's picture to a site A notice."""
    form = {
        **{k: v for k, v in NOTICE_FORM.items() if not isinstance(v, Ref)},
        "site_id": world.a["site"],
    }
    before = dump(db)
    for path in ("/notices/new", f"/notices/{world.a['notice']}"):
        refused = _post(world, "editor", path, {**form, "image_id": world.b["media"]})
        assert refused.status_code == 404, refused.text[-300:]
        assert dump(db) == before
    made = _post(world, "editor", "/notices/new", {**form, "image_id": world.shared["media"]})
    assert made.status_code == 303, made.text[-300:]


def test_what_is_shared_by_all_sites_names_only_shared_things(world: World, db: sa.Engine) -> None:
    """A playlist of all sites plays on every site's screens, so even staff of all sites
    cannot put one site's notice or picture on it; site staff may use it, not change it."""
    items = f"/playlists/{world.shared['playlist']}/items"
    before = dump(db)
    for kind, key, value in (
        ("notice", "notice_id", world.b["notice"]),
        ("image", "media_id", world.a["media"]),
    ):
        refused = _post(world, EVERYWHERE, items, {"kind": kind, key: value})
        assert refused.status_code == 404, refused.text[-300:]
    site_staff = _post(
        world, "publisher", items, {"kind": "notice", "notice_id": world.shared["notice"]}
    )
    assert site_staff.status_code == 403
    assert dump(db) == before
    shared = _post(
        world, EVERYWHERE, items, {"kind": "notice", "notice_id": world.shared["notice"]}
    )
    assert shared.status_code == 303, shared.text[-300:]


def test_pages_offer_nothing_of_another_site(world: World, db: sa.Engine) -> None:
    """Lists use the same rule as lookups: site A's administrator sees no trace of site B
    (named 北支所, code kita) on any list or form, and cannot add a site or an account for
    all sites."""
    pages = [
        "/notices",
        "/notices/new",
        "/media",
        "/playlists",
        f"/playlists/{world.a['playlist']}",
        "/screens",
        "/screens/pair",
        "/schedules",
        "/schedules/new",
        "/closures",
        "/queue",
        "/counter",
        "/users",
        "/sites",
        "/fleet",
    ]
    for page in pages:
        response = world.clients["admin"].get(page)
        assert response.status_code in (200, 303), page
        assert "北支所" not in response.text and "kita" not in response.text, page
    assert "本庁舎" in world.clients["admin"].get("/sites").text
    before = dump(db)
    added = _post(world, "admin", "/sites", {**SITE_FORM, "code": "minami", "name": "南支所"})
    assert added.status_code == 403
    everywhere = {**USER_FORM, "site_id": "", "username": "anyone", "password": "a long password"}
    assert _post(world, "admin", "/users", everywhere).status_code == 422
    assert dump(db) == before


def test_an_id_too_large_for_any_row_is_not_found(world: World, db: sa.Engine) -> None:
    """PostgreSQL's integer holds 10 digits. Never a 500: a form field of more than 9 digits
    is a mistake in the form (422, `web.row_id`); 9 digits that name no row are a 404."""
    before = dump(db)
    items = f"/playlists/{world.a['playlist']}/items"
    for value, status in (("999999999999", 422), ("2147483648", 422), ("999999999", 404)):
        added = _post(world, "publisher", items, {"kind": "notice", "notice_id": value})
        assert added.status_code == status, added.text[-300:]
    assert dump(db) == before
