"""Every setting of the CMS, declared once with its default and help text.

Values come from `SIGNAGE_*` environment variables, then from a `.env` file in the
working directory, then from the defaults below. Defaults run a complete demo on one
machine.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PREFIX = "SIGNAGE_"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class SettingsError(ValueError):
    """A setting has a value the CMS cannot use; the message names the setting."""


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError("expected true or false")


def _parse_positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a whole number above 0")
    return value


def _parse_lease_seconds(raw: str) -> int:
    if not (raw.strip().isascii() and raw.strip().isdigit() and 3 <= int(raw) <= 3600):
        raise ValueError("expected a whole number of seconds from 3 to 3600")
    return int(raw)


def _parse_port(raw: str) -> int:
    value = int(raw)
    if not 0 < value < 65536:
        raise ValueError("expected a port number between 1 and 65535")
    return value


def _parse_proxies(raw: str) -> str:
    """Comma-separated addresses or networks (CIDR), normalised; empty means none."""
    proxies = []
    for part in raw.split(","):
        if part.strip():
            try:
                proxies.append(str(ipaddress.ip_network(part.strip(), strict=False)))
            except ValueError:
                raise ValueError(
                    f"{part.strip()!r} is not an IP address or network (e.g. 127.0.0.1, 10.0.0.0/8)"
                ) from None
    return ",".join(proxies)


def _parse_optional_path(raw: str) -> Path | None:
    return Path(raw) if raw.strip() else None


def _parse_timezone(raw: str) -> str:
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {raw!r} (use a name such as Asia/Tokyo)") from exc
    return raw


def _parse_language(raw: str) -> str:
    if raw not in {"ja", "en"}:
        raise ValueError("expected ja or en")
    return raw


def _parse_hub_url(raw: str) -> str:
    if raw == "memory://":
        return raw
    if raw.startswith(("redis://", "rediss://")):
        # The form is checked here; Redis itself is reached at start (and reconnected to).
        try:
            parts = urlsplit(raw)
            parts.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            raise ValueError("not a Redis URL (redis://host:port/db)") from None
        if not parts.hostname or not re.fullmatch(r"/?\d*", parts.path):
            raise ValueError("not a Redis URL (redis://host:port/db)")
        return raw
    raise ValueError("expected memory:// or redis://host:port/db")


def _parse_log_level(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"debug", "info", "warning", "error"}:
        raise ValueError("expected debug, info, warning or error")
    return value


def _parse_log_format(raw: str) -> str:
    value = raw.strip().lower()
    if value not in {"json", "text"}:
        raise ValueError("expected json or text")
    return value


def _parse_metrics_token(raw: str) -> str:
    value = raw.strip()
    if value and (len(value) < 16 or not value.isascii() or not value.isprintable()):
        raise ValueError("expected at least 16 printable ASCII characters (or empty for none)")
    return value


def _parse_database_url(raw: str) -> str:
    if raw and not raw.startswith(("sqlite", "postgresql", "postgres://")):
        raise ValueError("expected a sqlite:/// or postgresql:// URL")
    return raw


def _parse_alert_rules(raw: str) -> Path | None:
    """A TOML rules file for CAP and JMA alerts, read and checked now (docs/alerts.md)."""
    from content.alerts.rules import RulesError, load_rules

    if not raw.strip():
        return None
    path = Path(raw).resolve()
    try:
        load_rules(path)
    except RulesError as exc:
        raise ValueError(str(exc)) from None
    return path


def _parse_public_url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError("expected an http:// or https:// address")
    return value


def _parse_alert_hours(raw: str) -> int:
    if not (raw.strip().isascii() and raw.strip().isdigit() and 1 <= int(raw) <= 72):
        raise ValueError("expected a whole number of hours from 1 to 72")
    return int(raw)


def _parse_webhook_attempts(raw: str) -> int:
    if not (raw.strip().isascii() and raw.strip().isdigit() and 1 <= int(raw) <= 30):
        raise ValueError("expected a whole number from 1 to 30")
    return int(raw)


def _parse_seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        value = float(raw)
        if not low <= value <= high:  # also refuses nan
            raise ValueError(f"expected a number of seconds from {low:g} to {high:g}")
        return value

    return parse


@dataclass(frozen=True)
class Setting:
    name: str
    default: str
    help: str
    parse: Callable[[str], Any] = str


# The single list of settings. A test checks each one is documented in README.md.
SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATA_DIR",
        "./data",
        "Folder for the SQLite database, the generated secret key and media files.",
        Path,
    ),
    Setting(
        "DATABASE_URL",
        "",
        "SQLAlchemy URL of the database. Empty means a SQLite file `signage.db` in the data "
        "folder (WAL mode). For PostgreSQL: postgresql://user:password@host/dbname.",
        _parse_database_url,
    ),
    Setting(
        "HUB_URL",
        "memory://",
        "Where live events are fanned out: memory:// (one server process) or "
        "redis://host:port/db (several server processes share events, manifests, queue "
        "boards, pairing and the fleet's status through Redis).",
        _parse_hub_url,
    ),
    Setting(
        "TIMEZONE",
        "Asia/Tokyo",
        "Default time zone for new sites and for the staff UI (an IANA name).",
        _parse_timezone,
    ),
    Setting(
        "MEDIA_DIR",
        "",
        "Folder for uploaded media and renditions. Empty means `media/` in the data folder.",
        _parse_optional_path,
    ),
    Setting(
        "SECRET_KEY",
        "",
        "Key for signing tokens. Empty means a random key is generated on first start and "
        "kept in `secret_key` in the data folder. Never commit it.",
    ),
    Setting("HOST", "127.0.0.1", "Address the server listens on (0.0.0.0 for all)."),
    Setting("PORT", "8000", "Port the server listens on.", _parse_port),
    Setting(
        "SECURE_COOKIES",
        "false",
        "Mark cookies Secure and use the __Host- prefix. Turn on when served over HTTPS.",
        _parse_bool,
    ),
    Setting(
        "SESSION_IDLE_MINUTES",
        "30",
        "A staff session ends after this many minutes without a request.",
        _parse_positive_int,
    ),
    Setting(
        "SESSION_MAX_HOURS",
        "12",
        "A staff session ends this many hours after login, however active.",
        _parse_positive_int,
    ),
    Setting(
        "LOGIN_MAX_FAILURES",
        "5",
        "Failed logins allowed per user name (and four times as many per address) within "
        "the login window before further tries get 429.",
        _parse_positive_int,
    ),
    Setting(
        "LOGIN_WINDOW_MINUTES",
        "15",
        "Length of the window in which failed logins are counted.",
        _parse_positive_int,
    ),
    Setting(
        "REQUIRE_TOTP",
        "false",
        "Administrators and publishers must use two-step sign-in (an authenticator app): "
        "those without it are sent to set it up right after login and can do nothing else "
        "until they have.",
        _parse_bool,
    ),
    Setting(
        "MAX_FORM_BYTES",
        "1048576",
        "Largest accepted body of a form or JSON request, in bytes (uploads have their own limit).",
        _parse_positive_int,
    ),
    Setting(
        "MAX_UPLOAD_BYTES",
        "31457280",
        "Largest accepted media upload, in bytes; larger ones get 413.",
        _parse_positive_int,
    ),
    Setting(
        "MAX_IMAGE_PIXELS",
        "50000000",
        "Largest accepted picture, in pixels (width x height); larger ones are refused.",
        _parse_positive_int,
    ),
    Setting(
        "TRUSTED_PROXIES",
        "",
        "Addresses or networks of the reverse proxies in front of the CMS (comma-separated, "
        "e.g. 127.0.0.1), whose X-Forwarded-For and X-Forwarded-Proto headers are believed. "
        "Empty means none: every client's own address counts, whatever headers it sends.",
        _parse_proxies,
    ),
    Setting(
        "DECODE_PIXEL_BUDGET",
        "60000000",
        "Pixels that picture uploads may hold decoded at once, all together (about 10 bytes "
        "of memory each); further uploads wait in line, and are refused with 429 when the "
        "line is long. A picture larger than the budget is decoded alone.",
        _parse_positive_int,
    ),
    Setting(
        "MAX_PARALLEL_DECODES",
        "2",
        "Picture uploads decoded at the same time (each takes one processor core).",
        _parse_positive_int,
    ),
    Setting(
        "DEFAULT_LANGUAGE",
        "ja",
        "Language of the staff UI before a user chooses one: ja or en.",
        _parse_language,
    ),
    Setting(
        "VENDOR_DIR",
        "",
        "Folder holding the npm packages the CMS serves (htmx). Empty means `node_modules` "
        "in the project folder, as `npm ci` installs it.",
        _parse_optional_path,
    ),
    Setting(
        "LOG_LEVEL",
        "info",
        "Logging level: debug, info, warning or error, for the CMS's own lines and every "
        "library's (the scheduler's routine lines are debug).",
        _parse_log_level,
    ),
    Setting(
        "LOG_FORMAT",
        "json",
        "json: one JSON object per line (time in UTC, level, logger, message, exception), "
        "for the service manager and log collectors; text: plain lines for people.",
        _parse_log_format,
    ),
    Setting(
        "ACCESS_LOG",
        "false",
        "Log one line per HTTP request (uvicorn's access log, in the same format). Off by "
        "default: the reverse proxy (nginx) keeps the access log.",
        _parse_bool,
    ),
    Setting(
        "METRICS_TOKEN",
        "",
        "Bearer token (16 characters or more) that Prometheus sends to read /metrics from "
        "any address (Authorization: Bearer ...). Empty means only SIGNAGE_METRICS_ALLOW.",
        _parse_metrics_token,
    ),
    Setting(
        "METRICS_ALLOW",
        "127.0.0.1,::1",
        "Addresses or networks (comma-separated) that may read /metrics without the token. "
        "Empty means none: the token is needed.",
        _parse_proxies,
    ),
    Setting(
        "PUBLIC_URL",
        "",
        "Address residents' phones open for their ticket (the QR code), e.g. "
        "https://queue.city.example. Empty means the address the kiosk itself uses.",
        _parse_public_url,
    ),
    Setting(
        "JOB_LEASE_SECONDS",
        "90",
        "Background jobs run in one server process at a time, the holder of a lease that it "
        "renews every third of this many seconds. When that process dies, another takes "
        "the jobs over within this time plus a third.",
        _parse_lease_seconds,
    ),
    Setting(
        "VOICE",
        "true",
        "Speak queue calls with the offline voices installed here (Open JTalk for Japanese, "
        "when the voice extra is installed; espeak-ng for others). false plays only the chime.",
        _parse_bool,
    ),
    Setting(
        "ALERT_RULES",
        "",
        "TOML file with the rules for CAP and JMA alerts posted to /api/v1/alerts/: which "
        "severity, urgency and certainty take over the screen or show a banner, and each "
        "site's area codes and JMA thresholds (docs/alerts.md). Checked at start. Empty "
        "means the default CAP rule and no site listed, so posted alerts reach no screen.",
        _parse_alert_rules,
    ),
    Setting(
        "ALERT_SECOND_PUBLISHER",
        "false",
        "A real (non-drill) emergency alert raised by staff is shown only once a second "
        "publisher or administrator confirms it. Drills never wait for a second person.",
        _parse_bool,
    ),
    Setting(
        "ALERT_MAX_HOURS",
        "3",
        "Longest time, in hours, an alert raised by staff may stay up before it expires "
        "(from 1 to 72).",
        _parse_alert_hours,
    ),
    Setting(
        "WEBHOOK_ATTEMPTS",
        "12",
        "How many times a webhook event is tried before it is marked failed (docs/webhooks.md).",
        _parse_webhook_attempts,
    ),
    Setting(
        "WEBHOOK_RETRY_SECONDS",
        "45",
        "Wait before a failed webhook event is tried again; it doubles with each try (±25 %), "
        "so 12 tries from 45 s span about a day.",
        _parse_seconds(0.01, 86400),
    ),
    Setting(
        "WEBHOOK_TIMEOUT_SECONDS",
        "5",
        "How long one webhook POST may take (connect, send, the answer's status line).",
        _parse_seconds(0.1, 60),
    ),
)


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip().strip("'\"")
    return values


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    database_url: str
    hub_url: str
    timezone: str
    media_dir: Path
    secret_key: str
    host: str
    port: int
    secure_cookies: bool
    session_idle_minutes: int
    session_max_hours: int
    login_max_failures: int
    login_window_minutes: int
    require_totp: bool
    max_form_bytes: int
    max_upload_bytes: int
    max_image_pixels: int
    trusted_proxies: str
    decode_pixel_budget: int
    max_parallel_decodes: int
    default_language: str
    vendor_dir: Path
    log_level: str
    log_format: str
    access_log: bool
    metrics_token: str
    metrics_allow: str
    public_url: str
    job_lease_seconds: int
    voice: bool
    alert_rules: Path | None
    alert_second_publisher: bool
    alert_max_hours: int
    webhook_attempts: int
    webhook_retry_seconds: float
    webhook_timeout_seconds: float

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = Path(".env"),
        **overrides: Any,
    ) -> Settings:
        """Read settings; keyword overrides (lower-case names) win over everything."""
        env = dict(_read_env_file(env_file)) if env_file is not None else {}
        env.update(environ if environ is not None else os.environ)
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            key = setting.name.lower()
            if key in overrides:
                values[key] = overrides.pop(key)
                continue
            raw = env.get(PREFIX + setting.name, setting.default)
            try:
                values[key] = setting.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{PREFIX}{setting.name}={raw!r} is not valid: {exc}") from exc
        if overrides:
            raise SettingsError(f"unknown settings: {', '.join(sorted(overrides))}")
        data_dir = Path(values["data_dir"]).resolve()
        values["data_dir"] = data_dir
        if not values["database_url"]:
            values["database_url"] = f"sqlite:///{data_dir / 'signage.db'}"
        media_dir, vendor_dir = values["media_dir"], values["vendor_dir"]
        values["media_dir"] = Path(media_dir).resolve() if media_dir else data_dir / "media"
        values["vendor_dir"] = (
            Path(vendor_dir).resolve() if vendor_dir else PROJECT_ROOT / "node_modules"
        )
        if not values["secret_key"]:
            values["secret_key"] = _stored_secret_key(data_dir)
        return cls(**values)


def _stored_secret_key(data_dir: Path) -> str:
    """Return the key kept in the data folder, creating it (mode 0600) on first use."""
    path = data_dir / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    except OSError as exc:
        raise SettingsError(f"cannot write the secret key to {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key)
    return key
