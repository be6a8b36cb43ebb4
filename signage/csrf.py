"""Anti-forgery tokens: an HMAC of the visitor's session (or pre-login) cookie.

Every state-changing request must carry the token in the `csrf_token` form field or the
`X-CSRF-Token` header (htmx sends it from `base.html`). `signage.middleware` enforces it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from starlette.requests import HTTPConnection

SESSION_COOKIE = "signage_session"
CSRF_COOKIE = "signage_csrf"
HEADER = "x-csrf-token"
FIELD = "csrf_token"


def cookie_names(secure: bool) -> tuple[str, str]:
    prefix = "__Host-" if secure else ""
    return prefix + SESSION_COOKIE, prefix + CSRF_COOKIE


def _basis(conn: HTTPConnection) -> str:
    secure = conn.app.state.settings.secure_cookies
    session_name, csrf_name = cookie_names(secure)
    return (
        conn.cookies.get(session_name)
        or conn.cookies.get(csrf_name)
        or conn.scope.get("state", {}).get("csrf_cookie", "")
    )


def token_for(conn: HTTPConnection) -> str:
    basis = _basis(conn)
    if not basis:
        return ""
    key = conn.app.state.settings.secret_key.encode()
    digest = hmac.new(key, b"csrf:" + basis.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_matches(conn: HTTPConnection, submitted: str) -> bool:
    expected = token_for(conn)
    # compare_digest refuses str beyond ASCII; a forged token may hold anything.
    return bool(expected) and hmac.compare_digest(
        expected.encode(), submitted.encode("utf-8", "surrogatepass")
    )
