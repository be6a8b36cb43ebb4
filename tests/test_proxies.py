"""X-Forwarded-For is believed only from the proxies SIGNAGE_TRUSTED_PROXIES names."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2 as httpx
import pytest

from signage.settings import Settings, SettingsError

from .conftest import LiveServer

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _guesses_from_rotating_addresses(server: LiveServer) -> list[int]:
    """21 wrong logins for different names, each claiming another forwarded address."""
    with httpx.Client(base_url=server.url, timeout=30) as client:
        token = _TOKEN.search(client.get("/login").text)
        assert token
        return [
            client.post(
                "/login",
                data={"username": f"user{i}", "password": "nope", "csrf_token": token.group(1)},
                headers={"x-forwarded-for": f"203.0.113.{i}"},
            ).status_code
            for i in range(21)
        ]


def test_forwarded_addresses_are_ignored_unless_the_proxy_is_trusted(
    live_server: LiveServer,
) -> None:
    # Nothing trusted (the default): every guess counts for the real address, whose limit
    # is 20 failures (4 x SIGNAGE_LOGIN_MAX_FAILURES).
    assert _guesses_from_rotating_addresses(live_server) == [401] * 20 + [429]
    live_server.stop()
    live_server.env["SIGNAGE_TRUSTED_PROXIES"] = "127.0.0.1"
    live_server.env["SIGNAGE_LOGIN_WINDOW_MINUTES"] = "1"
    live_server.start()
    # Behind a trusted proxy, each forwarded address is its own client (the 20 failures
    # of 127.0.0.1 above no longer matter: they are not the client's address now).
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        token = _TOKEN.search(client.get("/login").text)
        assert token
        answer = client.post(
            "/login",
            data={"username": "someone", "password": "nope", "csrf_token": token.group(1)},
            headers={"x-forwarded-for": "198.51.100.7"},
        )
        assert answer.status_code == 401


def test_trusted_proxies_must_be_addresses(tmp_path: Path) -> None:
    environ = {"SIGNAGE_DATA_DIR": str(tmp_path)}
    settings = Settings.load(
        environ=environ | {"SIGNAGE_TRUSTED_PROXIES": "127.0.0.1, 10.0.0.0/8,::1"}, env_file=None
    )
    assert settings.trusted_proxies == "127.0.0.1/32,10.0.0.0/8,::1/128"
    with pytest.raises(SettingsError, match="not an IP address or network"):
        Settings.load(environ=environ | {"SIGNAGE_TRUSTED_PROXIES": "proxy.local"}, env_file=None)
