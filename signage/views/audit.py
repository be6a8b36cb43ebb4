"""The audit log view: filter by person, action and kind of thing; page back in time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import audit, words
from signage.models import AuditEntry
from signage.permissions import Permission
from signage.web import current_language, render, row_id, staff_view, translate, user_timezone


async def changes_in_words(
    request: Request, db: AsyncSession, rows: list[AuditEntry]
) -> dict[int, list[tuple[str, str | None, str | None]]]:
    """Each entry's changed fields with names and translated values (for `_audit_row`)."""
    names = await words.load_names(
        db, [v for e in rows for v in (e.before, e.after)], current_language(request)
    )

    def _(message: str, **params: object) -> str:
        return translate(request, message, **params)

    timezone = user_timezone(request)
    return {e.id: words.diff_rows(e, audit.FIELD_LABELS, names, _, timezone) for e in rows}


@staff_view(Permission.SEE_AUDIT)
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
            "changes": await changes_in_words(request, db, rows),
            "filters": filters,
            "actions": await audit.known_actions(db),
            "next_before": rows[-1].id if more else None,
        },
        block="audit_rows" if before else "audit_table",
    )
