"""The media library: ingest uploads off the event loop, store renditions by SHA-256."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import re
import tempfile
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import cast

import anyio.to_thread
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.media import IngestedImage, MediaRejected, decode_pixels, ingest_image
from signage import audit, scope
from signage.errors import BadRequest, NotFound, TooManyRequests
from signage.i18n import N_
from signage.models import Media, Rendition, User
from signage.permissions import Permission, require

FILE_NAME = re.compile(r"^[0-9a-f]{64}\.(jpg|png|webp|gif)$")
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp", "gif": "image/gif"}


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


BUSY = N_("Many pictures are being prepared right now. Try again in a minute.")


class DecodeGate:
    """Lets picture decodes run while their pixels fit `budget` and fewer than `parallel`
    run, so parallel uploads cannot take the server's memory.

    The others wait in line, first come first served (a large picture is never overtaken
    for ever by small ones): at most `waiting` of them, each for at most `patience`
    seconds; beyond that the upload is refused with 429 and `BUSY`. Each holds its file
    in memory, so the line is short.
    """

    def __init__(
        self, budget: int, parallel: int, *, waiting: int = 8, patience: float = 60.0
    ) -> None:
        self.budget = budget
        self.parallel = parallel
        self.waiting = waiting
        self.patience = patience
        self.used = 0
        self.running = 0
        self._line: deque[tuple[int, asyncio.Future[None]]] = deque()

    def full(self) -> bool:
        """True when an upload would be refused now: checked before its file is read."""
        return len(self._line) >= self.waiting

    @contextlib.asynccontextmanager
    async def admit(self, pixels: int) -> AsyncIterator[None]:
        cost = min(pixels, self.budget)  # a picture larger than the budget runs alone
        if not self._line and self._fits(cost):
            self._take(cost)
        else:
            await self._wait(cost)
        try:
            yield
        finally:
            self._release(cost)

    async def _wait(self, cost: int) -> None:
        if len(self._line) >= self.waiting:
            raise TooManyRequests(BUSY)
        entry = (cost, asyncio.get_running_loop().create_future())
        self._line.append(entry)
        try:
            done, _ = await asyncio.wait({entry[1]}, timeout=self.patience)
        except BaseException:
            self._leave(entry)
            raise
        if not done:
            self._leave(entry)
            raise TooManyRequests(BUSY)

    def _leave(self, entry: tuple[int, asyncio.Future[None]]) -> None:
        if entry[1].done():  # admitted meanwhile: give the place back
            self._release(entry[0])
        else:
            entry[1].cancel()
            self._line.remove(entry)
            self._wake()

    def _fits(self, cost: int) -> bool:
        return self.running < self.parallel and self.used + cost <= self.budget

    def _take(self, cost: int) -> None:
        self.used += cost
        self.running += 1

    def _release(self, cost: int) -> None:
        self.used -= cost
        self.running -= 1
        self._wake()

    def _wake(self) -> None:
        while self._line and self._fits(self._line[0][0]):
            cost, future = self._line.popleft()
            self._take(cost)
            future.set_result(None)


def _return_memory_to_the_system() -> None:
    """glibc keeps freed blocks of a large decode in its arenas (the RSS of the server
    stayed at gigabytes after parallel uploads); give them back."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def _find_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    trim = getattr(libc, "malloc_trim", None)  # glibc only
    return cast("Callable[[int], int] | None", trim)


_malloc_trim = _find_malloc_trim()


async def ingest_upload(
    data: bytes, filename: str, *, max_bytes: int, max_pixels: int, gate: DecodeGate
) -> IngestedImage:
    """Decode and render in a worker thread, so pushes to screens never wait for Pillow,
    once the gate has room for the pixels it decodes."""

    def ingest() -> IngestedImage:
        try:
            return ingest_image(data, filename, max_bytes=max_bytes, max_pixels=max_pixels)
        finally:
            _return_memory_to_the_system()

    try:
        pixels = await anyio.to_thread.run_sync(lambda: decode_pixels(data))
        async with gate.admit(pixels):
            # Not cancellable: the gate is released only once the thread has finished.
            return await anyio.to_thread.run_sync(ingest)
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
    """Record an ingested image; identical files are stored once.

    A picture the uploader's library already has (their site's, or one for all sites) is
    not added twice. One that only another site has gets a row of this site's own, sharing
    the stored files, so nothing tells the uploader that another site has it.
    Returns the row and the files created, which the caller removes if its transaction
    fails, so a failed upload leaves no file behind.
    """
    require(user, Permission.UPLOAD_MEDIA)
    query = sa.select(Media).where(Media.sha256 == image.sha256)
    if user.site_id is not None:  # as in `list_media`
        query = query.where(sa.or_(Media.site_id == user.site_id, Media.site_id.is_(None)))
    existing = await db.scalar(query.order_by(Media.id).limit(1))
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
