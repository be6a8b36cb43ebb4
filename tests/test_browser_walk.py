"""Every click works: for each role, a person in a real browser (Japanese UI, htmx on)
opens every staff page the route list has, follows every link, and uses every form with
valid input (each button) and with one invalid value.

The walk fails on a server error, a console error, an English message left in the
Japanese UI, a link that does not open, an action with no visible result, valid input
refused, invalid input accepted without a message, or a staff page it never reached.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from babel.messages.pofile import read_po
from PIL import Image
from starlette.routing import Route

from content.languages import LANGUAGES as CONTENT_LANGUAGES
from signage import totp
from signage.i18n import LANGUAGES, TRANSLATIONS_DIR
from signage.routes import routes
from signage.settings import Settings

from .browser import Page
from .conftest import PG_URL, LiveServer

# GET routes that are not pages of the staff UI: screens, kiosks, residents' phones and
# files (pictures, voice clips, screenshots a player sent), checked where they are linked.
NOT_STAFF = {
    "healthz",
    "readyz",
    "metrics",
    "player_redirect",
    "player_page",
    "player_service_worker",
    "layout_css",
    "fonts_css",
    "fonts_index",
    "font_file",
    "kiosk_page",
    "kiosk_setup",
    "ticket_status",
    "ticket_image",
    "ticket_qr",
    "voice_file",
    "media_file",
    "screen_screenshot",
    "two_step_qr",  # a picture on the two-step set-up page
    "login_two_step",  # the second step of a login, reached only with a pending login
    # The integration API: JSON for systems with a token (tests/test_api_v1.py).
    "api_openapi",
    "api_notice_list",
    "api_notice",
    "api_queue",
    "api_queue_stats",
    "api_screen_list",
    "api_screen",
    "api_alert_list",
}
_CONTENT = {
    "notice_list",
    "notice_new",
    "notice_edit",
    "media_list",
    "playlist_list",
    "playlist_detail",
    "schedule_list",
    "schedule_new",
    "schedule_edit",
    "screen_list",
    "screen_detail",
    "screen_preview",
    "screen_pair",
    "fleet",
}
_QUEUE = {"queue_home", "queue_setup", "queue_stats", "queue_stats_csv"}
_ADMIN = {
    "user_list",
    "user_edit",
    "site_list",
    "site_edit",
    "api_token_list",
    "webhook_list",
    "webhook_edit",
}
_ALERTS = {"alert_list", "alert_new", "alert_templates"}
# (demo account, staff pages the role has no business on: no link leads there)
ROLES = {
    "admin": ("admin", set()),
    "publisher": ("sato", _ADMIN | {"alert_templates"}),
    "editor": (
        "tanaka",
        _ADMIN
        | _QUEUE
        | {"audit_log", "closure_list"}
        | _ALERTS
        | {"counter_home", "counter_console", "screen_pair", "schedule_new", "two_step"},
    ),
    "counter": (
        "suzuki",
        _ADMIN | _QUEUE | _CONTENT | _ALERTS | {"audit_log", "closure_list", "two_step"},
    ),
}
# Buttons whose effect takes something away: used last on their page.
DESTRUCTIVE = re.compile(r"revoke|remove|cancel|close|delete|withdraw|reject", re.I)
# A 4xx answer is logged by the browser and by htmx; the walk checks those answers itself
# (refused valid input, or the message shown for invalid input).
NETWORK_4XX = re.compile(r"responded with a status of 4\d\d|Response Status Error Code 4\d\d")
WALK_JS = (Path(__file__).parent / "walk.js").read_text()


def _english_ids() -> list[str]:
    """Message ids whose Japanese differs from the English (those must never show)."""
    path = TRANSLATIONS_DIR / "ja" / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as f:
        catalog = read_po(f, locale="ja")
    ids = []
    for message in catalog:
        text = message.id
        if isinstance(text, str) and text and message.string != text and "%(" not in text:
            ids.append(" ".join(text.split()))
    return ids


@dataclass
class Walk:
    page: Page
    base: str
    role: str
    password: str
    picture: Path
    staff_routes: dict[str, Route]
    problems: list[str] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)
    walked: set[str] = field(default_factory=set)
    checked_links: set[str] = field(default_factory=set)
    english: set[str] = field(default_factory=set)
    queue: list[str] = field(default_factory=list)
    n: int = 0
    actions: int = 0

    def route_of(self, url: str) -> str | None:
        parts = urlsplit(url)
        for name, route in self.staff_routes.items():
            if route.path_regex.match(parts.path):
                return name
        return None

    def problem(self, where: str, text: str) -> None:
        self.problems.append(f"[{self.role}] {where}: {text}")

    def check_page(self, where: str) -> None:
        """Console errors and server errors so far, and English left on the page."""
        self.page.drain()
        errors = [e for e in self.page.errors if not NETWORK_4XX.search(e)]
        self.page.errors.clear()
        for error in errors:
            self.problem(where, f"console: {error}")
        for text in self.page.eval("window.__walk.untranslated()") or []:
            if text not in self.english:  # each once, where first seen
                self.english.add(text)
                self.problem(where, f"English left in the Japanese UI: {text!r}")
        route = self.route_of(self.page.eval("location.href"))
        if route:
            self.reached.add(route)

    def goto(self, url: str) -> None:
        self.page.goto(url)
        self.page.wait_for("window.__walk && document.readyState === 'complete'")

    def login(self, username: str) -> None:
        self.goto(self.base + "/login")
        assert "ログイン" in self.page.text("h1")
        self.check_page("/login")
        self.page.fill("#f-username", username)
        self.page.fill("#f-password", "not the password at all")
        self.submit_login()
        if not self.page.eval("window.__walk.errorsShown().length"):
            self.problem("/login", "a wrong password shows no message")
        self.page.fill("#f-username", username)
        self.page.fill("#f-password", self.password)
        self.submit_login()
        assert self.page.eval("location.pathname") == "/", self.page.text("main")
        self.check_page("/ after login")

    def submit_login(self) -> None:
        self.page.eval("window.__walk.mark = 1")
        self.page.click("form[action='/login'] button[type=submit]")
        self.page.wait_for("window.__walk.mark !== 1 && document.readyState === 'complete'")

    def harvest(self, where: str) -> None:
        links = sorted(set(self.page.eval("window.__walk.links()") or []))
        new = [u.split("#")[0] for u in links if u.split("#")[0] not in self.checked_links]
        new = sorted(set(new))
        self.checked_links.update(new)
        if new:
            statuses = self.page.eval(f"window.__walk.statuses({json.dumps(new)})")
            for url, status, final in statuses:
                if status != 200 or final == "/login":
                    self.problem(where, f"link {url} answers {status} ({final})")
        # Of the links to one page with an id, use the last: lists start with oneself
        # (the walker's own account), whose password the walk should not reset.
        chosen: dict[str, str] = {}
        for url in self.page.eval("window.__walk.links()") or []:
            route = self.route_of(url)
            if route is not None:
                self.reached.add(route)
                chosen[route] = url
        for route, url in chosen.items():
            if route not in self.walked and url not in self.queue:
                self.queue.append(url)

    def crawl(self) -> None:
        self.queue.append(self.base + "/")
        while self.queue:
            url = self.queue.pop(0)
            route = self.route_of(url)
            if route is None or route in self.walked:
                continue
            self.walked.add(route)
            self.visit(url)

    def visit(self, url: str) -> None:
        where = urlsplit(url).path
        self.goto(url)
        self.check_page(where)
        self.harvest(where)
        forms = self.page.eval("window.__walk.describe()") or []
        jobs: list[tuple[bool, int, dict[str, Any], dict[str, Any] | None]] = []
        seen: set[str] = set()
        for form in forms:
            signature = json.dumps([form["action"], form["fields"], form["buttons"]])
            shape = json.dumps(
                [
                    re.sub(r"\d+", "N", form["action"]),
                    form["fields"],
                    [b["name"] + b["value"] for b in form["buttons"]],
                ]
            )
            if shape in seen:  # the same form for each row of a list: use the first
                continue
            seen.add(shape)
            form["signature"] = signature
            if form["method"] == "post" and not form["buttons"]:
                continue  # shown to read only (e.g. a schedule to an editor): no button
            jobs.append((False, 0, form, None))  # one invalid value
            buttons = form["buttons"] or [None]
            for button in buttons:
                label = "" if button is None else button["text"] + button["value"]
                late = bool(DESTRUCTIVE.search(label + " " + form["action"]))
                jobs.append((late, 1, form, button))
        jobs.sort(key=lambda job: (job[0], job[1]))
        for _, valid, form, button in jobs:
            if valid:
                self.use(url, form, button)
            else:
                self.use_invalid(url, form)

    def find(self, url: str, form: dict[str, Any]) -> dict[str, Any] | None:
        """The form on a fresh load of the page (its index may have moved)."""
        self.goto(url)
        forms = self.page.eval("window.__walk.describe()") or []
        for candidate in forms:
            if json.dumps([candidate["action"], candidate["fields"]]) == json.dumps(
                [form["action"], form["fields"]]
            ):
                return dict(candidate)
        return None

    def overrides(self, form: dict[str, Any]) -> dict[str, str]:
        self.n += 1
        values = {
            "username": f"walker{self.n}",
            "prefix": "W" + chr(65 + self.n % 26),
            "current_password": self.password,
            "password": f"a long walk password {self.n}",
            "new_password": f"a long walk password {self.n}",
        }
        if "title_ja" in form["fields"]:
            values["title_ja"] = f"歩行テスト{self.n}"
        if form["action"].endswith("/call") and "label" in form["fields"]:
            values["label"] = self.page.eval(
                "document.querySelector('[data-waiting]')?.dataset.waiting || ''"
            )
        if "target" in form["fields"] and form["action"].startswith("/schedules"):
            # A screen whose layout has every area (the hall), not the queue board.
            values["target"] = self.page.eval(
                "[...document.querySelectorAll('#f-target option')]"
                ".find(o => o.text.includes('待合ホール'))?.value || ''"
            )
        if form["action"] == "/alerts/new" and "place" in form["fields"]:
            # Every blank a template may have; a drill, so nothing looks like a real alert.
            values |= {"place": "東口", "time": "14:30", "floor": "3F", "drill": "1"}
        if form["action"].startswith("/sites"):
            values["code"] = f"walk{self.n}"
        if form["action"].startswith("/api-tokens") and "name" in form["fields"]:
            values |= {"name": f"walker{self.n}", "scopes": "1"}  # every scope
        if form["action"].startswith("/webhooks") and "url" in form["fields"]:
            # A loopback port nothing listens on: the server's attempts fail at once.
            values["url"] = f"http://127.0.0.1:9/walk{self.n}"
        if form["action"] == "/account/two-step":
            # What the authenticator app would show for the key on the page.
            secret = str(self.page.eval("document.getElementById('two-step-secret').textContent"))
            values["code"] = totp.code_at(secret.replace(" ", ""), totp.step_of(time.time()))
        if form["action"] == "/screens/pair":
            token = secrets.token_urlsafe(24)
            values["code"] = self.page.eval(
                "fetch('/player/pair', {method: 'POST', headers: {'content-type':"
                f" 'application/json'}}, body: JSON.stringify({{token: '{token}'}})}})"
                ".then(r => r.json()).then(j => j.code)"
            )
        return values

    def prepare(self, form: dict[str, Any]) -> None:
        index = form["index"]
        self.page.eval(
            f"window.__walk.fillValid({index}, {self.n}, {json.dumps(self.overrides(form))})"
        )
        if form["files"]:
            self.page.send("DOM.enable")
            self.page.eval(
                f"window.__walk.forms()[{index}].querySelector('input[type=file]')"
                ".setAttribute('data-walk-file', '1')"
            )
            self.page.set_files("[data-walk-file]", [self.picture])

    def submit(self, where: str, form: dict[str, Any], button: int) -> tuple[str, Any]:
        mark = self.page.eval(f"window.__walk.click({form['index']}, {button})")
        self.actions += 1
        try:
            how = self.page.wait_for(f"window.__walk.done({mark})", timeout=15)
        except TimeoutError:
            return "nothing", None
        return how, self.page.eval("window.__walk.lastStatus()") if how == "htmx" else None

    def use(self, url: str, old: dict[str, Any], button: dict[str, Any] | None) -> None:
        where = f"{urlsplit(url).path} form {old['action']}"
        form = self.find(url, old)
        if form is None:
            return  # gone after an earlier action on the page (a removed row)
        index = 0
        if button is not None:
            same = [b for b in form["buttons"] if b["text"] == button["text"]]
            if not same or same[0]["disabled"]:
                return  # not possible in this state (e.g. recall before a call)
            index = same[0]["i"]
            where += f" button {button['text']!r}"
        self.prepare(form)
        if not self.page.eval(f"window.__walk.forms()[{form['index']}].checkValidity()"):
            self.problem(where, "the walk could not fill the form validly")
            return
        before = self.page.eval("[location.href, document.body.innerText]")
        how, status = self.submit(where, form, index)
        if how == "nothing":
            self.problem(where, "no visible result within 15 s")
            return
        self.check_page(where)
        shown = self.page.eval("window.__walk.errorsShown()")
        if (status is not None and status >= 400) or shown:
            self.problem(where, f"valid input refused ({status}): {shown}")
        after = self.page.eval("[location.href, document.body.innerText]")
        if form["method"] == "post" and after == before:
            self.problem(where, f"nothing on the page shows the result ({how})")
        route = self.route_of(self.page.eval("location.href"))
        if route and route not in self.walked:
            self.queue.append(self.page.eval("location.href"))

    def use_invalid(self, url: str, old: dict[str, Any]) -> None:
        where = f"{urlsplit(url).path} form {old['action']} (invalid)"
        form = self.find(url, old)
        if form is None:
            return
        self.prepare(form)
        what = self.page.eval(f"window.__walk.makeInvalid({form['index']})")
        if what is None:
            return  # nothing a person can type wrong (buttons only)
        enabled = [b for b in form["buttons"] if not b["disabled"]]
        if form["buttons"] and not enabled:
            return
        how, status = self.submit(where, form, enabled[0]["i"] if enabled else 0)
        where += f" {what}"
        if how == "nothing":
            self.problem(where, "no visible result within 15 s")
            return
        self.check_page(where)
        shown = self.page.eval("window.__walk.errorsShown()")
        if form["method"] == "post" and not shown:
            self.problem(where, f"invalid input accepted or no message ({how}, {status})")

    def language_and_logout(self) -> None:
        self.goto(self.base + "/")
        self.page.eval("window.__walk.mark = 2")
        self.page.click("button[name=language][value=en]")
        self.page.wait_for("document.documentElement.lang === 'en' && window.__walk.mark !== 2")
        if "Dashboard" not in self.page.text("header"):
            self.problem("language", "English was chosen but the menu is not in English")
        self.page.eval("window.__walk.mark = 3")
        self.page.click("button[name=language][value=ja]")
        self.page.wait_for("document.documentElement.lang === 'ja' && window.__walk.mark !== 3")
        self.check_page("language")
        self.page.eval("window.__walk.mark = 4")
        self.page.click("header form[action='/logout'] button")
        self.page.wait_for("location.pathname === '/login' && window.__walk.mark !== 4")
        self.goto(self.base + "/")
        if self.page.eval("location.pathname") != "/login":
            self.problem("logout", "the staff UI still opens after logging out")


def _roles() -> list[str]:
    # CI runs the suite on SQLite and on PostgreSQL: the whole walk on SQLite, one role on
    # PostgreSQL (the pages and forms are the same; the database differs).
    return ["publisher"] if PG_URL else list(ROLES)


@pytest.mark.parametrize("role", _roles())
def test_every_click_works(
    role: str, live_server: LiveServer, browser: Page, settings: Settings, tmp_path: Path
) -> None:
    loaded = live_server.cli("load-demo")
    assert loaded.returncode == 0, loaded.stderr
    username, not_for_role = ROLES[role]
    found = re.search(rf"^\s+{username}\s+(\S+)", loaded.stdout, re.M)
    assert found, loaded.stdout
    picture = tmp_path / "walk.png"
    Image.new("RGB", (640, 360), "navy").save(picture)
    staff_routes = {
        r.name: r
        for r in routes(settings)
        if isinstance(r, Route) and "GET" in (r.methods or set()) and r.name not in NOT_STAFF
    }
    page = browser
    page.send("Network.enable")
    # Languages are named in their own language (English, Tagalog, ...) in both UIs.
    names = [*LANGUAGES.values(), *CONTENT_LANGUAGES.values()]
    source = (
        WALK_JS
        + f"\nwindow.__walk.msgids = new Set({json.dumps(_english_ids())});"
        + f"\nfor (const n of {json.dumps(names)}) window.__walk.allowedEnglish.add(n);"
    )
    page.send("Page.addScriptToEvaluateOnNewDocument", source=source)
    walk = Walk(page, live_server.url, role, found.group(1), picture, staff_routes)

    walk.login(username)
    walk.crawl()
    walk.language_and_logout()

    expected = set(staff_routes) - not_for_role
    missing = sorted(expected - walk.reached)
    assert not missing, f"staff pages the {role} walk never reached: {missing}"
    unexpected = sorted((walk.reached & not_for_role) - {"login"})
    assert not unexpected, f"the {role} reached pages not meant for the role: {unexpected}"
    assert walk.actions > 0
    assert not walk.problems, "\n".join(walk.problems)
