"""The application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from content.alerts.rules import load_rules
from signage import auth, changes, metrics, webhooks
from signage.alerts.delivery import AlertPusher
from signage.alerts.feeds import FeedPoller
from signage.db import create_engine, first_line, readonly_sessions, session_factory, unreachable
from signage.errors import DatabaseUnavailable, HTTPError, MethodNotAllowed, NotFound
from signage.i18n import N_
from signage.jobs import Jobs
from signage.live.hub import CLOSE_RESTART, Hub
from signage.live.redis_hub import RedisBackend
from signage.live.socket import SeenWriter, warm_manifests
from signage.media import DecodeGate
from signage.middleware import BodyLimitMiddleware, CSRFMiddleware, SecurityHeadersMiddleware
from signage.queue.announcer import Announcer
from signage.queue.voice import Voice
from signage.routes import routes
from signage.settings import Settings
from signage.views.api_alerts import RefusalLog
from signage.views.player import SCREENSHOT_MAX_BYTES
from signage.web import create_templates, render_error

log = logging.getLogger("signage")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPError)
    return await render_error(request, exc)


async def _starlette_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) rendered like ours."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return await render_error(request, MethodNotAllowed())
    if exc.status_code == 404:
        return await render_error(request, NotFound())
    error = HTTPError()
    error.status_code = exc.status_code
    return await render_error(request, error)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    error = HTTPError(N_("Something went wrong on the server. Try again in a moment."))
    error.status_code = 500
    return await render_error(request, error)


async def _database_error(request: Request, exc: Exception) -> Response:
    """The database is down or cut off: 503 with one log line and no traceback per
    request (the transaction was not kept); any other database error is a bug (500)."""
    if not unreachable(exc):
        raise exc  # to `_server_error`, as every other bug
    log.warning(
        "database unreachable on %s %s: %s", request.method, request.url.path, first_line(exc)
    )
    return await render_error(request, DatabaseUnavailable())


def create_app(settings: Settings, *, scheduler: bool = True) -> Starlette:
    """Build the app. The database must already be migrated (`signage migrate`)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()  # before the caches fill: no change is missed in between
        if app.state.jobs is not None:
            app.state.jobs.start()
        await warm_manifests(hub, app.state.readonly_db)
        await alert_pusher.warm()
        announcer.start()
        alert_pusher.start()
        await announcer.warm()
        seen_task = asyncio.ensure_future(app.state.seen.run())
        if app.state.jobs is not None:  # background work, as the jobs (tests drive it)
            sender.start()
        try:
            yield
        finally:
            seen_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await seen_task
            # Players reconnect after a random delay instead of all at once (1012).
            hub.close_all(CLOSE_RESTART)
            await asyncio.sleep(0.2)
            await app.state.seen.flush()
            await announcer.stop()
            await alert_pusher.stop()
            await sender.stop()
            await hub.stop()
            if app.state.jobs is not None:
                app.state.jobs.shutdown()
            await engine.dispose()
            metrics.process_ended()

    engine = create_engine(settings.database_url)
    hub = Hub(None if settings.hub_url == "memory://" else RedisBackend(settings.hub_url))
    app = Starlette(
        routes=routes(settings),
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=settings.max_form_bytes,
                path_limits={
                    "/media": settings.max_upload_bytes + 64 * 1024,  # the other form fields
                    "/player/screenshot": SCREENSHOT_MAX_BYTES,
                },
            ),
            Middleware(
                CSRFMiddleware,
                secure_cookies=settings.secure_cookies,
                exempt_prefixes=("/player/", "/api/kiosk/", "/api/v1/"),
            ),
        ],
        exception_handlers={
            HTTPError: _http_error,
            HTTPException: _starlette_error,
            sa.exc.SQLAlchemyError: _database_error,
            Exception: _server_error,
        },
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.hub = hub
    app.state.readonly_db = readonly_sessions(engine)
    voice = Voice(settings.media_dir / "voice", enabled=settings.voice)
    announcer = Announcer(hub, app.state.readonly_db, voice)
    app.state.announcer = announcer
    alert_pusher = AlertPusher(hub, app.state.readonly_db, voice)
    app.state.alerts = alert_pusher
    outlets = changes.Outlets(hub, announcer, alerts=alert_pusher)
    app.state.db = session_factory(engine, info={changes.OUTLETS: outlets})
    # Webhooks: each process delivers the outbox rows it claims (signage/webhooks.py).
    sender = webhooks.Sender(
        app.state.db,
        app.state.readonly_db,
        settings.secret_key,
        webhooks.Policy(
            attempts=settings.webhook_attempts,
            retry_seconds=settings.webhook_retry_seconds,
            timeout=settings.webhook_timeout_seconds,
        ),
    )
    app.state.webhooks = sender
    outlets.webhooks = sender
    app.state.seen = SeenWriter(app.state.db)
    app.state.templates = create_templates(settings.timezone)
    # Where authenticator codes read the time; tests put a fake clock here.
    app.state.clock = time.time
    # Alert feeds (signage/views/api_alerts.py): the rules, checked when settings load.
    app.state.alert_rules = load_rules(settings.alert_rules)
    app.state.feed_refusals = RefusalLog()
    app.state.decodes = DecodeGate(settings.decode_pixel_budget, settings.max_parallel_decodes)
    app.state.policy = auth.SessionPolicy(
        idle=timedelta(minutes=settings.session_idle_minutes),
        absolute=timedelta(hours=settings.session_max_hours),
        max_failures=settings.login_max_failures,
        window=timedelta(minutes=settings.login_window_minutes),
    )
    app.state.jobs = (
        Jobs(
            app.state.db,
            app.state.policy,
            settings.timezone,
            media_dir=settings.media_dir,
            readonly=app.state.readonly_db,
            lease_seconds=settings.job_lease_seconds,
            poller=FeedPoller(app.state.db, app.state.alert_rules),
            hub=hub,
        )
        if scheduler
        else None
    )
    outlets.jobs = app.state.jobs
    return app
