"""The media library page, uploads (with a progress bar) and serving renditions."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse, Response

from content.media import MediaRejected, safe_display_name
from signage import media
from signage.errors import BadRequest, NotFound, PayloadTooLarge
from signage.i18n import N_
from signage.models import Role
from signage.web import client_ip, redirect, render, settings_of, staff_view

UPLOADERS = (Role.ADMIN, Role.PUBLISHER, Role.EDITOR)
CACHE_FOREVER = "public, max-age=31536000, immutable"


@staff_view(*UPLOADERS)
async def media_list(request: Request, db: AsyncSession) -> Response:
    if request.method == "POST":
        return await _upload(request, db)
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


async def _upload(request: Request, db: AsyncSession) -> Response:
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
    )
    await media.store(
        db, request.state.user, client_ip(request), image, display_name, settings.media_dir
    )
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
