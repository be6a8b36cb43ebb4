"""The first page after login: where things stand and where to go next."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from signage import audit
from signage.db import unreachable
from signage.models import Site, User
from signage.permissions import Permission, allowed
from signage.views.audit import changes_in_words
from signage.web import render, staff_view


@staff_view(Permission.SEE_DASHBOARD)
async def dashboard(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    can_audit = allowed(user, Permission.SEE_AUDIT)
    recent = await audit.entries(db, limit=8) if can_audit else []
    context = {
        "site_count": await db.scalar(sa.select(sa.func.count()).select_from(Site)),
        "user_count": await db.scalar(
            sa.select(sa.func.count()).select_from(User).where(User.active)
        ),
        "recent": recent,
        "changes": await changes_in_words(request, db, recent),
    }
    return render(request, "dashboard.html", context)


async def healthz(request: Request) -> Response:
    """For load balancers and monitoring: 200 when the database answers, 503 when it
    cannot be reached."""
    try:
        async with request.app.state.readonly_db() as db:
            await db.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        if not unreachable(exc):
            raise
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok"})
