"""Notices: list, write (in several languages), send for approval, approve or reject."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from content.languages import LANGUAGES as CONTENT_LANGUAGES
from content.notices import NoticeStyle, NoticeText
from signage import media, notices, scope, sites, textfit, words
from signage.errors import NotFound, ValidationFailed
from signage.models import Media, Notice, User
from signage.permissions import Permission
from signage.submissions import once
from signage.web import (
    Form,
    client_ip,
    read_form,
    redirect,
    render,
    settings_of,
    staff_view,
    translate,
    user_timezone,
)

STYLE_LABELS = words.STYLES
STATUS_LABELS = words.NOTICE_STATUS


def _texts(form: Form) -> list[NoticeText]:
    """The texts the form holds, one per language it shows."""
    return [
        NoticeText(
            code,
            form.text(f"title_{code}", required=False, max_length=200),
            form.text(f"body_{code}", required=False, max_length=4000),
        )
        for code in CONTENT_LANGUAGES
        if f"title_{code}" in form.data
    ]


def _notice_input(request: Request, form: Form, user: User) -> notices.NoticeInput:
    tz = user_timezone(request)
    texts = _texts(form)
    return notices.NoticeInput(
        site_id=form.optional_id("site_id"),
        style=form.choice("style", {s.value for s in NoticeStyle}),
        valid_from=form.local_datetime("valid_from", tz),
        valid_until=form.local_datetime("valid_until", tz),
        image_id=form.optional_id("image_id"),
        texts=texts,
    )


async def _form_page(
    request: Request,
    db: AsyncSession,
    notice: Notice | None,
    values: dict[str, object],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    user: User = request.state.user
    all_sites = await sites.list_sites(db, only_active=True)
    site_choices = await sites.sites_for(db, user)
    site = user.site or (all_sites[0] if len(all_sites) == 1 else None)
    order = site.languages.split(",") if site else list(CONTENT_LANGUAGES)
    languages = order + [code for code in CONTENT_LANGUAGES if code not in order]
    images = await media.list_media(db, user)
    return render(
        request,
        "notice_form.html",
        {
            "notice": notice,
            "values": values,
            "errors": errors,
            "site_choices": site_choices,
            "text_languages": languages,
            "primary_count": max(2, len(order)) if site else 2,
            "content_languages": CONTENT_LANGUAGES,
            "style_labels": STYLE_LABELS,
            "status_labels": STATUS_LABELS,
            "images": images,
            "showing_on": (
                await notices.screens_showing(db, user, notice.id) if notice is not None else []
            ),
            "style_options": [(k, translate(request, v)) for k, v in STYLE_LABELS.items()],
        },
        status_code=status_code,
    )


def _values_of(notice: Notice, tz: str) -> dict[str, object]:
    zone = ZoneInfo(tz)
    values: dict[str, object] = {
        "site_id": notice.site_id or "",
        "style": notice.style,
        "valid_from": notice.valid_from.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        if notice.valid_from
        else "",
        "valid_until": notice.valid_until.astimezone(zone).strftime("%Y-%m-%dT%H:%M")
        if notice.valid_until
        else "",
        "image_id": notice.image_id or "",
    }
    for text in notice.texts:
        values[f"title_{text.language}"] = text.title
        values[f"body_{text.language}"] = text.body
    return values


@staff_view(Permission.EDIT_NOTICES)
async def notice_list(request: Request, db: AsyncSession) -> Response:
    status = request.query_params.get("status", "")
    if status not in STATUS_LABELS:
        status = ""
    rows = await notices.list_notices(db, request.state.user, status)
    return render(
        request,
        "notice_list.html",
        {
            "notices": rows,
            "status": status,
            "status_labels": STATUS_LABELS,
            "style_labels": STYLE_LABELS,
            "done": request.query_params.get("done", ""),
        },
    )


async def _save(
    request: Request, db: AsyncSession, notice_id: int | None
) -> tuple[Notice | None, Response | None]:
    user: User = request.state.user
    form = Form(await read_form(request))
    data = _notice_input(request, form, user)
    action = form.choice("action", {"draft", "submit", "approve"})
    try:
        form.check()
        submit = action in {"submit", "approve"}
        ip = client_ip(request)
        if notice_id is None:
            notice = await notices.create_notice(db, user, ip, data, submit=submit)
        else:
            notice = await notices.update_notice(db, user, ip, notice_id, data, submit=submit)
        if action == "approve":
            await notices.approve_notice(db, user, ip, notice.id)
    except ValidationFailed as exc:
        values: dict[str, object] = {
            k: v for k, v in form.data.items() if k not in {"csrf_token", "action"}
        }
        existing = None if notice_id is None else await notices.get_notice(db, user, notice_id)
        return None, await _form_page(request, db, existing, values, exc.errors, 422)
    return notice, None


@staff_view(Permission.EDIT_NOTICES)
@once
async def notice_new(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    if request.method == "GET":
        values: dict[str, object] = {"style": "normal", "site_id": user.site_id or ""}
        return await _form_page(request, db, None, values, {})
    notice, failed = await _save(request, db, None)
    if failed is not None:
        return failed
    assert notice is not None
    return redirect(request, f"/notices/{notice.id}?done=saved")


@staff_view(Permission.EDIT_NOTICES)
async def notice_edit(request: Request, db: AsyncSession) -> Response:
    user: User = request.state.user
    notice_id: int = request.path_params["notice_id"]
    if request.method == "POST":
        notice, failed = await _save(request, db, notice_id)
        if failed is not None:
            return failed
        return redirect(request, f"/notices/{notice_id}?done=saved")
    notice = await notices.get_notice(db, user, notice_id)
    return await _form_page(request, db, notice, _values_of(notice, user_timezone(request)), {})


@staff_view(Permission.EDIT_NOTICES)
async def notice_action(request: Request, db: AsyncSession) -> Response:
    """Send for approval, approve, or reject (with a reason)."""
    user: User = request.state.user
    notice_id: int = request.path_params["notice_id"]
    action: str = request.path_params["action"]
    if action not in {"submit", "approve", "reject"}:
        raise NotFound()  # never a rejection by a mistyped address
    form = Form(await read_form(request))
    ip = client_ip(request)
    if action == "submit":
        await notices.submit_notice(db, user, ip, notice_id)
    elif action == "approve":
        await notices.approve_notice(db, user, ip, notice_id)
    else:
        try:
            await notices.reject_notice(
                db, user, ip, notice_id, form.text("reason", required=False, max_length=500)
            )
        except ValidationFailed as exc:
            notice = await notices.get_notice(db, user, notice_id)
            return await _form_page(
                request,
                db,
                notice,
                _values_of(notice, user_timezone(request)),
                exc.errors,
                422,
            )
    return redirect(request, f"/notices/{notice_id}?done={action}")


@staff_view(Permission.EDIT_NOTICES)
async def notice_fit(request: Request, db: AsyncSession) -> Response:
    """While editing (htmx): the texts that need pages on screens even in the smallest
    legible type. A warning only: such a notice can still be saved."""
    user: User = request.state.user
    form = Form(await read_form(request))
    texts = _texts(form)
    image_id = form.optional_id("image_id")
    settings = settings_of(request)
    picture = None
    if image_id is not None and not form.errors:
        chosen = await scope.get(db, user, Media, image_id)  # a picture this user may use
        rendition = chosen.rendition("1920x1080")
        if rendition is not None:
            picture = media.file_path(settings.media_dir, rendition.filename)
    found = await run_in_threadpool(
        textfit.overflows, [t for t in texts if not form.errors], picture, settings.vendor_dir
    )
    return render(
        request, "_notice_fit.html", {"overflows": found, "content_languages": CONTENT_LANGUAGES}
    )
