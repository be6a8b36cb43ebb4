"""Who may do what: one table of roles and their permissions.

Views name the permission they need (`web.staff_view(Permission.X)`), domain code asks
`require(user, Permission.X)` before it changes anything, and templates ask
`allowed(user, Permission.X)` before they show a link or a button. No other module keeps
a set of roles of its own (`tests/test_permissions.py` checks). Which site a user may
reach is a separate question, answered by `signage.scope`. `docs/security.md` shows the
table as a matrix.
"""

from __future__ import annotations

import enum

from signage.errors import Forbidden
from signage.models import Role, User


class Permission(enum.StrEnum):
    SEE_DASHBOARD = "see_dashboard"  # the start page
    USE_ACCOUNT = "use_account"  # one's own account: name, language, password
    USE_TWO_STEP = "use_two_step"  # may (with SIGNAGE_REQUIRE_TOTP: must) use two-step sign-in
    MANAGE_SITES = "manage_sites"
    MANAGE_USERS = "manage_users"
    SEE_AUDIT = "see_audit"
    EDIT_NOTICES = "edit_notices"  # write notices and send them for approval
    APPROVE_NOTICES = "approve_notices"  # approve or reject them
    UPLOAD_MEDIA = "upload_media"  # the picture library
    SEE_PLAYLISTS = "see_playlists"
    EDIT_PLAYLISTS = "edit_playlists"
    SEE_SCHEDULES = "see_schedules"
    PLAN_SCHEDULES = "plan_schedules"  # put content on screens
    MANAGE_CLOSURES = "manage_closures"  # closure days
    SEE_SCREENS = "see_screens"  # screens and the fleet
    MANAGE_SCREENS = "manage_screens"  # add and change screens, send them commands
    PAIR_SCREENS = "pair_screens"  # pair a device to a screen, disconnect it
    SET_UP_QUEUE = "set_up_queue"  # services, counters, rules, kiosks
    SEE_QUEUE_STATS = "see_queue_stats"
    WORK_COUNTER = "work_counter"  # the counter console: issue, call and serve tickets
    RAISE_ALERTS = "raise_alerts"  # emergency alerts and drills: raise, confirm, clear
    EDIT_ALERT_TEMPLATES = "edit_alert_templates"  # the texts of the ready alert templates
    MANAGE_API_TOKENS = "manage_api_tokens"  # make and revoke tokens of the integration API
    MANAGE_WEBHOOKS = "manage_webhooks"  # webhooks of their sites, their secrets and logs


_P = Permission
_EVERY_STAFF = frozenset({_P.SEE_DASHBOARD, _P.USE_ACCOUNT})
_EDITOR = _EVERY_STAFF | {
    _P.EDIT_NOTICES,
    _P.UPLOAD_MEDIA,
    _P.SEE_PLAYLISTS,
    _P.SEE_SCHEDULES,
    _P.SEE_SCREENS,
}
_PUBLISHER = _EDITOR | {
    _P.USE_TWO_STEP,
    _P.SEE_AUDIT,
    _P.APPROVE_NOTICES,
    _P.EDIT_PLAYLISTS,
    _P.PLAN_SCHEDULES,
    _P.MANAGE_CLOSURES,
    _P.MANAGE_SCREENS,
    _P.PAIR_SCREENS,
    _P.SET_UP_QUEUE,
    _P.SEE_QUEUE_STATS,
    _P.WORK_COUNTER,
    _P.RAISE_ALERTS,
}

PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(
        _PUBLISHER
        | {
            _P.MANAGE_SITES,
            _P.MANAGE_USERS,
            _P.EDIT_ALERT_TEMPLATES,
            _P.MANAGE_API_TOKENS,
            _P.MANAGE_WEBHOOKS,
        }
    ),
    Role.PUBLISHER: frozenset(_PUBLISHER),
    Role.EDITOR: frozenset(_EDITOR),
    Role.COUNTER: frozenset(_EVERY_STAFF | {_P.WORK_COUNTER}),
}


def allowed(user: User | None, permission: Permission) -> bool:
    """Whether `user` (None: nobody is logged in) may do what `permission` names."""
    if user is None:
        return False
    return permission in PERMISSIONS[Role(user.role)]


def require(user: User, permission: Permission, message: str | None = None) -> None:
    """Refuse (403, with `message` if given) unless `user` has `permission`."""
    if not allowed(user, permission):
        raise Forbidden(message)


def roles_with(permission: Permission) -> list[Role]:
    """The roles that have `permission`, in the order of `Role`."""
    return [role for role in Role if permission in PERMISSIONS[role]]
