"""Notices and their approval: editors draft, publishers approve or reject with a reason.

Nothing reaches a screen unless it is approved; an edit to an approved notice sends it
back for approval. Every step is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.languages import LANGUAGES as CONTENT_LANGUAGES
from content.notices import NoticeStatus, NoticeStyle, NoticeText, validate_texts
from signage import audit, changes, scope
from signage.db import utcnow
from signage.errors import Conflict, ValidationFailed
from signage.i18n import N_
from signage.models import Media, Notice, PlaylistItem, Screen, Site, User
from signage.models import NoticeText as NoticeTextRow
from signage.permissions import Permission, require


@dataclass
class NoticeInput:
    site_id: int | None
    style: str
    valid_from: datetime | None
    valid_until: datetime | None
    image_id: int | None
    texts: list[NoticeText]


async def list_notices(db: AsyncSession, user: User, status: str = "") -> list[Notice]:
    query = (
        sa.select(Notice)
        .where(scope.visible(user, Notice))
        .order_by(Notice.updated_at.desc(), Notice.id.desc())
    )
    if status:
        query = query.where(Notice.status == status)
    return list((await db.scalars(query)).all())


async def get_notice(
    db: AsyncSession, user: User, notice_id: int, *, change: bool = False
) -> Notice:
    return await scope.get(db, user, Notice, notice_id, change=change)


async def screens_showing(db: AsyncSession, user: User, notice_id: int) -> list[str]:
    """Names of the screens (of the user's sites) whose playlists hold this notice, so
    staff know whether approving it puts it anywhere."""
    from signage.manifests import screens_for_playlists

    playlist_ids = set(
        await db.scalars(
            sa.select(PlaylistItem.playlist_id).where(PlaylistItem.notice_id == notice_id)
        )
    )
    screen_ids = await screens_for_playlists(db, playlist_ids)
    if not screen_ids:
        return []
    query = (
        sa.select(Screen.name)
        .where(Screen.id.in_(screen_ids), scope.visible(user, Screen))
        .order_by(Screen.name)
    )
    return list(await db.scalars(query))


async def _validate(db: AsyncSession, user: User, data: NoticeInput) -> None:
    errors = validate_texts(data.texts)
    if data.style not in set(NoticeStyle):
        errors["style"] = N_("Choose one of the options.")
    for text in data.texts:
        if text.language not in CONTENT_LANGUAGES:
            errors["texts"] = N_("Choose at least one of the listed languages.")
    if data.valid_from and data.valid_until and data.valid_until <= data.valid_from:
        errors["valid_until"] = N_("The end must be after the start.")
    if data.site_id is not None:
        await scope.get(db, user, Site, data.site_id)
    elif user.site_id is not None:
        errors["site_id"] = N_("You can only write notices for your own site.")
    if data.image_id is not None:
        # A picture of the notice's site, or one shared by all sites.
        await scope.get(db, user, Media, data.image_id, site=data.site_id)
    if errors:
        raise ValidationFailed(errors)


def _apply(notice: Notice, data: NoticeInput) -> None:
    notice.site_id = data.site_id
    notice.style = data.style
    notice.valid_from = data.valid_from
    notice.valid_until = data.valid_until
    notice.image_id = data.image_id
    kept = [t for t in data.texts if t.title.strip()]
    existing = {row.language: row for row in notice.texts}
    rows = []
    for position, text in enumerate(kept):
        row = existing.get(text.language) or NoticeTextRow(language=text.language)
        row.position, row.title, row.body = position, text.title.strip(), text.body.strip()
        rows.append(row)
    notice.texts = rows
    notice.updated_at = utcnow()


async def create_notice(
    db: AsyncSession, user: User, ip: str, data: NoticeInput, *, submit: bool
) -> Notice:
    require(user, Permission.EDIT_NOTICES)
    await _validate(db, user, data)
    notice = Notice(created_by=user.id, texts=[])
    notice.status = NoticeStatus.PENDING if submit else NoticeStatus.DRAFT
    _apply(notice, data)
    db.add(notice)
    await db.flush()
    audit.record(
        db,
        user,
        "notice.create",
        "notice",
        notice.id,
        notice.title(),
        after=notice.audit_view(),
        ip=ip,
    )
    changes.record(db, changes.NoticeChanged(notice.id))
    return notice


async def update_notice(
    db: AsyncSession, user: User, ip: str, notice_id: int, data: NoticeInput, *, submit: bool
) -> Notice:
    """Save an edit. Any edit takes the notice off screens until it is approved again."""
    require(user, Permission.EDIT_NOTICES)
    notice = await get_notice(db, user, notice_id, change=True)
    await _validate(db, user, data)
    before = notice.audit_view()
    _apply(notice, data)
    notice.status = NoticeStatus.PENDING if submit else NoticeStatus.DRAFT
    notice.approved_by, notice.approved_at, notice.rejection_reason = None, None, ""
    after = notice.audit_view()
    audit.record(
        db,
        user,
        "notice.update",
        "notice",
        notice.id,
        notice.title(),
        before=before,
        after=after,
        ip=ip,
    )
    changes.record(db, changes.NoticeChanged(notice.id))
    return notice


async def submit_notice(db: AsyncSession, user: User, ip: str, notice_id: int) -> Notice:
    notice = await get_notice(db, user, notice_id, change=True)
    if notice.status not in (NoticeStatus.DRAFT, NoticeStatus.REJECTED):
        raise Conflict(N_("Only drafts and rejected notices can be sent for approval."))
    return _set_status(db, user, ip, notice, NoticeStatus.PENDING, "notice.submit")


async def approve_notice(db: AsyncSession, user: User, ip: str, notice_id: int) -> Notice:
    require(user, Permission.APPROVE_NOTICES, N_("Only publishers can approve notices."))
    notice = await get_notice(db, user, notice_id, change=True)
    if notice.status == NoticeStatus.APPROVED:
        raise Conflict(N_("This notice is already approved."))
    notice.approved_by, notice.approved_at, notice.rejection_reason = user.id, utcnow(), ""
    return _set_status(db, user, ip, notice, NoticeStatus.APPROVED, "notice.approve")


async def reject_notice(
    db: AsyncSession, user: User, ip: str, notice_id: int, reason: str
) -> Notice:
    require(user, Permission.APPROVE_NOTICES, N_("Only publishers can reject notices."))
    notice = await get_notice(db, user, notice_id, change=True)
    reason = reason.strip()
    if not reason:
        raise ValidationFailed({"reason": N_("Say why, so the author can fix it.")})
    if notice.status not in (NoticeStatus.PENDING, NoticeStatus.APPROVED):
        raise Conflict(N_("Only notices waiting for approval or approved can be rejected."))
    notice.rejection_reason = reason[:500]
    notice.approved_by, notice.approved_at = None, None
    return _set_status(db, user, ip, notice, NoticeStatus.REJECTED, "notice.reject")


def _set_status(
    db: AsyncSession, user: User, ip: str, notice: Notice, status: NoticeStatus, action: str
) -> Notice:
    before = {"status": notice.status}
    notice.status = status
    notice.updated_at = utcnow()
    after: dict[str, object] = {"status": status.value}
    if status == NoticeStatus.REJECTED:
        after["reason"] = notice.rejection_reason
    audit.record(
        db, user, action, "notice", notice.id, notice.title(), before=before, after=after, ip=ip
    )
    changes.record(db, changes.NoticeChanged(notice.id))
    return notice
