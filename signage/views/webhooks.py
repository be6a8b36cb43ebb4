"""Webhooks of an administrator's sites: add, change, turn off, delete, a new secret, a
test event, and the delivery log (signage/webhooks.py, docs/webhooks.md)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import sites, webhooks
from signage.errors import ValidationFailed
from signage.i18n import N_
from signage.models import User, Webhook
from signage.permissions import Permission
from signage.submissions import once
from signage.web import (
    Form,
    client_ip,
    is_htmx,
    read_form,
    redirect,
    render,
    settings_of,
    staff_view,
)


def _input(form: Form) -> webhooks.WebhookInput:
    return webhooks.WebhookInput(
        name=form.text("name", max_length=100),
        url=form.text("url", max_length=500),
        events=tuple(str(v) for v in form.data.getlist("events")),
        enabled=form.flag("enabled"),
    )


def _values(data: webhooks.WebhookInput, site_id: int | None = None) -> dict[str, object]:
    return {**vars(data), "events": list(data.events), "site_id": site_id or ""}


@staff_view(Permission.MANAGE_WEBHOOKS)
@once
async def webhook_list(request: Request, db: AsyncSession) -> Response:
    """The webhooks of the user's sites; a POST adds one and shows its secret this once."""
    user: User = request.state.user
    errors: dict[str, str] = {}
    values: dict[str, object] = {"events": [webhooks.QUEUE_CALL], "site_id": ""}
    made: tuple[Webhook, str] | None = None
    status_code = 200
    if request.method == "POST":
        form = Form(await read_form(request))
        site_id = form.optional_id("site_id")
        if site_id is None and "site_id" not in form.errors:
            form.errors["site_id"] = N_("Choose one of the options.")
        data = _input(form)
        data = webhooks.WebhookInput(data.name, data.url, data.events, enabled=True)
        try:
            form.check()
            made = await webhooks.create_webhook(
                db, user, client_ip(request), site_id, data, settings_of(request).secret_key
            )
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
            values = _values(data, site_id)
    return render(
        request,
        "webhook_list.html",
        {
            "webhooks": await webhooks.list_webhooks(db, user),
            "sites": await sites.sites_for(db, user),
            "event_labels": webhooks.EVENTS,
            "errors": errors,
            "values": values,
            "new_webhook": made[0] if made else None,
            "new_secret": made[1] if made else None,
            "done": request.query_params.get("done", ""),
        },
        status_code=status_code,
    )


async def _edit_page(
    request: Request,
    db: AsyncSession,
    webhook: Webhook,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    new_secret: str | None = None,
    done: str = "",
    status_code: int = 200,
    block: str | None = None,
) -> Response:
    site = await sites.get_site(db, request.state.user, webhook.site_id)
    return render(
        request,
        "webhook_edit.html",
        {
            "webhook": webhook,
            "site": site,
            "event_labels": webhooks.EVENTS,
            "outcome_labels": webhooks.OUTCOMES,
            "errors": errors or {},
            "values": values
            or {
                "name": webhook.name,
                "url": webhook.url,
                "events": webhook.events.split(","),
                "enabled": webhook.enabled,
            },
            "log": await webhooks.delivery_log(db, webhook),
            "waiting": await webhooks.waiting(db, webhook),
            "new_secret": new_secret,
            "done": done or request.query_params.get("done", ""),
        },
        status_code=status_code,
        block=block,
    )


@staff_view(Permission.MANAGE_WEBHOOKS)
async def webhook_edit(request: Request, db: AsyncSession) -> Response:
    """A webhook's settings and its delivery log (htmx refreshes the log)."""
    user: User = request.state.user
    webhook = await webhooks.get_webhook(db, user, request.path_params["webhook_id"])
    if request.method == "POST":
        form = Form(await read_form(request))
        data = _input(form)
        try:
            form.check()
            await webhooks.update_webhook(db, user, client_ip(request), webhook.id, data)
        except ValidationFailed as exc:
            return await _edit_page(
                request, db, webhook, errors=exc.errors, values=_values(data), status_code=422
            )
        return redirect(request, f"/webhooks/{webhook.id}?done=saved")
    return await _edit_page(request, db, webhook, block="delivery_log")


@staff_view(Permission.MANAGE_WEBHOOKS)
async def webhook_test(request: Request, db: AsyncSession) -> Response:
    """Queue a test event; the log shows it once it has been tried."""
    user: User = request.state.user
    webhook = await webhooks.get_webhook(db, user, request.path_params["webhook_id"])
    await read_form(request)
    await webhooks.send_test(db, user, client_ip(request), webhook.id)
    if is_htmx(request):
        return await _edit_page(request, db, webhook, done="test", block="delivery_log")
    return redirect(request, f"/webhooks/{webhook.id}?done=test")


@staff_view(Permission.MANAGE_WEBHOOKS)
async def webhook_secret(request: Request, db: AsyncSession) -> Response:
    """Replace the secret; the new one is shown this once."""
    user: User = request.state.user
    webhook = await webhooks.get_webhook(db, user, request.path_params["webhook_id"])
    await read_form(request)
    webhook, secret = await webhooks.new_webhook_secret(
        db, user, client_ip(request), webhook.id, settings_of(request).secret_key
    )
    return await _edit_page(request, db, webhook, new_secret=secret)


@staff_view(Permission.MANAGE_WEBHOOKS)
async def webhook_delete(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    webhook = await webhooks.get_webhook(db, user, request.path_params["webhook_id"])
    await read_form(request)
    await webhooks.delete_webhook(db, user, client_ip(request), webhook.id)
    return redirect(request, "/webhooks?done=deleted")
