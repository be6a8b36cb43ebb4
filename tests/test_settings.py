from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from signage.settings import PREFIX, PROJECT_ROOT, SETTINGS, Settings, SettingsError


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{PREFIX}{s.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_every_documented_setting_exists() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    known = {PREFIX + s.name for s in SETTINGS}
    mentioned = {word.strip("`") for word in readme.split() if word.startswith("`SIGNAGE_")}
    mentioned = {m.split("=")[0] for m in mentioned}
    assert mentioned - known - {"SIGNAGE_TEST_DATABASE_URL"} == set()


def test_defaults_run_a_demo_on_sqlite(tmp_path: Path) -> None:
    settings = Settings.load(environ={"SIGNAGE_DATA_DIR": str(tmp_path)}, env_file=None)
    assert settings.database_url == f"sqlite:///{tmp_path / 'signage.db'}"
    assert settings.hub_url == "memory://"
    assert settings.timezone == "Asia/Tokyo"
    assert settings.media_dir == tmp_path / "media"
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.job_lease_seconds == 90


def test_secret_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = Settings.load(environ={"SIGNAGE_DATA_DIR": str(tmp_path)}, env_file=None)
    second = Settings.load(environ={"SIGNAGE_DATA_DIR": str(tmp_path)}, env_file=None)
    assert len(first.secret_key) >= 40
    assert first.secret_key == second.secret_key
    mode = stat.S_IMODE(os.stat(tmp_path / "secret_key").st_mode)
    assert mode == 0o600


def test_env_file_is_read_and_environment_wins(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SIGNAGE_PORT=9000\nSIGNAGE_TIMEZONE='Europe/Berlin'\n# comment\n")
    settings = Settings.load(
        environ={"SIGNAGE_DATA_DIR": str(tmp_path), "SIGNAGE_PORT": "9100"}, env_file=env_file
    )
    assert settings.port == 9100
    assert settings.timezone == "Europe/Berlin"


def test_a_redis_hub_url_is_accepted(tmp_path: Path) -> None:
    url = "redis://127.0.0.1:6390/3"
    settings = Settings.load(
        environ={"SIGNAGE_DATA_DIR": str(tmp_path), "SIGNAGE_HUB_URL": url}, env_file=None
    )
    assert settings.hub_url == url


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("TIMEZONE", "Mars/Olympus", "unknown time zone"),
        ("PORT", "70000", "between 1 and 65535"),
        ("SESSION_IDLE_MINUTES", "-1", "above 0"),
        ("SECURE_COOKIES", "maybe", "true or false"),
        ("HUB_URL", "kafka://x", "memory://"),
        ("HUB_URL", "redis://127.0.0.1:port/0", "not a Redis URL"),
        ("HUB_URL", "redis:///0", "not a Redis URL"),
        ("LOG_LEVEL", "verbose", "debug, info, warning or error"),
        ("LOG_FORMAT", "xml", "json or text"),
        ("ACCESS_LOG", "sometimes", "true or false"),
        ("METRICS_TOKEN", "short", "at least 16"),
        ("METRICS_TOKEN", "sixteen chars\x01\x02\x03x", "printable ASCII"),
        ("METRICS_ALLOW", "localhost", "not an IP address or network"),
        ("DATABASE_URL", "mysql://x", "postgresql"),
        ("JOB_LEASE_SECONDS", "2", "from 3 to 3600"),
        ("JOB_LEASE_SECONDS", "a minute", "from 3 to 3600"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, name: str, value: str, expected: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.load(
            environ={"SIGNAGE_DATA_DIR": str(tmp_path), PREFIX + name: value}, env_file=None
        )
    assert f"SIGNAGE_{name}" in str(error.value)
    assert expected in str(error.value)
