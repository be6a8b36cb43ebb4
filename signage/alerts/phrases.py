"""Administrators' versions of the ready alert texts (content/alerts/templates.py).

A saved text replaces the shipped one of that template and language when staff raise an
alert; it must use the same placeholders. Marking it reviewed records that a speaker of
the language checked it (the shipped texts of languages other than Japanese, English and
easy Japanese are for review). Only administrators of all sites edit them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from content.alerts import templates
from signage import audit
from signage.db import utcnow
from signage.errors import Forbidden, NotFound, ValidationFailed
from signage.i18n import N_
from signage.models import AlertPhrase, User
from signage.permissions import Permission, require

Edits = dict[str, dict[str, templates.Phrase]]


async def edits(db: AsyncSession) -> Edits:
    """template -> language -> the administrator's phrase."""
    out: Edits = {}
    for row in await db.scalars(sa.select(AlertPhrase)):
        out.setdefault(row.template, {})[row.language] = templates.Phrase(row.headline, row.body)
    return out


async def reviewed(db: AsyncSession) -> set[tuple[str, str]]:
    rows = await db.execute(
        sa.select(AlertPhrase.template, AlertPhrase.language).where(AlertPhrase.reviewed)
    )
    return {(t, lang) for t, lang in rows}


async def save(
    db: AsyncSession,
    actor: User,
    ip: str,
    key: str,
    language: str,
    headline: str,
    body: str,
    *,
    checked: bool,
) -> AlertPhrase:
    require(actor, Permission.EDIT_ALERT_TEMPLATES)
    if actor.site_id is not None:
        raise Forbidden(N_("This is shared by all sites: only staff of all sites can change it."))
    template = templates.TEMPLATES.get(key)
    if template is None or language not in template.phrases:
        raise NotFound(N_("This template does not exist."))
    errors: dict[str, str] = {}
    needs = set(template.needs)
    used = set(templates._PLACEHOLDER.findall(headline + body))
    if not headline.strip():
        errors["headline"] = N_("This field is required.")
    if used != needs or "{" in templates._PLACEHOLDER.sub("", headline + body):
        errors["body"] = N_(
            "Use exactly the blanks of the shipped text (such as {place}), no others."
        )
    if errors:
        raise ValidationFailed(errors)
    row = await db.scalar(
        sa.select(AlertPhrase).where(AlertPhrase.template == key, AlertPhrase.language == language)
    )
    before = row.audit_view() if row is not None else None
    if row is None:
        row = AlertPhrase(template=key, language=language)
        db.add(row)
    row.headline, row.body, row.reviewed = headline.strip(), body.strip(), checked
    row.updated_at, row.updated_by = utcnow(), actor.id
    await db.flush()
    audit.record(
        db,
        actor,
        "alert_template.update",
        "alert_template",
        f"{key}/{language}",
        f"{key} ({language})",
        before=before or {},
        after=row.audit_view(),
        ip=ip,
    )
    return row
