"""For the operators' tools: `/metrics` (Prometheus) and `/readyz` (readiness).

`/metrics` is read with the bearer token of SIGNAGE_METRICS_TOKEN, or without a token from
an address of SIGNAGE_METRICS_ALLOW (the client's own address, or the one a trusted proxy
of SIGNAGE_TRUSTED_PROXIES forwards; a request forwarded by a proxy that is not trusted is
never let in by its address). 401 or 403 otherwise, with a line saying what to do.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from signage.db import first_line, head_revision, unreachable
from signage.metrics import exposition, process_families, shared_families
from signage.models import Screen
from signage.settings import Settings

log = logging.getLogger("signage.ops")
_HEAD: list[str] = []  # the migrations' head, read once


def _address_allowed(settings: Settings, request: Request) -> bool:
    if request.headers.get("x-forwarded-for") and not settings.trusted_proxies:
        return False  # came through a proxy whose client is unknown: its address says nothing
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack listener
    return any(
        address in ipaddress.ip_network(network)
        for network in settings.metrics_allow.split(",")
        if network
    )


def refusal(settings: Settings, request: Request) -> Response | None:
    """None when this request may read the metrics; else the 401 or 403 answer."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if (
            settings.metrics_token
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), settings.metrics_token.encode())
        ):
            return None
        return PlainTextResponse(
            "401 the bearer token is not the one of SIGNAGE_METRICS_TOKEN\n"
            if settings.metrics_token
            else "401 no token opens /metrics (SIGNAGE_METRICS_TOKEN is not set)\n",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    if _address_allowed(settings, request):
        return None
    if settings.metrics_token:
        return PlainTextResponse(
            "401 /metrics needs Authorization: Bearer <SIGNAGE_METRICS_TOKEN>\n",
            401,
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    host = request.client.host if request.client else "unknown"
    return PlainTextResponse(
        f"403 /metrics is not open to {host}: add it to SIGNAGE_METRICS_ALLOW, or set "
        "SIGNAGE_METRICS_TOKEN and send it as a bearer token\n",
        403,
    )


async def metrics(request: Request) -> Response:
    """The metrics in the Prometheus text format (signage/metrics.py)."""
    refused = refusal(request.app.state.settings, request)
    if refused is not None:
        return refused
    hub = request.app.state.hub
    families = process_families()
    try:
        async with request.app.state.readonly_db() as db:
            ids = list(await db.scalars(sa.select(Screen.id).where(Screen.token_hash.is_not(None))))
            fleet = await hub.fleet(ids)
            families += await shared_families(db, fleet)
        up = 1
    except sa.exc.SQLAlchemyError as exc:
        if not unreachable(exc):
            raise
        log.warning("metrics without the database: %s", first_line(exc))
        up = 0
    database = GaugeMetricFamily(
        "signage_database_up", "1 when the database answered this scrape, else 0."
    )
    database.add_metric([], up)
    families.append(database)
    return Response(exposition(families), media_type=CONTENT_TYPE_LATEST)


async def readyz(request: Request) -> Response:
    """200 when this process can serve: the database answers, its schema is at the newest
    migration, and the hub's backend (Redis) answers; else 503 naming what is not ready."""
    checks: dict[str, str] = {}
    if not _HEAD:
        _HEAD.append(head_revision())
    try:
        async with request.app.state.readonly_db() as db:
            revision = await db.scalar(sa.text("SELECT version_num FROM alembic_version"))
        checks["database"] = "ok"
        checks["migrations"] = (
            "ok"
            if revision == _HEAD[0]
            else f"at {revision or 'none'}, the newest is {_HEAD[0]}: run signage migrate"
        )
    except sa.exc.SQLAlchemyError as exc:
        if unreachable(exc):
            checks["database"] = f"unreachable: {first_line(exc)}"
            checks["migrations"] = "unknown (the database is unreachable)"
        else:
            checks["database"] = "ok"
            checks["migrations"] = "not migrated: run signage migrate"
    problem = await request.app.state.hub.not_ready()
    checks["hub"] = problem or "ok"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
    )
