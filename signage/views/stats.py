"""Queue statistics of a site: the page and its CSV (signage/queue/stats.py)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage.db import utcnow
from signage.permissions import Permission
from signage.queue import counters, stats, tickets
from signage.web import (
    render,
    staff_view,
)


def _range(request: Request, today: date) -> tuple[date, date]:
    def parse(name: str, default: date) -> date:
        try:
            return date.fromisoformat(request.query_params.get(name, ""))
        except ValueError:
            return default

    return stats.clamp_range(parse("from", today), parse("to", today))


@staff_view(Permission.SEE_QUEUE_STATS)
async def queue_stats_page(request: Request, db: AsyncSession) -> Response:
    site = await counters.site_for(db, request.state.user, request.path_params["site_id"])
    first, last = _range(request, tickets.local_today(site, utcnow()))
    report = await stats.report(db, site, first, last)
    peak = max((g.issued for g in report.by_hour), default=0)
    longest = max((g.wait_avg or 0 for g in report.by_service), default=0)
    return render(
        request,
        "queue_stats.html",
        {"site": site, "report": report, "peak": peak, "longest": longest},
    )


@staff_view(Permission.SEE_QUEUE_STATS)
async def queue_stats_csv(request: Request, db: AsyncSession) -> Response:
    site = await counters.site_for(db, request.state.user, request.path_params["site_id"])
    first, last = _range(request, tickets.local_today(site, utcnow()))
    rows = await stats.tickets_between(db, site.id, first, last)
    name = f"tickets-{site.code}-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        # A byte-order mark so spreadsheet programs read the Japanese correctly.
        "\ufeff" + stats.to_csv(site, rows),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )
