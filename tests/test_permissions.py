"""Who may do what: one table (`signage/permissions.py`), asked by views, domain code and
templates; no other module keeps its own set of roles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from signage.errors import Forbidden
from signage.models import Role, User
from signage.permissions import PERMISSIONS, Permission, allowed, require, roles_with
from tests.conftest import add_site, add_user, login

ROOT = Path(__file__).resolve().parent.parent
P = Permission

# Who could do what before the table existed (the role sets the views and domain modules
# kept), written out by hand: the table must say exactly this.
EXPECTED: dict[Permission, set[Role]] = {
    P.SEE_DASHBOARD: set(Role),
    P.USE_ACCOUNT: set(Role),
    P.USE_TWO_STEP: {Role.ADMIN, Role.PUBLISHER},
    P.MANAGE_SITES: {Role.ADMIN},
    P.MANAGE_USERS: {Role.ADMIN},
    P.SEE_AUDIT: {Role.ADMIN, Role.PUBLISHER},
    P.EDIT_NOTICES: {Role.ADMIN, Role.PUBLISHER, Role.EDITOR},
    P.APPROVE_NOTICES: {Role.ADMIN, Role.PUBLISHER},
    P.UPLOAD_MEDIA: {Role.ADMIN, Role.PUBLISHER, Role.EDITOR},
    P.SEE_PLAYLISTS: {Role.ADMIN, Role.PUBLISHER, Role.EDITOR},
    P.EDIT_PLAYLISTS: {Role.ADMIN, Role.PUBLISHER},
    P.SEE_SCHEDULES: {Role.ADMIN, Role.PUBLISHER, Role.EDITOR},
    P.PLAN_SCHEDULES: {Role.ADMIN, Role.PUBLISHER},
    P.MANAGE_CLOSURES: {Role.ADMIN, Role.PUBLISHER},
    P.SEE_SCREENS: {Role.ADMIN, Role.PUBLISHER, Role.EDITOR},
    P.MANAGE_SCREENS: {Role.ADMIN, Role.PUBLISHER},
    P.PAIR_SCREENS: {Role.ADMIN, Role.PUBLISHER},
    P.SET_UP_QUEUE: {Role.ADMIN, Role.PUBLISHER},
    P.SEE_QUEUE_STATS: {Role.ADMIN, Role.PUBLISHER},
    P.WORK_COUNTER: {Role.ADMIN, Role.PUBLISHER, Role.COUNTER},
    P.RAISE_ALERTS: {Role.ADMIN, Role.PUBLISHER},
    P.EDIT_ALERT_TEMPLATES: {Role.ADMIN},
    P.MANAGE_API_TOKENS: {Role.ADMIN},
    P.MANAGE_WEBHOOKS: {Role.ADMIN},
}


def test_the_table_says_who_could_do_what_before() -> None:
    assert set(PERMISSIONS) == set(Role)
    assert set(EXPECTED) == set(Permission)
    for permission, roles in EXPECTED.items():
        assert set(roles_with(permission)) == roles, permission
        for role in Role:
            assert allowed(User(role=role.value), permission) == (role in roles)


def test_require_refuses_with_a_403_and_its_message() -> None:
    editor = User(role=Role.EDITOR.value)
    require(editor, P.EDIT_NOTICES)
    with pytest.raises(Forbidden) as refused:
        require(editor, P.APPROVE_NOTICES, "Only publishers can approve notices.")
    assert refused.value.status_code == 403
    assert refused.value.message == "Only publishers can approve notices."
    assert not allowed(None, P.SEE_DASHBOARD)


def _doc_matrix() -> dict[Permission, set[Role]]:
    text = (ROOT / "docs/security.md").read_text()
    section = text.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    roles = [Role(name) for name in header[1:-1]]
    matrix: dict[Permission, set[Role]] = {}
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        permission = Permission(cells[0].strip("`"))
        marks = cells[1 : 1 + len(roles)]
        assert set(marks) <= {"yes", "—"}, row
        matrix[permission] = {
            role for role, mark in zip(roles, marks, strict=True) if mark == "yes"
        }
    assert set(roles) == set(Role)
    return matrix


def test_docs_show_the_table() -> None:
    assert _doc_matrix() == {p: set(roles_with(p)) for p in Permission}


# Where a role is data (a user's role being set, labelled or seeded), not a permission.
ROLE_AS_DATA = {
    "signage/permissions.py",
    "signage/models.py",
    "signage/words.py",
    "signage/demo.py",
    "signage/users.py",  # user management: the role a user is given
    "signage/cli.py",  # the first administrator
    "signage/api_tokens.py",  # the role an API token's never-stored user is given
}
ROLE_CHECK = re.compile(r"\bRole\.[A-Z]|\.role\s*(==|!=|\bin\b|\bnot in\b)")
TEMPLATE_ROLE_CHECK = re.compile(r"\.role\s*(==|!=|\bin\b|\bnot in\b)")


def test_no_module_keeps_its_own_roles() -> None:
    found = []
    for path in sorted((ROOT / "signage").rglob("*.py")):
        name = str(path.relative_to(ROOT))
        if name in ROLE_AS_DATA or "/migrations/" in name:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if ROLE_CHECK.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    for path in sorted((ROOT / "signage/templates").rglob("*.html")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if TEMPLATE_ROLE_CHECK.search(line):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not found, "ask signage.permissions instead:\n" + "\n".join(found)


def test_the_check_catches_a_role_set() -> None:
    """The pattern above finds the kinds of checks the table replaced."""
    for line in (
        "MANAGERS = {Role.ADMIN, Role.PUBLISHER}",
        "if user.role not in MANAGERS:",
        'can_audit = user.role == "admin"',
        "@staff_view(Role.ADMIN)",
    ):
        assert ROLE_CHECK.search(line), line
    assert TEMPLATE_ROLE_CHECK.search('{% if user.role in ("admin", "publisher") %}')
    assert not ROLE_CHECK.search("require(user, Permission.SET_UP_QUEUE)")


# A page each permission opens, and the link to it in the menu (if it has one).
PAGES: list[tuple[str, Permission, str | None]] = [
    ("/", P.SEE_DASHBOARD, None),
    ("/account", P.USE_ACCOUNT, None),
    ("/users", P.MANAGE_USERS, 'href="/users"'),
    ("/sites", P.MANAGE_SITES, 'href="/sites"'),
    ("/audit", P.SEE_AUDIT, 'href="/audit"'),
    ("/notices", P.EDIT_NOTICES, 'href="/notices"'),
    ("/media", P.UPLOAD_MEDIA, 'href="/media"'),
    ("/playlists", P.SEE_PLAYLISTS, 'href="/playlists"'),
    ("/schedules", P.SEE_SCHEDULES, 'href="/schedules"'),
    ("/closures", P.MANAGE_CLOSURES, 'href="/closures"'),
    ("/screens", P.SEE_SCREENS, 'href="/screens"'),
    ("/fleet", P.SEE_SCREENS, 'href="/fleet"'),
    ("/screens/pair", P.PAIR_SCREENS, None),
    ("/queue", P.SET_UP_QUEUE, 'href="/queue"'),
    ("/queue/{site}/stats", P.SEE_QUEUE_STATS, None),
    ("/counter", P.WORK_COUNTER, 'href="/counter"'),
    ("/alerts", P.RAISE_ALERTS, 'href="/alerts"'),
    ("/api-tokens", P.MANAGE_API_TOKENS, 'href="/api-tokens"'),
    ("/webhooks", P.MANAGE_WEBHOOKS, 'href="/webhooks"'),
]


@pytest.mark.parametrize("role", list(Role), ids=str)
def test_pages_and_menu_follow_the_table(role: Role, client: TestClient, db: sa.Engine) -> None:
    site = add_site(db)
    add_user(db, "someone", role, site_id=site if role == Role.COUNTER else None)
    login(client, "someone")
    menu = client.get("/").text.split('class="mainnav"', 1)[1].split("</nav>", 1)[0]
    for path, permission, link in PAGES:
        response = client.get(path.format(site=site), follow_redirects=False)
        # Allowed: the page, or a redirect to the one item there is (one site, one counter).
        expected = {200, 303} if role in EXPECTED[permission] else {403}
        assert response.status_code in expected, (path, role, response.status_code)
        if link is not None:
            assert (link in menu) == (role in EXPECTED[permission]), (link, role)
