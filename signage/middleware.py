"""ASGI middleware: body size limit, CSRF enforcement, security headers."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signage import csrf
from signage.errors import CSRFFailed, HTTPError, PayloadTooLarge
from signage.web import render_error

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                headers.setdefault("permissions-policy", "camera=(), microphone=(), geolocation=()")
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 before a view reads them.

    `max_bytes` applies everywhere except the paths in `path_limits`, which have their
    own (media uploads, player screenshots).
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, path_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.path_limits = dict(path_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        limit = self.path_limits.get(scope["path"], self.max_bytes)
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            await _reply_error(scope, receive, send, PayloadTooLarge())
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge()
            return message

        await self.app(scope, counting_receive, send)


class CSRFMiddleware:
    """Every unsafe request needs a matching token and, if it says, our own Origin."""

    def __init__(
        self, app: ASGIApp, secure_cookies: bool, exempt_prefixes: tuple[str, ...] = ()
    ) -> None:
        self.app = app
        _, self.cookie = csrf.cookie_names(secure_cookies)
        self.secure = secure_cookies
        # Player endpoints authenticate with device tokens, never with cookies, so a
        # forged cross-site request carries nothing that could act for anyone.
        self.exempt_prefixes = exempt_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        new_cookie = ""
        if not request.cookies.get(self.cookie):
            new_cookie = secrets.token_urlsafe(32)
            scope.setdefault("state", {})["csrf_cookie"] = new_cookie

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start" and new_cookie:
                headers = MutableHeaders(scope=message)
                secure = "; Secure" if self.secure else ""
                headers.append(
                    "set-cookie",
                    f"{self.cookie}={new_cookie}; Path=/; HttpOnly; SameSite=Lax{secure}",
                )
            await send(message)

        if scope["method"] not in SAFE_METHODS and not scope["path"].startswith(
            self.exempt_prefixes or ("\0",)
        ):
            try:
                ok, receive = await self._check(request, receive)
            except HTTPError as exc:
                await _reply_error(scope, receive, send_with_cookie, exc)
                return
            if not ok:
                await _reply_error(scope, receive, send_with_cookie, CSRFFailed())
                return
        await self.app(scope, receive, send_with_cookie)

    async def _check(self, request: Request, receive: Receive) -> tuple[bool, Receive]:
        origin = request.headers.get("origin") or request.headers.get("referer")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return False, receive
        submitted = request.headers.get(csrf.HEADER)
        if submitted is not None:
            return csrf.token_matches(request, submitted), receive
        content_type = request.headers.get("content-type", "")
        if not content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            return False, receive
        body = await Request(request.scope, receive).body()
        replay = _replay(body, receive)
        form_request = Request(request.scope, _replay(body, receive))
        try:
            form = await form_request.form(max_fields=1000, max_files=100)
        except Exception:  # a malformed body cannot carry a valid token
            return False, replay
        try:
            value = form.get(csrf.FIELD)
            return isinstance(value, str) and csrf.token_matches(request, value), replay
        finally:
            await form.close()


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _reply_error(scope: Scope, receive: Receive, send: Send, exc: HTTPError) -> None:
    response = await render_error(Request(scope, receive), exc)
    await response(scope, receive, send)
