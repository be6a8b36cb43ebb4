"""API tokens in the staff UI (administrators): make one with scopes and a site (shown
once, only its hash is kept), see when each was last used, revoke one. Drives
signage/api_tokens.py; every step is audited."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from signage import api_tokens, sites
from signage.errors import Conflict, ValidationFailed
from signage.permissions import Permission
from signage.submissions import once
from signage.web import Form, client_ip, is_htmx, read_form, redirect, render, staff_view


async def _page(
    request: Request,
    db: AsyncSession,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, object] | None = None,
    made: str = "",
    made_name: str = "",
    status_code: int = 200,
) -> Response:
    user = request.state.user
    return render(
        request,
        "api_tokens.html",
        {
            "tokens": await api_tokens.list_tokens(db, user),
            "sites": await sites.list_sites(db, user=user),
            "scopes": api_tokens.SCOPES,
            "errors": errors or {},
            "values": values or {"scopes": []},
            "made": made,
            "made_name": made_name,
            "done": request.query_params.get("done", ""),
        },
        block="api_token_table",
        status_code=status_code,
    )


@staff_view(Permission.MANAGE_API_TOKENS)
@once
async def api_token_list(request: Request, db: AsyncSession) -> Response:
    if request.method == "GET":
        return await _page(request, db)
    form = Form(await read_form(request))
    name = form.text("name", max_length=64)
    site_id = form.optional_id("site_id")
    chosen = [v for v in form.data.getlist("scopes") if isinstance(v, str)]
    values: dict[str, object] = {"name": name, "site_id": site_id or "", "scopes": chosen}
    try:
        form.check()
        token = await api_tokens.create_token(
            db,
            name,
            user=request.state.user,
            ip=client_ip(request),
            scopes=chosen,
            site_id=site_id,
        )
    except ValidationFailed as exc:
        return await _page(request, db, errors=exc.errors, values=values, status_code=422)
    except Conflict as exc:
        errors = {"name": exc.message}
        return await _page(request, db, errors=errors, values=values, status_code=422)
    # The token is shown this once; only its hash is kept.
    return await _page(request, db, made=token, made_name=name, status_code=201)


@staff_view(Permission.MANAGE_API_TOKENS)
async def api_token_revoke(request: Request, db: AsyncSession) -> Response:
    await read_form(request)
    token_id: int = request.path_params["token_id"]
    await api_tokens.revoke_token(db, request.state.user, client_ip(request), token_id)
    if is_htmx(request):
        request.scope["query_string"] = b"done=revoked"
        return await _page(request, db)
    return redirect(request, "/api-tokens?done=revoked")
