"""Tables of the CMS. Every change here needs an Alembic migration in `migrations/`."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from signage.db import UTCDateTime, utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: sa.JSON()}  # noqa: RUF012


class Role(enum.StrEnum):
    ADMIN = "admin"
    PUBLISHER = "publisher"
    EDITOR = "editor"
    COUNTER = "counter"


class Site(Base):
    """A place of the municipality with its own screens, counters and staff."""

    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    timezone: Mapped[str] = mapped_column(sa.String(64))
    # Comma-separated language codes shown on this site's screens, in display order.
    languages: Mapped[str] = mapped_column(sa.String(100), default="ja,en")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def audit_view(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "name_en": self.name_en,
            "timezone": self.timezone,
            "languages": self.languages,
            "active": self.active,
        }


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    role: Mapped[str] = mapped_column(sa.String(16))
    # None means the user works for every site (typical for admins).
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    language: Mapped[str] = mapped_column(sa.String(8), default="ja")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    site: Mapped[Site | None] = relationship(lazy="selectin")

    __table_args__ = (
        sa.CheckConstraint("role IN ('admin', 'publisher', 'editor', 'counter')", name="role"),
    )

    def audit_view(self) -> dict[str, Any]:
        return {
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "site_id": self.site_id,
            "language": self.language,
            "active": self.active,
        }


class StaffSession(Base):
    """A server-side login session; the cookie holds a token whose SHA-256 is the key."""

    __tablename__ = "staff_sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(255), default="")


class LoginFailure(Base):
    """One failed login, counted per user name and per address for rate limiting."""

    __tablename__ = "login_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class AuditEntry(Base):
    """Who changed what, when, with the values before and after."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # Kept as text so the entry still names the actor after the account is gone.
    actor: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(64), index=True)
    target_type: Mapped[str] = mapped_column(sa.String(32))
    target_id: Mapped[str] = mapped_column(sa.String(64), default="")
    target_label: Mapped[str] = mapped_column(sa.String(200), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
