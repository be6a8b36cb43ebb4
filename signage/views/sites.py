"""Site management: the city hall and its branch offices."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from content.languages import LANGUAGES as CONTENT_LANGUAGES
from signage import sites
from signage.errors import Forbidden, ValidationFailed
from signage.i18n import N_
from signage.permissions import Permission
from signage.submissions import once
from signage.web import Form, client_ip, read_form, redirect, render, settings_of, staff_view


def _site_input(form: Form) -> sites.SiteInput:
    chosen = [str(v) for v in form.data.getlist("languages")]
    return sites.SiteInput(
        code=form.text("code", max_length=32).lower(),
        name=form.text("name", max_length=100),
        name_en=form.text("name_en", required=False, max_length=100),
        timezone=form.text("timezone", max_length=64),
        languages=",".join(chosen),
        active=form.flag("active"),
    )


def _context(request: Request, errors: dict[str, str]) -> dict[str, object]:
    return {
        "errors": errors,
        "content_languages": CONTENT_LANGUAGES,
        "default_timezone": settings_of(request).timezone,
        "done": request.query_params.get("done", ""),
    }


@staff_view(Permission.MANAGE_SITES)
@once
async def site_list(request: Request, db: AsyncSession) -> Response:
    errors: dict[str, str] = {}
    values: dict[str, object] = {
        "timezone": settings_of(request).timezone,
        "languages": ["ja", "en"],
        "active": True,
    }
    status_code = 200
    if request.method == "POST":
        if request.state.user.site_id is not None:
            raise Forbidden(N_("Only administrators of all sites can add sites."))
        form = Form(await read_form(request))
        data = _site_input(form)
        try:
            form.check()
            await sites.create_site(db, request.state.user, client_ip(request), data)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
            values = {**vars(data), "languages": data.languages.split(",")}
        else:
            return redirect(request, "/sites?done=created")
    context = _context(request, errors)
    sites_shown = await sites.list_sites(db, user=request.state.user)
    context.update({"sites": sites_shown, "values": values})
    return render(request, "sites.html", context, status_code=status_code)


@staff_view(Permission.MANAGE_SITES)
async def site_edit(request: Request, db: AsyncSession) -> Response:
    site_id: int = request.path_params["site_id"]
    site = await sites.get_site(db, request.state.user, site_id)
    errors: dict[str, str] = {}
    status_code = 200
    values: dict[str, object] = {**site.audit_view(), "languages": site.languages.split(",")}
    if request.method == "POST":
        form = Form(await read_form(request))
        data = _site_input(form)
        try:
            form.check()
            await sites.update_site(db, request.state.user, client_ip(request), site_id, data)
        except ValidationFailed as exc:
            errors, status_code = exc.errors, 422
            values = {**vars(data), "languages": data.languages.split(",")}
        else:
            return redirect(request, "/sites?done=saved")
    context = _context(request, errors)
    context.update({"site": site, "values": values})
    return render(request, "site_edit.html", context, status_code=status_code)
