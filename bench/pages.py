"""Staff pages per second through the whole stack, against a bare Starlette route.

Runs in-process (no network), 400 requests each, on a temporary SQLite database:
    .venv/bin/python bench/pages.py
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from signage.app import create_app
from signage.db import migrate
from signage.settings import PROJECT_ROOT, Settings

REQUESTS = 400


def _rate(client: TestClient, path: str) -> float:
    for _ in range(20):
        client.get(path)
    start = time.perf_counter()
    for _ in range(REQUESTS):
        assert client.get(path).status_code == 200
    return REQUESTS / (time.perf_counter() - start)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        migrate(url)
        settings = Settings.load(
            environ={},
            env_file=None,
            data_dir=Path(tmp),
            database_url=url,
            secret_key="bench",
            vendor_dir=PROJECT_ROOT / "node_modules",
        )
        with TestClient(create_app(settings, scheduler=False)) as client:
            import asyncio

            from signage.cli import _create_user

            asyncio.run(_create_user(settings, "bench", "bench password 1"))
            page = client.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token
            client.post(
                "/login",
                data={
                    "username": "bench",
                    "password": "bench password 1",
                    "csrf_token": token.group(1),
                },
            )
            body = client.get("/").text
            full = _rate(client, "/")

        bare = Starlette(routes=[Route("/", lambda request: HTMLResponse(body))])
        with TestClient(bare) as client:
            baseline = _rate(client, "/")
    print(f"dashboard, full stack : {full:8.0f} requests/s")
    print(f"bare Starlette route  : {baseline:8.0f} requests/s")
    print(f"ratio (full/bare)     : {full / baseline:8.2f}")


if __name__ == "__main__":
    main()
