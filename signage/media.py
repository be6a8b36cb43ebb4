"""The media library: ingest uploads off the event loop, store renditions by SHA-256."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from pathlib import Path

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.media import IngestedImage, MediaRejected, ingest_image
from signage import audit, scope
from signage.errors import BadRequest, Forbidden, NotFound
from signage.models import Media, Rendition, Role, User

FILE_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp|gif)$")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}
UPLOADERS = {Role.ADMIN, Role.PUBLISHER, Role.EDITOR}


def file_path(media_dir: Path, filename: str) -> Path:
    """Where a rendition lives: fanned out by the first two hex digits of its hash."""
    if not FILE_NAME.match(filename):
        raise NotFound()
    return media_dir / filename[:2] / filename


async def list_media(db: AsyncSession, user: User) -> list[Media]:
    query = sa.select(Media).where(scope.visible(user, Media)).order_by(Media.id.desc())
    return list((await db.scalars(query)).all())


def _write_files(media_dir: Path, image: IngestedImage) -> list[Path]:
    """Write each rendition atomically; returns the files this call created."""
    created: list[Path] = []
    try:
        for rendition in image.renditions:
            extension = rendition.content_type.split("/")[1].replace("jpeg", "jpg")
            target = file_path(media_dir, f"{rendition.sha256}.{extension}")
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(rendition.data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temporary, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temporary)
                raise
            created.append(target)
    except BaseException:
        remove_files(created)
        raise
    return created


def remove_files(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def ingest_upload(
    data: bytes, filename: str, *, max_bytes: int, max_pixels: int
) -> IngestedImage:
    """Decode and render in a worker thread, so pushes to screens never wait for Pillow."""
    try:
        return await anyio.to_thread.run_sync(
            lambda: ingest_image(data, filename, max_bytes=max_bytes, max_pixels=max_pixels)
        )
    except MediaRejected as exc:
        raise BadRequest(exc.message, **exc.params) from exc


async def store(
    db: AsyncSession,
    user: User,
    ip: str,
    image: IngestedImage,
    display_name: str,
    media_dir: Path,
) -> tuple[Media, list[Path]]:
    """Record an ingested image; identical uploads are stored once.

    Returns the row and the files created, which the caller removes if its transaction
    fails, so a failed upload leaves no file behind.
    """
    if user.role not in UPLOADERS:
        raise Forbidden()
    existing = await db.scalar(sa.select(Media).where(Media.sha256 == image.sha256))
    if existing is not None:
        return existing, []
    created = await anyio.to_thread.run_sync(lambda: _write_files(media_dir, image))
    media = Media(
        sha256=image.sha256,
        display_name=display_name,
        format=image.format,
        width=image.width,
        height=image.height,
        animated=image.animated,
        frames=image.frames,
        size_bytes=sum(len(r.data) for r in image.renditions if r.name != "thumb"),
        site_id=user.site_id,
        uploaded_by=user.id,
        renditions=[
            Rendition(
                name=r.name,
                width=r.width,
                height=r.height,
                content_type=r.content_type,
                sha256=r.sha256,
                size_bytes=len(r.data),
            )
            for r in image.renditions
        ],
    )
    db.add(media)
    try:
        await db.flush()
    except BaseException:
        remove_files(created)
        raise
    audit.record(
        db, user, "media.upload", "media", media.id, display_name, after=media.audit_view(), ip=ip
    )
    return media, created


async def prune_orphans(db: AsyncSession, media_dir: Path, older_than: float = 3600.0) -> int:
    """Delete files no rendition refers to (left by a crash between writing and commit) and
    stale temporary files; files younger than `older_than` seconds may belong to an upload
    in progress and are kept. Returns how many files were removed."""
    referenced = set(await db.scalars(sa.select(Rendition.sha256)))

    def sweep() -> int:
        if not media_dir.is_dir():
            return 0
        cutoff = time.time() - older_than
        removed = 0
        for path in media_dir.glob("*/*"):
            stem = path.name.split(".", 1)[0]
            temporary = path.name.startswith(".upload-")
            if (temporary or (FILE_NAME.match(path.name) and stem not in referenced)) and (
                path.stat().st_mtime < cutoff
            ):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    return await anyio.to_thread.run_sync(sweep)
