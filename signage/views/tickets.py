"""The counter console (signage/queue/tickets.py): call the next resident, recall, hold,
transfer, finish.

Each button posts with htmx and gets the console back; keyboard shortcuts press the
buttons (static/app.js). The waiting lists refresh by themselves every few seconds.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import scope, words
from signage.db import commit, utcnow
from signage.errors import BadRequest, NotFound
from signage.i18n import N_
from signage.models import QueueCounter, QueueService, Site, Ticket, TicketStatus, User
from signage.permissions import Permission
from signage.queue import boards, counters, tickets
from signage.submissions import REQUEST_ID
from signage.web import Form, client_ip, is_htmx, read_form, redirect, render, staff_view

SHOWN = 30  # the longest waiting and held lists the console shows
STATUS_LABELS = words.TICKET_STATUS


@staff_view(Permission.WORK_COUNTER)
async def counter_home(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    return render(request, "counter_home.html", {"counters": await counters.counters_for(db, user)})


def _minutes(since: datetime | None, now: datetime) -> int:
    return int((now - since).total_seconds() // 60) if since else 0


async def _context(request: Request, db: AsyncSession, counter: QueueCounter) -> dict[str, Any]:
    now = utcnow()
    site_id = counter.site_id
    site = await db.get(Site, site_id)
    assert site is not None
    rules = await tickets.queue_site(db, site_id, lock=False)
    mine = tickets.waiting_for(counter)
    waiting = list(
        await db.scalars(
            sa.select(Ticket).where(mine).order_by(Ticket.joined_at, Ticket.id).limit(SHOWN)
        )
    )
    waiting_count = await db.scalar(sa.select(sa.func.count()).select_from(Ticket).where(mine))
    held = list(
        await db.scalars(
            sa.select(Ticket)
            .where(Ticket.site_id == site_id, Ticket.status == TicketStatus.HELD)
            .order_by(Ticket.joined_at, Ticket.id)
            .limit(SHOWN)
        )
    )
    current = await tickets.current_ticket(db, counter.id)
    all_services = await counters.list_services(db, site_id)
    return {
        "counter": counter,
        "rules": rules,
        "current": current,
        "waiting": waiting,
        "waiting_count": waiting_count or 0,
        "held": held,
        "now": now,
        "minutes": lambda since: _minutes(since, now),
        "status_labels": STATUS_LABELS,
        "services": all_services,
        "lines": await boards.service_lines(db, site_id, tickets.local_today(site, now)),
        "other_counters": [
            c for c in await counters.list_counters(db, site_id) if c.id != counter.id
        ],
        "issued": None,
        # Each button's address: the action's name replaces ACTION.
        "act": request.app.url_path_for("counter_action", counter_id=counter.id, action="ACTION"),
        "expect": tickets.state_token(current),
    }


@staff_view(Permission.WORK_COUNTER)
async def counter_console(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    counter = await tickets.get_counter(db, user, request.path_params["counter_id"])
    context = await _context(request, db, counter)
    part = "queue_lists" if request.query_params.get("part") == "queue_lists" else None
    return render(request, "counter_console.html", context, block=part)


def _id(raw: str) -> int | None:
    """A row id typed in a form: plain digits, short enough for every database."""
    return int(raw) if re.fullmatch(r"[0-9]{1,9}", raw) else None


ACTIONS = {"next", "call", "recall", "start", "finish", "hold", "no_show", "transfer",
           "return", "cancel", "open", "close", "issue"}  # fmt: skip


@staff_view(Permission.WORK_COUNTER)
async def counter_action(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    counter_id: int = request.path_params["counter_id"]
    action: str = request.path_params["action"]
    if action not in ACTIONS:
        raise NotFound()
    counter = await tickets.get_counter(db, user, counter_id)
    form = Form(await read_form(request))
    ip = client_ip(request)
    # The ticket the console showed when the button was pressed (empty: none); a console
    # that sends nothing (a script) is not checked.
    raw_expect = form.data.get("expect")
    expected = tickets.ANY if raw_expect is None else str(raw_expect)[:40]
    issued = None
    if action == "next":
        await tickets.call_next(db, user, ip, counter.id, expected=expected)
    elif action == "call":
        await tickets.call_ticket(db, user, ip, counter.id, form.text("label", max_length=16))
    elif action in {"recall", "start", "finish", "hold", "no_show"}:
        await getattr(tickets, action)(db, user, ip, counter.id, expected=expected)
    elif action == "transfer":
        kind, _, raw = form.text("target", max_length=20).partition(":")
        target = _id(raw)
        if target is None or kind not in {"service", "counter"}:
            raise BadRequest(N_("Choose a service or a counter to transfer to."))
        await tickets.transfer(
            db,
            user,
            ip,
            counter.id,
            service_id=target if kind == "service" else None,
            to_counter_id=target if kind == "counter" else None,
            expected=expected,
        )
    elif action in {"return", "cancel"}:
        ticket_id = _id(form.text("ticket_id", max_length=12))
        if ticket_id is None:
            raise BadRequest(N_("This ticket does not exist."))
        if action == "return":
            await tickets.return_held(db, user, ip, counter.id, ticket_id)
        else:
            await tickets.cancel(db, user, ip, ticket_id, site=counter.site_id)
    elif action in {"open", "close"}:
        await tickets.set_counter_open(db, user, ip, counter.id, action == "open")
    elif action == "issue":
        service_id = _id(form.text("service_id", max_length=12))
        if service_id is None:
            raise BadRequest(N_("Choose a service."))
        service = await scope.get(db, user, QueueService, service_id, site=counter.site_id)
        # The form's one-time id: pressing "Issue" twice (or re-posting) gives one ticket.
        once_id = form.text("request_id", required=False, max_length=64)
        issued = await tickets.issue(
            db,
            site_id=counter.site_id,
            service_id=service.id,
            priority=form.flag("priority"),
            source="staff",
            actor=user,
            ip=ip,
            request_key=f"staff{user.id}:{once_id}" if REQUEST_ID.fullmatch(once_id) else None,
        )
    # Commit now: the call reaches the screens and the site's queue is free for the next
    # counter while this console is drawn (from a read-only session).
    await commit(db)
    if not is_htmx(request):
        return redirect(request, f"/counter/{counter.id}")
    async with request.app.state.readonly_db() as read:
        fresh = await read.get(QueueCounter, counter.id)
        assert fresh is not None
        context = await _context(request, read, fresh)
        if issued is not None:
            context["issued"] = await read.get(Ticket, issued.ticket.id)
        return render(request, "counter_console.html", context, block="console")
