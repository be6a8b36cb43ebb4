"""Create forms act once: a form carries a one-time `request_id`, and a second POST of it
(a double click, a reload that re-posts, a second window) creates nothing and answers as
the first did."""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Awaitable, Callable
from datetime import timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage.db import utcnow
from signage.models import FormSubmission
from signage.web import read_form, redirect

REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
KEEP = timedelta(days=1)

StaffView = Callable[[Request, AsyncSession], Awaitable[Response]]


def new_request_id() -> str:
    return secrets.token_urlsafe(16)


def once(view: StaffView) -> StaffView:
    """Wrap a staff view (inside `staff_view`, so in its transaction) that creates things."""

    @functools.wraps(view)
    async def wrapper(request: Request, db: AsyncSession) -> Response:
        if request.method != "POST":
            return await view(request, db)
        raw = (await read_form(request)).get("request_id")
        if not isinstance(raw, str) or not REQUEST_ID.fullmatch(raw):
            return await view(request, db)  # a script without one: not deduplicated
        key = f"{request.state.user.id}:{raw}"
        done = await db.get(FormSubmission, key)
        if done is None:
            try:
                async with db.begin_nested():
                    done = FormSubmission(key=key, location="")
                    db.add(done)
            except IntegrityError:
                # A twin of this POST committed first (PostgreSQL waited for it).
                done = await db.get(FormSubmission, key, populate_existing=True)
                assert done is not None
            else:
                response = await view(request, db)
                done.location = _location(request, response)
                return response
        return redirect(request, done.location or "/")

    return wrapper


def _location(request: Request, response: Response) -> str:
    """Where a repeat of this POST is sent: where the first one led, or the page it was on."""
    target = response.headers.get("location") or response.headers.get("hx-redirect")
    if not target:
        target = request.headers.get("hx-current-url") or request.headers.get("referer") or "/"
    parts = urlsplit(target)
    path = parts.path if parts.path.startswith("/") else "/"
    return (path + (f"?{parts.query}" if parts.query else ""))[:300]


async def prune(db: AsyncSession) -> None:
    await db.execute(sa.delete(FormSubmission).where(FormSubmission.created_at < utcnow() - KEEP))
