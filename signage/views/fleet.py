"""The fleet view (who is online, what each screen plays) and remote commands
(signage/live/fleet.py)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import screens, words
from signage.db import utcnow
from signage.live import fleet as live_fleet
from signage.live.hub import Hub
from signage.models import Manifest, Screen, User
from signage.permissions import Permission, require
from signage.views import alerts
from signage.web import (
    Form,
    client_ip,
    current_language,
    read_form,
    redirect,
    render,
    staff_view,
    translate,
)


async def _fleet_rows(request: Request, rows: list[Screen]) -> list[dict[str, Any]]:
    hub: Hub = request.app.state.hub
    said = await hub.fleet(screen.id for screen in rows)  # connected to any process
    now = utcnow()
    result = []
    for screen in rows:
        status = said.get(screen.id, {})
        heard = status.get("at") or screen.last_seen_at
        connected = live_fleet.is_online(status, screen.last_seen_at, now)
        result.append(
            {
                "said": status,
                "screen": screen,
                "online": connected,
                "paired": screen.token_hash is not None,
                "last_seen": heard,
                "playing": status.get("playing", {}),
                "version": status.get("manifest_version") or screen.manifest_ack,
                # What the player said when it connected; the database catches up in batches.
                "kind": status.get("kind") or screen.player_kind,
                "player_version": status.get("version") or screen.player_version,
            }
        )
    return result


@staff_view(Permission.SEE_SCREENS)
async def fleet(request: Request, db: AsyncSession) -> Response:
    """Every screen, online or not, and what it plays; htmx refreshes the table."""
    user: User = request.state.user
    rows = await _fleet_rows(request, await screens.list_screens(db, user))
    await _playing_in_words(request, db, rows)
    shown = await alerts.fleet_alerts(
        db, [row["screen"].id for row in rows], {row["screen"].id: row["said"] for row in rows}
    )
    for row in rows:
        row["alerts"] = shown.get(row["screen"].id, [])
    return render(
        request,
        "fleet.html",
        {"rows": rows},
        block="fleet_table",
    )


async def _playing_in_words(request: Request, db: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Players report what each zone shows in a short form; staff read names and words."""
    parts = [words.playing_parts(str(w)) for row in rows for w in row["playing"].values()]
    names = await words.load_names(
        db,
        [],
        current_language(request),
        notices=[n for n, _ in parts if n is not None],
        files=[f for _, f in parts if f is not None],
    )

    def _(message: str, **params: object) -> str:
        return translate(request, message, **params)

    latest: dict[int, int] = {
        screen_id: version
        for screen_id, version in await db.execute(
            sa.select(Manifest.screen_id, Manifest.version).where(
                Manifest.screen_id.in_([row["screen"].id for row in rows])
            )
        )
    }
    for row in rows:
        row["playing"] = {
            zone: words.playing_text(str(what), names, _) for zone, what in row["playing"].items()
        }
        row["latest"] = latest.get(row["screen"].id)


@staff_view(Permission.SEE_SCREENS)
async def screen_command(request: Request, db: AsyncSession) -> Response:
    """Reload or identify a screen; the event reaches it at once if it is online."""
    user: User = request.state.user
    require(user, Permission.MANAGE_SCREENS)
    screen = await screens.get_screen(db, user, request.path_params["screen_id"])
    form = Form(await read_form(request))
    command = form.choice("command", set(screens.COMMANDS))
    form.check()
    screens.send_command(db, user, client_ip(request), screen, command)
    return redirect(request, "/fleet?done=sent")
