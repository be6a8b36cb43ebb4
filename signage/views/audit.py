"""The audit log view: filter by person, action and kind of thing; page back in time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import audit
from signage.models import Role
from signage.web import render, row_id, staff_view


@staff_view(Role.ADMIN, Role.PUBLISHER)
async def audit_log(request: Request, db: AsyncSession) -> Response:
    params = request.query_params
    before = params.get("before", "")
    filters = {
        "actor": params.get("actor", "")[:64],
        "action": params.get("action", "")[:64],
        "target_type": params.get("target_type", "")[:32],
    }
    rows = await audit.entries(
        db,
        actor=filters["actor"],
        action=filters["action"],
        target_type=filters["target_type"],
        before_id=row_id(before),
    )
    more = len(rows) == audit.PAGE_SIZE
    return render(
        request,
        "audit.html",
        {
            "entries": rows,
            "filters": filters,
            "actions": await audit.known_actions(db),
            "next_before": rows[-1].id if more else None,
        },
        block="audit_rows" if before else "audit_table",
    )
