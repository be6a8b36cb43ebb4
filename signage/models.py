"""Tables of the CMS. Every change here needs an Alembic migration in `migrations/`."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from content.protocol import Manifest as ManifestBody
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
    # Two-step sign-in (see `totp.py`): the authenticator's secret, encrypted with a key
    # derived from SIGNAGE_SECRET_KEY; it is only in force once `totp_enabled_at` is set.
    totp_secret: Mapped[str | None] = mapped_column(sa.String(255), default=None)
    totp_enabled_at: Mapped[datetime | None] = mapped_column(default=None)
    # The last 30-second step whose code was accepted, so no code works twice.
    totp_last_step: Mapped[int | None] = mapped_column(sa.BigInteger, default=None)

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


class RecoveryCode(Base):
    """A one-time code that stands in for the authenticator, stored as an argon2 hash."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(255))
    used_at: Mapped[datetime | None] = mapped_column(default=None)


class PendingLogin(Base):
    """A password already checked, waiting for the second step; keyed like a session."""

    __tablename__ = "pending_logins"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    next_path: Mapped[str] = mapped_column(sa.String(255), default="/")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")


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


class Media(Base):
    """An uploaded picture, stored once per SHA-256 of its original bytes."""

    __tablename__ = "media"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Not unique: each site that uploads a picture has its own row (the files are shared).
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    display_name: Mapped[str] = mapped_column(sa.String(200))
    format: Mapped[str] = mapped_column(sa.String(8))
    width: Mapped[int]
    height: Mapped[int]
    animated: Mapped[bool] = mapped_column(default=False)
    frames: Mapped[int] = mapped_column(default=1)
    size_bytes: Mapped[int]
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    uploaded_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    renditions: Mapped[list[Rendition]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="Rendition.id"
    )

    def rendition(self, name: str) -> Rendition | None:
        return next((r for r in self.renditions if r.name == name), None)

    def audit_view(self) -> dict[str, Any]:
        return {
            "display_name": self.display_name,
            "sha256": self.sha256,
            "format": self.format,
            "width": self.width,
            "height": self.height,
        }


class Rendition(Base):
    """A resized copy of a media file for one screen size; the file is named by its SHA-256."""

    __tablename__ = "media_renditions"

    id: Mapped[int] = mapped_column(primary_key=True)
    media_id: Mapped[int] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(16))
    width: Mapped[int]
    height: Mapped[int]
    content_type: Mapped[str] = mapped_column(sa.String(32))
    sha256: Mapped[str] = mapped_column(sa.String(64), index=True)
    size_bytes: Mapped[int]

    __table_args__ = (sa.UniqueConstraint("media_id", "name"),)

    @property
    def filename(self) -> str:
        extension = self.content_type.split("/")[1].replace("jpeg", "jpg")
        return f"{self.sha256}.{extension}"


class Notice(Base):
    __tablename__ = "notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None means the notice may be used on every site's screens.
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    style: Mapped[str] = mapped_column(sa.String(16), default="normal")
    status: Mapped[str] = mapped_column(sa.String(16), default="draft", index=True)
    valid_from: Mapped[datetime | None]
    valid_until: Mapped[datetime | None]
    image_id: Mapped[int | None] = mapped_column(sa.ForeignKey("media.id"))
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    approved_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    approved_at: Mapped[datetime | None]
    rejection_reason: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    texts: Mapped[list[NoticeText]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="NoticeText.position"
    )
    image: Mapped[Media | None] = relationship(lazy="selectin")

    __table_args__ = (
        sa.CheckConstraint("status IN ('draft', 'pending', 'approved', 'rejected')", name="status"),
        sa.CheckConstraint("style IN ('normal', 'important', 'closure')", name="style"),
    )

    def title(self, language: str = "ja") -> str:
        for text in self.texts:
            if text.language == language and text.title:
                return text.title
        return next((t.title for t in self.texts if t.title), "")

    def audit_view(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "status": self.status,
            "site_id": self.site_id,
            "valid_from": self.valid_from.isoformat() if self.valid_from else None,
            "valid_until": self.valid_until.isoformat() if self.valid_until else None,
            "image_id": self.image_id,
            **{f"title_{t.language}": t.title for t in self.texts},
            **{f"body_{t.language}": t.body for t in self.texts},
        }


class NoticeText(Base):
    __tablename__ = "notice_texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    notice_id: Mapped[int] = mapped_column(
        sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True
    )
    language: Mapped[str] = mapped_column(sa.String(16))
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text, default="")

    __table_args__ = (sa.UniqueConstraint("notice_id", "language"),)


class Playlist(Base):
    __tablename__ = "playlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list[PlaylistItem]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="PlaylistItem.position"
    )

    def audit_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "site_id": self.site_id,
            "items": [item.describe() for item in self.items],
        }


class PlaylistItem(Base):
    __tablename__ = "playlist_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    playlist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("playlists.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    kind: Mapped[str] = mapped_column(sa.String(16))
    notice_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("notices.id", ondelete="CASCADE"), index=True
    )
    media_id: Mapped[int | None] = mapped_column(sa.ForeignKey("media.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(sa.String(500), default="")
    duration_seconds: Mapped[int] = mapped_column(default=10)

    notice: Mapped[Notice | None] = relationship(lazy="selectin")
    media: Mapped[Media | None] = relationship(lazy="selectin")

    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('notice', 'image', 'ticker', 'clock', 'queue_board')", name="kind"
        ),
    )

    def describe(self) -> str:
        target = self.notice_id or self.media_id or self.text
        return f"{self.kind}:{target}:{self.duration_seconds}s"


class Screen(Base):
    """A display; a paired player holds a device token whose SHA-256 is `token_hash`."""

    __tablename__ = "screens"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    layout: Mapped[str] = mapped_column(sa.String(32))
    default_playlist_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("playlists.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    paired_at: Mapped[datetime | None]
    last_seen_at: Mapped[datetime | None]
    player_kind: Mapped[str] = mapped_column(sa.String(16), default="")
    player_version: Mapped[str] = mapped_column(sa.String(32), default="")
    manifest_ack: Mapped[int] = mapped_column(default=0)
    # Queue calls: a silent screen shows them without sound; a screen above a counter
    # shows only that counter's calls.
    silent: Mapped[bool] = mapped_column(default=False)
    counter_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("queue_counters.id", ondelete="SET NULL")
    )

    site: Mapped[Site] = relationship(lazy="selectin")
    groups: Mapped[list[ScreenGroup]] = relationship(
        secondary="screen_group_members", lazy="selectin", back_populates="screens"
    )

    def audit_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "site_id": self.site_id,
            "layout": self.layout,
            "default_playlist_id": self.default_playlist_id,
            "groups": sorted(g.name for g in self.groups),
            "silent": self.silent,
            "counter_id": self.counter_id,
        }


class PairingRequest(Base):
    """A new player waiting for staff to enter its code."""

    __tablename__ = "pairing_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(8), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    ip: Mapped[str] = mapped_column(sa.String(64), default="", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class ScreenGroup(Base):
    __tablename__ = "screen_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))

    screens: Mapped[list[Screen]] = relationship(
        secondary="screen_group_members", lazy="selectin", back_populates="groups"
    )

    __table_args__ = (sa.UniqueConstraint("site_id", "name"),)


screen_group_members = sa.Table(
    "screen_group_members",
    Base.metadata,
    sa.Column("group_id", sa.ForeignKey("screen_groups.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("screen_id", sa.ForeignKey("screens.id", ondelete="CASCADE"), primary_key=True),
)


class ScheduleEntry(Base):
    """A playlist put on a screen or a screen group, in a zone, for a time pattern."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    playlist_id: Mapped[int] = mapped_column(
        sa.ForeignKey("playlists.id", ondelete="CASCADE"), index=True
    )
    screen_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("screens.id", ondelete="CASCADE"), index=True
    )
    group_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("screen_groups.id", ondelete="CASCADE"), index=True
    )
    zone: Mapped[str] = mapped_column(sa.String(32), default="main")
    priority: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    # [{"weekdays": [0, 1, 2, 3, 4], "start": "08:30", "end": "17:15"}, ...]
    dayparts: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    cron: Mapped[str] = mapped_column(sa.String(100), default="")
    cron_minutes: Mapped[int] = mapped_column(default=0)
    days: Mapped[str] = mapped_column(sa.String(8), default="all")
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    playlist: Mapped[Playlist] = relationship(lazy="selectin")

    __table_args__ = (
        sa.CheckConstraint("(screen_id IS NULL) != (group_id IS NULL)", name="one_target"),
        sa.CheckConstraint("days IN ('all', 'open', 'closed')", name="days"),
    )

    def audit_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "playlist_id": self.playlist_id,
            "screen_id": self.screen_id,
            "group_id": self.group_id,
            "zone": self.zone,
            "priority": self.priority,
            "starts_at": self.starts_at.isoformat() if self.starts_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "dayparts": self.dayparts,
            "cron": self.cron,
            "cron_minutes": self.cron_minutes,
            "days": self.days,
        }


class Closure(Base):
    """A day a site's office is closed besides public holidays (e.g. year-end)."""

    __tablename__ = "closures"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(200), default="")

    __table_args__ = (sa.UniqueConstraint("site_id", "day"),)


class Manifest(Base):
    """What a screen plays: rebuilt when its inputs change; `version` rises on each change."""

    __tablename__ = "manifests"

    screen_id: Mapped[int] = mapped_column(
        sa.ForeignKey("screens.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(default=1)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    body: Mapped[ManifestBody] = mapped_column(sa.JSON)
    built_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobLease(Base):
    """Which process runs the scheduler's jobs; the lease is renewed while it lives."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(sa.String(100))
    expires_at: Mapped[datetime]


class FormSubmission(Base):
    """A create form already handled: its one-time `request_id` (per user) and where it led,
    so a double click or a repeated POST creates nothing twice and answers the same."""

    __tablename__ = "form_submissions"

    key: Mapped[str] = mapped_column(sa.String(80), primary_key=True)
    location: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


# --- queue-number calling -------------------------------------------------------------


class QueueSite(Base):
    """A site's queue settings and state; its row is also the lock that puts every call
    and every issue at the site in one order, so no ticket is ever called twice."""

    __tablename__ = "queue_sites"

    site_id: Mapped[int] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True
    )
    opens_at: Mapped[str] = mapped_column(sa.String(5), default="08:30")
    closes_at: Mapped[str] = mapped_column(sa.String(5), default="17:15")
    normal_per_priority: Mapped[int] = mapped_column(default=3)
    noshow_after_recalls: Mapped[int] = mapped_column(default=2)
    highlight_seconds: Mapped[int] = mapped_column(default=10)
    # Comma-separated languages of the voice announcement, in the order spoken.
    voice_languages: Mapped[str] = mapped_column(sa.String(100), default="ja,en")
    # The local date whose numbering is running, and the last date closed out.
    day: Mapped[date | None]
    closed_day: Mapped[date | None]
    normal_since_priority: Mapped[int] = mapped_column(default=0)

    def audit_view(self) -> dict[str, Any]:
        return {
            "opens_at": self.opens_at,
            "closes_at": self.closes_at,
            "normal_per_priority": self.normal_per_priority,
            "noshow_after_recalls": self.noshow_after_recalls,
            "highlight_seconds": self.highlight_seconds,
            "voice_languages": self.voice_languages,
        }


class QueueService(Base):
    """What residents come for (resident registration, tax, ...), with its own numbers."""

    __tablename__ = "queue_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    prefix: Mapped[str] = mapped_column(sa.String(3))
    name: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(100), default="")
    # Names in residents' other languages: {"zh-Hans": "...", "vi": "..."}.
    names: Mapped[dict[str, Any]] = mapped_column(sa.JSON, default=dict)
    position: Mapped[int] = mapped_column(default=0)
    open: Mapped[bool] = mapped_column(default=True)
    sequence_day: Mapped[date | None]
    last_number: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("site_id", "prefix"),)

    def names_by_language(self) -> dict[str, str]:
        """{"ja": ..., "en": ..., other languages it has a name in}."""
        names = {"ja": self.name, "en": self.name_en or self.name}
        names.update({k: str(v) for k, v in self.names.items() if v})
        return names

    def audit_view(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "name": self.name,
            "name_en": self.name_en,
            "names": self.names,
            "open": self.open,
        }


queue_counter_services = sa.Table(
    "queue_counter_services",
    Base.metadata,
    sa.Column(
        "counter_id", sa.ForeignKey("queue_counters.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "service_id", sa.ForeignKey("queue_services.id", ondelete="CASCADE"), primary_key=True
    ),
)


class QueueCounter(Base):
    """A window where staff serve residents; it calls from a chosen set of services."""

    __tablename__ = "queue_counters"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    number: Mapped[int]  # spoken and shown: "3番窓口", "counter 3"
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    open: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    services: Mapped[list[QueueService]] = relationship(
        secondary="queue_counter_services", lazy="selectin", order_by="QueueService.position"
    )
    site: Mapped[Site] = relationship(lazy="selectin")

    __table_args__ = (sa.UniqueConstraint("site_id", "number"),)

    def audit_view(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "open": self.open,
            "services": sorted(s.prefix for s in self.services),
        }


class TicketStatus(enum.StrEnum):
    WAITING = "waiting"
    CALLED = "called"
    SERVING = "serving"
    HELD = "held"
    DONE = "done"
    NO_SHOW = "no_show"
    CANCELLED = "cancelled"
    CLOSED = "closed"  # still open when the office closed: counted, not lost


OPEN_STATUSES = (TicketStatus.WAITING, TicketStatus.CALLED, TicketStatus.SERVING, TicketStatus.HELD)


class Ticket(Base):
    """One resident's place in a queue, from issue to the end of service."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    service_id: Mapped[int] = mapped_column(sa.ForeignKey("queue_services.id"), index=True)
    day: Mapped[date]
    number: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(16))  # "A-001"; kept across transfers
    priority: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(16), default=TicketStatus.WAITING)
    source: Mapped[str] = mapped_column(sa.String(16), default="staff")
    language: Mapped[str] = mapped_column(sa.String(16), default="ja")
    # The phone view's address: unguessable, and says nothing about the resident.
    public_id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    # A kiosk's or API client's id for one request: a repeat returns the same ticket.
    request_key: Mapped[str | None] = mapped_column(sa.String(80))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)  # its place in the queue
    called_at: Mapped[datetime | None]  # first call
    last_called_at: Mapped[datetime | None]
    recalls: Mapped[int] = mapped_column(default=0)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    counter_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("queue_counters.id", ondelete="SET NULL")
    )
    # Transferred to one counter: only that counter calls it next.
    for_counter_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("queue_counters.id", ondelete="SET NULL")
    )
    served_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    service: Mapped[QueueService] = relationship(lazy="selectin")
    counter: Mapped[QueueCounter | None] = relationship(lazy="selectin", foreign_keys=[counter_id])

    __table_args__ = (
        # A transferred ticket moves to another service's queue but keeps its number.
        sa.UniqueConstraint("site_id", "day", "label", name="uq_tickets_site_day_label"),
        sa.UniqueConstraint("site_id", "request_key", name="uq_tickets_site_request_key"),
        sa.Index("ix_tickets_site_status", "site_id", "status"),
        sa.Index("ix_tickets_site_day", "site_id", "day"),
        sa.CheckConstraint(
            "status IN ('waiting', 'called', 'serving', 'held', 'done', 'no_show', "
            "'cancelled', 'closed')",
            name="status",
        ),
    )

    def audit_view(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "status": self.status,
            "service_id": self.service_id,
            "counter_id": self.counter_id,
            "for_counter_id": self.for_counter_id,
            "priority": self.priority,
            "recalls": self.recalls,
        }


class Kiosk(Base):
    """A ticket kiosk (a touch screen); it holds a device token whose SHA-256 is kept."""

    __tablename__ = "kiosks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]

    site: Mapped[Site] = relationship(lazy="selectin")

    def audit_view(self) -> dict[str, Any]:
        return {"name": self.name, "site_id": self.site_id}


# --- the JSON API ---------------------------------------------------------------------


class ApiToken(Base):
    """A token a system outside the CMS sends (`Authorization: Bearer ...`) to the JSON API
    (docs/api.md); only its SHA-256 is kept (shown once, by the staff UI or
    `signage create-api-token NAME`). It may do what its scopes name, on its site (none:
    every site), until it is revoked."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    # Space-separated scopes (signage/api_tokens.py SCOPES).
    scopes: Mapped[str] = mapped_column(sa.String(400), default="alerts:feed")
    # A token of one site goes with its site (never widened to every site).
    site_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"))
    revoked_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


# --- emergency alerts -----------------------------------------------------------------


class AlertState(enum.StrEnum):
    PENDING = "pending_confirmation"
    ACTIVE = "active"
    CLEARED = "cleared"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Alert(Base):
    """An emergency alert (signage/alerts/service.py): raised by staff or a feed, shown on
    its `screens` (resolved from `targets` when raised) while active and not expired."""

    __tablename__ = "alerts"
    __table_args__ = (sa.UniqueConstraint("source", "identifier"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(16))  # manual, cap, jma
    identifier: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(16))
    mode: Mapped[str] = mapped_column(sa.String(16))
    drill: Mapped[bool] = mapped_column(default=False)
    template: Mapped[str] = mapped_column(sa.String(32), default="")
    # [{"language", "headline", "body"}, ...]
    texts: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON)
    # {"all": true} | {"sites": [ids]} | {"screens": [ids]}, as chosen
    targets: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    screens: Mapped[list[int]] = mapped_column(sa.JSON)  # the screens they meant then
    # The site of whoever raised it (None: staff of all sites, or a feed).
    site_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(sa.String(24), index=True)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    effective_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    cleared_at: Mapped[datetime | None]
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    confirmed_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    replaced_by: Mapped[int | None] = mapped_column(sa.ForeignKey("alerts.id", ondelete="SET NULL"))

    def audit_view(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "identifier": self.identifier,
            "level": self.level,
            "mode": self.mode,
            "drill": self.drill,
            "template": self.template,
            "targets": self.targets,
            "screens": self.screens,
            "state": self.state,
            "expires_at": self.expires_at.isoformat(),
            "headline": self.texts[0]["headline"] if self.texts else "",
        }


class AlertPhrase(Base):
    """An administrator's version of one ready alert text (content/alerts/templates.py),
    used instead of the shipped one; `reviewed`: checked by a speaker of the language."""

    __tablename__ = "alert_phrases"
    __table_args__ = (sa.UniqueConstraint("template", "language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    template: Mapped[str] = mapped_column(sa.String(32))
    language: Mapped[str] = mapped_column(sa.String(16))
    headline: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    reviewed: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    def audit_view(self) -> dict[str, Any]:
        return {"headline": self.headline, "body": self.body, "reviewed": self.reviewed}


# --- webhooks -----------------------------------------------------------------------------


class Webhook(Base):
    """A system outside the CMS told of one site's events by a signed POST
    (signage/webhooks.py). Its secret is sealed with SIGNAGE_SECRET_KEY: signing needs it."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(sa.ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    url: Mapped[str] = mapped_column(sa.String(500))
    events: Mapped[str] = mapped_column(sa.String(200))  # comma-separated event names
    secret: Mapped[str] = mapped_column(sa.String(255))  # sealed (`webhooks.seal`)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def audit_view(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "site_id": self.site_id,
            "url": self.url,
            "events": self.events,
            "enabled": self.enabled,
        }


class WebhookDelivery(Base):
    """The outbox: one event for one webhook, written in the transaction of the change,
    sent (and retried) by a background worker that claims it first."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_state_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(32))
    event_id: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[str] = mapped_column(sa.Text)  # the JSON exactly as it is sent
    state: Mapped[str] = mapped_column(sa.String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(sa.String(100))
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class WebhookAttempt(Base):
    """One try to deliver an event: the delivery log an administrator reads."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    delivery_id: Mapped[int] = mapped_column(
        sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    event: Mapped[str] = mapped_column(sa.String(32))
    attempt: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    error: Mapped[str] = mapped_column(sa.String(200), default="")
    duration_ms: Mapped[int] = mapped_column(default=0)
    outcome: Mapped[str] = mapped_column(sa.String(16))  # delivered, retry, failed


class ScreenPresence(Base):
    """Whether a screen was online at the last look of the `screen_watch` job, so that
    webhooks hear of each change once (signage/webhooks.py)."""

    __tablename__ = "screen_presence"

    screen_id: Mapped[int] = mapped_column(
        sa.ForeignKey("screens.id", ondelete="CASCADE"), primary_key=True
    )
    online: Mapped[bool]
    since: Mapped[datetime] = mapped_column(default=utcnow)
