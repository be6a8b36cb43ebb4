"""One real app on a real database per test: SQLite by default, PostgreSQL when
SIGNAGE_TEST_DATABASE_URL is set (CI runs both)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx2 as httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from signage import auth
from signage.app import create_app
from signage.db import create_sync_engine, migrate, utcnow
from signage.models import Base, Role, Site, User
from signage.queue.voice import openjtalk_installed
from signage.settings import PROJECT_ROOT, Settings

from .browser import Page, chromium, chromium_path
from .procs import Processes, running

PG_URL = os.environ.get("SIGNAGE_TEST_DATABASE_URL", "")
PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = PG_URL or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    if PG_URL:
        engine = create_sync_engine(url)
        with engine.begin() as conn:
            Base.metadata.drop_all(conn)
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
        engine.dispose()
    migrate(url)
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Engine]:
    """A synchronous engine on the emptied test database, for setting up and checking."""
    engine = create_sync_engine(database_url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    yield engine
    engine.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings.load(
        environ={},
        env_file=None,
        data_dir=tmp_path,
        database_url=database_url,
        secret_key="test-secret-key",
        vendor_dir=PROJECT_ROOT / "node_modules",
        voice=False,  # the chime only; tests of the voice turn it on
    )


@pytest.fixture
def client(settings: Settings, db: sa.Engine) -> Iterator[TestClient]:
    app = create_app(settings, scheduler=False)
    with TestClient(app, follow_redirects=False) as c:
        yield c


def add_site(engine: sa.Engine, code: str = "honcho", name: str = "本庁舎") -> int:
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(Site).values(
                code=code,
                name=name,
                name_en="",
                timezone="Asia/Tokyo",
                languages="ja,en",
                active=True,
                created_at=utcnow(),
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def add_user(
    engine: sa.Engine,
    username: str,
    role: Role,
    *,
    password: str = PASSWORD,
    site_id: int | None = None,
    language: str = "ja",
) -> int:
    now = utcnow()
    with engine.begin() as conn:
        result = conn.execute(
            sa.insert(User).values(
                username=username,
                display_name=username.title(),
                password_hash=auth.hash_password(password),
                role=role.value,
                site_id=site_id,
                language=language,
                active=True,
                created_at=now,
                password_changed_at=now,
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def csrf_token(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    match = CSRF_FIELD.search(page.text)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login(client: TestClient, username: str, password: str = PASSWORD) -> None:
    token = csrf_token(client)
    response = client.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.text


def post(client: TestClient, path: str, data: dict[str, object], page: str = "/") -> httpx.Response:
    """Post a form the way a browser does: with the token from a page of this session."""
    return client.post(path, data={**data, "csrf_token": csrf_token(client, page)})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """`signage serve` in its own process, on a loopback port; it can be stopped and
    started again on the same port and database (a server restart)."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.url = f"http://127.0.0.1:{env['SIGNAGE_PORT']}"
        self.process: subprocess.Popen[bytes] | None = None
        self.command = [sys.executable, "-m", "signage", "serve"]

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1):  # noqa: S310
                    return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.process.kill()
                    raise RuntimeError(self.log.read_text()) from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=15)

    def cli(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "signage", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=120,
            check=False,
        )


@pytest.fixture
def live_server(database_url: str, db: sa.Engine, tmp_path: Path) -> Iterator[LiveServer]:
    """The real server (`signage serve`) in its own process, on a free loopback port."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
        "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
        "SIGNAGE_DATABASE_URL": database_url,
        "SIGNAGE_PORT": str(free_port()),
        "SIGNAGE_LOG_LEVEL": "warning",
    }
    server = LiveServer(env, tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def processes(database_url: str, db: sa.Engine, tmp_path: Path) -> Iterator[Processes]:
    """Real `signage serve` processes and TCP proxies (tests/procs.py) on the emptied test
    database; every one is stopped when the test ends."""
    with running(database_url, tmp_path) as started:
        yield started


@pytest.fixture
def browser() -> Iterator[Page]:
    if chromium_path() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/test installs it (apt-get)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with chromium() as page:
        yield page


@pytest.fixture
def openjtalk() -> None:
    """For tests that hear Japanese calls: the voice extra (Open JTalk) must be installed."""
    if not openjtalk_installed():
        reason = "the Japanese voice (Open JTalk, the voice extra) is not installed"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: scripts/test installs it")
        pytest.skip(f"{reason}: ./scripts/setup --voice")


STAFF_PASSWORD = "a long admin password"


class Staff:
    """A publisher in the staff UI, over HTTP."""

    def __init__(self, server: LiveServer) -> None:
        made = server.cli("create-admin", "chief", "--password-stdin", stdin=STAFF_PASSWORD + "\n")
        assert made.returncode == 0, made.stderr
        self.http = httpx.Client(base_url=server.url, follow_redirects=False, timeout=30)
        self.post("/login", {"username": "chief", "password": STAFF_PASSWORD}, page="/login")

    def token(self, page: str) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.http.get(page).text)
        assert match, page
        return match.group(1)

    def post(self, path: str, data: dict[str, object], page: str = "/") -> httpx.Response:
        response = self.http.post(path, data={**data, "csrf_token": self.token(page)})
        assert response.status_code in (201, 303), (
            path,
            response.status_code,
            response.text[-500:],
        )
        return response

    def site(self) -> int:
        self.post(
            "/sites",
            {
                "code": "honcho",
                "name": "本庁舎",
                "timezone": "Asia/Tokyo",
                "languages": ["ja", "en"],
                "active": "1",
            },
            page="/sites",
        )
        match = re.search(r'/sites/(\d+)"', self.http.get("/sites").text)
        assert match
        return int(match.group(1))

    def notice(self, title: str, notice_id: int | None = None, **fields: str) -> int:
        """Write (or, with `notice_id`, edit) a notice and approve it; returns its id."""
        data = {
            "site_id": "",
            "style": "normal",
            "title_ja": title,
            "body_ja": "",
            "action": "approve",
            **fields,
        }
        path = f"/notices/{notice_id}" if notice_id else "/notices/new"
        response = self.post(path, data, page=path)
        return int(response.headers["location"].split("/")[2].split("?")[0])

    def playlist(self, notice_ids: list[int], name: str = "案内", seconds: int = 10) -> int:
        response = self.post("/playlists", {"name": name, "site_id": ""}, page="/playlists")
        playlist_id = int(response.headers["location"].rsplit("/", 1)[1])
        for notice_id in notice_ids:
            self.post(
                f"/playlists/{playlist_id}/items",
                {"kind": "notice", "notice_id": str(notice_id), "duration_seconds": str(seconds)},
                page=f"/playlists/{playlist_id}",
            )
        return playlist_id

    def play_by_default(self, screen_id: int, playlist_id: int, name: str = "1F ロビー") -> None:
        """Make `playlist_id` the default playlist of a screen of the first site."""
        site = re.search(r'/sites/(\d+)"', self.http.get("/sites").text)
        assert site
        self.post(
            f"/screens/{screen_id}",
            {
                "name": name,
                "site_id": site.group(1),
                "layout": "hall",
                "default_playlist_id": str(playlist_id),
                "groups": "",
            },
            page=f"/screens/{screen_id}",
        )

    def pair(self, code: str, site_id: int, name: str = "1F ロビー") -> int:
        response = self.post(
            "/screens/pair",
            {
                "code": code,
                "screen_id": "",
                "name": name,
                "site_id": str(site_id),
                "layout": "hall",
                "default_playlist_id": "",
                "groups": "",
            },
            page="/screens/pair",
        )
        match = re.search(r"/screens/(\d+)", response.headers["location"])
        assert match
        return int(match.group(1))


@pytest.fixture
def staff(live_server: LiveServer) -> Iterator[Staff]:
    person = Staff(live_server)
    yield person
    person.http.close()
