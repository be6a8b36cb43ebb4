"""The media library page, uploads (with a progress bar) and serving renditions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from content.media import MediaRejected, safe_display_name
from signage import media
from signage.db import transaction
from signage.errors import BadRequest, NotFound, PayloadTooLarge, TooManyRequests
from signage.i18n import N_
from signage.models import User
from signage.permissions import Permission
from signage.web import (
    client_ip,
    current_user,
    redirect,
    render,
    settings_of,
    staff_view,
)

CACHE_FOREVER = "public, max-age=31536000, immutable"


async def media_list(request: Request) -> Response:
    if request.method == "POST":
        return await _upload(request)
    return await _media_page(request)


@staff_view(Permission.UPLOAD_MEDIA)
async def _media_page(request: Request, db: AsyncSession) -> Response:
    return render(
        request,
        "media_list.html",
        {
            "items": await media.list_media(db, request.state.user),
            "done": request.query_params.get("done", ""),
            "max_mb": settings_of(request).max_upload_bytes // (1024 * 1024),
        },
        block="media_grid",
    )


async def _upload(request: Request) -> Response:
    """No transaction is open while the picture is read and decoded (that can take a
    second or two), so other requests never wait for it."""
    user = await current_user(request, Permission.UPLOAD_MEDIA)
    settings = settings_of(request)
    try:
        form = await request.form(max_files=1, max_fields=10, max_part_size=1024 * 1024)
    except PayloadTooLarge:
        raise
    except Exception as exc:  # the multipart parser raises several types
        raise BadRequest(N_("The upload could not be read. Try again.")) from exc
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise BadRequest(N_("Choose a picture to upload."))
        try:
            display_name = safe_display_name(upload.filename)
        except MediaRejected as exc:
            raise BadRequest(exc.message, **exc.params) from exc
        if request.app.state.decodes.full():
            raise TooManyRequests(media.BUSY)  # before the file is read into memory
        data = await upload.read(settings.max_upload_bytes + 1)
        if len(data) > settings.max_upload_bytes:
            raise PayloadTooLarge()
    finally:
        await form.close()
    image = await media.ingest_upload(
        data,
        display_name,
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_image_pixels,
        gate=request.app.state.decodes,
    )
    async with transaction(request.app.state.db) as db:
        uploader = await db.get(User, user.id)
        assert uploader is not None
        await media.store(db, uploader, client_ip(request), image, display_name, settings.media_dir)
    return redirect(request, "/media?done=uploaded")


async def media_file(request: Request) -> Response:
    """A rendition by its content hash: public, immutable, served with its real type."""
    filename: str = request.path_params["filename"]
    path = media.file_path(settings_of(request).media_dir, filename)
    if not path.is_file():
        raise NotFound()
    extension = filename.rsplit(".", 1)[1]
    return FileResponse(
        path,
        media_type=media.CONTENT_TYPES[extension],
        headers={"cache-control": CACHE_FOREVER},
    )
