"""The audit log view: filter by person, action and kind of thing; page back in time."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from content.languages import LANGUAGES as CONTENT_LANGUAGES
from content.layouts import LAYOUTS
from signage import audit
from signage.i18n import LANGUAGES, N_
from signage.models import Role
from signage.views import counter, notices, schedules
from signage.web import ROLE_LABELS, ZONE_LABELS, render, staff_view

# Values that are codes, shown in the log by their words (the same words as the forms).
VALUE_LABELS: dict[str, dict[str, str]] = {
    "status": notices.STATUS_LABELS | {str(k): v for k, v in counter.STATUS_LABELS.items()},
    "style": notices.STYLE_LABELS,
    "days": schedules.DAY_LABELS,
    "zone": ZONE_LABELS,
    "role": {str(k): v for k, v in ROLE_LABELS.items()},
    "layout": {code: layout.title for code, layout in LAYOUTS.items()},
    "language": LANGUAGES,
    "source": {"staff": N_("Counter"), "kiosk": N_("Kiosk")},
}
# What every page that shows audit rows (`_audit_row.html`) passes to it.
ROW_CONTEXT = {"value_labels": VALUE_LABELS, "content_languages": CONTENT_LANGUAGES}


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
        before_id=int(before) if before.isdigit() else None,
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
            **ROW_CONTEXT,
        },
        block="audit_rows" if before else "audit_table",
    )
