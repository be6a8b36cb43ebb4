"""The deploy kit (deploy/): nginx's server block passes `nginx -t` and proxies a real
`signage serve` (pages, a form post from another address, an upload, a player's
websocket), the systemd unit has what it needs, the settings example is valid."""

from __future__ import annotations

import argparse
import configparser
import io
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
import sqlalchemy as sa
import yaml
from PIL import Image
from websockets.sync.client import connect

from signage.cli import _check_workers, build_parser
from signage.db import utcnow
from signage.live.pairing import token_hash
from signage.models import Screen
from signage.settings import PROJECT_ROOT, SETTINGS, Settings, SettingsError

from .conftest import STAFF_PASSWORD, LiveServer, add_site, free_port
from .test_players import _hello

DEPLOY = PROJECT_ROOT / "deploy"
SITE = DEPLOY / "nginx" / "signage.conf"
UNIT = DEPLOY / "systemd" / "signage.service"
ENV_EXAMPLE = DEPLOY / "signage.env.example"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _nginx() -> str:
    binary = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is not installed: scripts/test installs it (apt-get)")
        pytest.skip("nginx is not installed (apt-get install nginx; scripts/test does as root)")
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl), for a test certificate")
    return binary


@dataclass
class Nginx:
    binary: str
    folder: Path
    conf: Path
    https_port: int
    http_port: int
    cert: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, "-e", str(self.folder / "error.log"), "-p", f"{self.folder}/",
             "-c", str(self.conf), *args],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, f"deploy/nginx/signage.conf no longer has {old!r} once"
    return text.replace(old, new)


def _setup_nginx(folder: Path, backend_port: int) -> Nginx:
    """The server block as an operator installs it, with a self-signed certificate and
    loopback ports in place of the placeholders, inside a minimal nginx.conf."""
    binary = _nginx()
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    https_port, http_port = free_port(), free_port()
    site = SITE.read_text()
    site = _replace(site, "/etc/ssl/signage/fullchain.pem", str(cert))
    site = _replace(site, "/etc/ssl/signage/privkey.pem", str(key))
    site = _replace(site, "server 127.0.0.1:8000;", f"server 127.0.0.1:{backend_port};")
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{http_port};")
    site = _replace(site, "listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;")
    site = _replace(site, "    listen [::]:80;\n", "")
    site = _replace(site, "    listen [::]:443 ssl;\n", "")
    (folder / "signage.conf").write_text(site)
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers reach the temp folder
    conf = folder / "nginx.conf"
    conf.write_text(
        f"{user}pid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 256; }\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {folder}/body;\n"
        f"  proxy_temp_path {folder}/proxy;\n  include {folder}/signage.conf;\n}}\n"
    )
    return Nginx(binary, folder, conf, https_port, http_port, cert)


def test_the_server_block_passes_nginx_t(tmp_path: Path) -> None:
    nginx = _setup_nginx(tmp_path, 8000)
    result = nginx.run("-t")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def _location(name: str) -> str:
    match = re.search(r"location " + re.escape(name) + r" \{(.*?)\n    \}", SITE.read_text(), re.S)
    assert match, name
    return match.group(1)


def _seconds(value: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def test_the_server_block_matches_the_settings() -> None:
    text = SITE.read_text()
    defaults = Settings.load(environ={}, env_file=None, secret_key="x")
    size = re.search(r"client_max_body_size (\d+)m;", text)
    assert size
    # The largest upload the CMS accepts plus its 64 KiB of other fields, not much more.
    needed = defaults.max_upload_bytes + 64 * 1024
    assert needed <= int(size.group(1)) * 1024 * 1024 <= needed + 1024 * 1024
    for name in ("/", "= /player/ws"):
        block = _location(name)
        assert "proxy_pass http://signage_backend;" in block
        # What SIGNAGE_TRUSTED_PROXIES believes, and the Host with its port as sent.
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in block
        assert "proxy_set_header X-Forwarded-Proto $scheme;" in block
        assert "proxy_set_header Host $http_host;" in block
    player = _location("= /player/ws")
    assert "proxy_set_header Upgrade $http_upgrade;" in player
    assert "proxy_buffering off;" in player
    timeout = re.search(r"proxy_read_timeout (\w+);", player)
    assert timeout and _seconds(timeout.group(1)) >= 600  # quiet sockets stay open
    assert re.search(r"return 301 https://", text)


@pytest.fixture
def screen_token(db: sa.Engine) -> str:
    """A paired screen, made before the server starts (SQLite: one writer at a time)."""
    token, site_id = secrets.token_urlsafe(24), add_site(db)
    with db.begin() as conn:
        conn.execute(
            sa.insert(Screen).values(
                site_id=site_id, name="hall", layout="full", token_hash=token_hash(token),
                created_at=utcnow(), player_kind="", player_version="", manifest_ack=0,
            )
        )  # fmt: skip
    return token


@pytest.fixture
def server_behind_nginx(
    database_url: str, screen_token: str, tmp_path: Path
) -> Iterator[LiveServer]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
        "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
        "SIGNAGE_DATABASE_URL": database_url,
        "SIGNAGE_PORT": str(free_port()),
        "SIGNAGE_LOG_LEVEL": "warning",
        "SIGNAGE_TRUSTED_PROXIES": "127.0.0.1",
        "SIGNAGE_SECURE_COOKIES": "true",
    }
    server = LiveServer(env, tmp_path / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nginx(server_behind_nginx: LiveServer, tmp_path: Path) -> Iterator[Nginx]:
    folder = tmp_path / "nginx"
    folder.mkdir()
    proxy = _setup_nginx(folder, int(server_behind_nginx.env["SIGNAGE_PORT"]))
    process = subprocess.Popen(
        [proxy.binary, "-e", str(folder / "error.log"), "-p", f"{folder}/", "-c",
         str(proxy.conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", proxy.https_port), timeout=1).close()
            break
        except OSError:
            log = folder / "error.log"
            assert process.poll() is None, log.read_text() if log.exists() else "nginx exited"
            assert time.monotonic() < deadline, "nginx did not start"
            time.sleep(0.05)
    try:
        yield proxy
    finally:
        process.terminate()
        process.wait(timeout=15)


def _picture(size: int) -> bytes:
    """A PNG of noise (it does not compress) of about `size` bytes."""
    side = int((size / 3) ** 0.5)
    image = Image.frombytes("RGB", (side, side), secrets.token_bytes(side * side * 3))
    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def test_nginx_proxies_pages_forms_uploads_and_player_sockets(
    server_behind_nginx: LiveServer, nginx: Nginx, db: sa.Engine, screen_token: str
) -> None:
    made = server_behind_nginx.cli(
        "create-admin", "chief", "--password-stdin", stdin=STAFF_PASSWORD + "\n"
    )
    assert made.returncode == 0, made.stderr
    tls = ssl.create_default_context(cafile=str(nginx.cert))
    base = f"https://127.0.0.1:{nginx.https_port}"

    # Plain HTTP is sent to HTTPS.
    plain = httpx.get(f"http://127.0.0.1:{nginx.http_port}/login?next=%2F", timeout=10)
    assert plain.status_code == 301
    assert plain.headers["location"] == "https://127.0.0.1/login?next=%2F"

    # The staff come from another address (127.0.0.2): the CMS must see that one, as
    # nginx forwards it from a trusted proxy.
    transport = httpx.HTTPTransport(local_address="127.0.0.2", verify=tls)
    with httpx.Client(base_url=base, transport=transport, timeout=60) as staff:
        page = staff.get("/login")
        assert page.status_code == 200
        found = TOKEN.search(page.text)
        assert found
        # A browser on port 443 sends Host and Origin without the port: the Host must
        # reach the CMS as sent, or it would take the form for a foreign one.
        login = staff.post(
            "/login",
            data={"username": "chief", "password": STAFF_PASSWORD, "csrf_token": found.group(1)},
            headers={"Host": "signage.test", "Origin": "https://signage.test"},
        )
        assert login.status_code == 303, login.text[-300:]
        assert login.headers["location"] == "/"
        assert staff.get("/").status_code == 200  # signed in (a Secure cookie over HTTPS)

        # An upload larger than nginx's default 1 MiB body, within client_max_body_size.
        picture = _picture(3 * 1024 * 1024)
        assert len(picture) > 2 * 1024 * 1024
        media = TOKEN.search(staff.get("/media").text)
        assert media
        upload = staff.post(
            "/media",
            files={"file": ("hall.png", picture, "image/png")},
            headers={"X-CSRF-Token": media.group(1), "Origin": base},
        )
        assert upload.status_code == 303, (upload.status_code, upload.text[-300:])
    with db.connect() as conn:
        addresses = conn.execute(
            sa.text("SELECT action, ip FROM audit_log WHERE action = 'media.upload'")
        ).all()
    assert [tuple(row) for row in addresses] == [("media.upload", "127.0.0.2")]

    # A player through the proxy: a websocket upgrade over TLS, hello and welcome, then a
    # heartbeat; the socket stays open.
    with connect(
        f"wss://127.0.0.1:{nginx.https_port}/player/ws",
        ssl=tls,
        additional_headers={"Origin": base},
        open_timeout=10,
    ) as ws:
        ws.send(_hello(screen_token))
        welcome = json.loads(ws.recv(timeout=10))
        assert welcome["type"] == "welcome", welcome
        ws.send(json.dumps({"type": "heartbeat", "manifest_version": 0, "playing": {}}))
        with pytest.raises(TimeoutError):
            while True:
                ws.recv(timeout=1)  # messages may come (a queue board); a close may not


# --- systemd and the settings example -------------------------------------------------


def _unit() -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_the_systemd_unit_has_its_sections_and_keys() -> None:
    unit = _unit()
    assert unit.sections() == ["Unit", "Service", "Install"]
    after = unit["Unit"]["After"].split()
    assert {"network-online.target", "postgresql.service", "redis-server.service"} <= set(after)
    service = unit["Service"]
    assert service["User"] == "signage"
    assert service["EnvironmentFile"] == "/etc/signage/signage.env"
    command = service["ExecStart"].split()
    assert command[0].endswith("/signage") and command[1] == "serve"
    assert command[2] == "--workers" and int(command[3]) >= 1
    assert service["Restart"] in {"always", "on-failure"}
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    data_dir = next(
        line.split("=", 1)[1]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line.startswith("SIGNAGE_DATA_DIR=")
    )
    assert data_dir in service["ReadWritePaths"].split()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    # The program must exist where it is verified: the one this checkout installed.
    signage = PROJECT_ROOT / ".venv" / "bin" / "signage"
    assert signage.exists()
    text = UNIT.read_text()
    assert text.count("/opt/signage/.venv/bin/signage") == 1
    copy = tmp_path / "signage.service"
    copy.write_text(text.replace("/opt/signage/.venv/bin/signage", str(signage)))
    result = subprocess.run(
        [analyze, "verify", str(copy)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "signage.service" in line and "Documentation" not in line
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


def _example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        setting = line.lstrip("#")
        if setting.startswith("SIGNAGE_") and "=" in setting:
            name, value = setting.split("=", 1)
            values[name] = value
    return values


def test_the_settings_example_names_real_settings_and_holds_no_secret(tmp_path: Path) -> None:
    values = _example()
    known = {f"SIGNAGE_{setting.name}" for setting in SETTINGS}
    assert set(values) <= known
    assert values.get("SIGNAGE_SECRET_KEY", "") == ""
    assert "PLACEHOLDER" in values["SIGNAGE_DATABASE_URL"]
    assert values["SIGNAGE_HUB_URL"].startswith("redis://")
    assert values["SIGNAGE_TRUSTED_PROXIES"] == "127.0.0.1"  # nginx's address, as proxied
    active = {
        name: value
        for name, value in values.items()
        if f"{name}={value}" in ENV_EXAMPLE.read_text().splitlines()
    }
    try:
        Settings.load(environ={"SIGNAGE_HUB_URL": values["SIGNAGE_HUB_URL"]}, env_file=None)
    except SettingsError:
        active.pop("SIGNAGE_HUB_URL")  # this version has no Redis hub yet: the rest must load
    settings = Settings.load(environ=active, env_file=None, data_dir=tmp_path, secret_key="x")
    assert settings.secure_cookies and settings.port == 8000


# --- the nightly backup -----------------------------------------------------------------

BACKUP_SERVICE = DEPLOY / "systemd" / "signage-backup.service"
BACKUP_TIMER = DEPLOY / "systemd" / "signage-backup.timer"


def _units(path: Path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(path.read_text())
    return parser


def _parses(command: list[str]) -> argparse.Namespace:
    """What `signage` makes of a command line that deploy/ names (exit 2 if it is wrong)."""
    assert Path(command[0]).name == "signage", command
    try:
        return build_parser().parse_args(command[1:])
    except SystemExit as exc:  # argparse printed why
        raise AssertionError(f"`{' '.join(command)}` is not a valid signage command") from exc


def test_the_backup_timer_runs_signage_backup_nightly_with_retention() -> None:
    timer = _units(BACKUP_TIMER)
    assert timer["Timer"]["OnCalendar"].startswith("*-*-*")
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Install"]["WantedBy"] == "timers.target"
    service = _units(BACKUP_SERVICE)["Service"]
    main = _unit()["Service"]
    for key in ("User", "EnvironmentFile", "WorkingDirectory"):
        assert service[key] == main[key], key  # the same settings as the server
    assert service["Type"] == "oneshot"
    args = _parses(service["ExecStart"].split())
    assert args.command == "backup" and args.keep_days >= 1
    writable = service["ReadWritePaths"].split()
    assert str(args.dest) in writable and set(main["ReadWritePaths"].split()) <= set(writable)


def test_systemd_analyze_verify_accepts_the_backup_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    signage = PROJECT_ROOT / ".venv" / "bin" / "signage"
    for unit in (BACKUP_SERVICE, BACKUP_TIMER):
        text = unit.read_text().replace("/opt/signage/.venv/bin/signage", str(signage))
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / BACKUP_TIMER.name), str(tmp_path / BACKUP_SERVICE.name)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "signage-backup" in line and "Documentation" not in line
    ]
    assert result.returncode == 0 and not problems, result.stdout + result.stderr


# --- the container image and compose file (no container engine runs here) ---------------

DOCKERFILE = DEPLOY / "Dockerfile"
COMPOSE = DEPLOY / "compose.yaml"
COMPOSE_ENV = DEPLOY / "compose.env.example"
PINNED = re.compile(r"^[\w./-]+:\d+\.\d+(\.\d+)?(-[\w.-]+)?$")  # a version tag, never latest


def _instructions() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (keyword, arguments), continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def _exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list), arguments
    return [str(part) for part in value]


def _compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


def _interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's ${NAME}, ${NAME:-default} and ${NAME:?error}, from the env example."""

    def one(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(3) or ""
        return variables.get(name, default if match.group(2) == ":-" else "")

    return re.sub(r"\$\{(\w+)(?:(:[-?])([^}]*))?\}", one, value)


def _compose_variables() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in COMPOSE_ENV.read_text().splitlines()
        if line and not line.startswith("#")
    )


def test_the_dockerfile_names_files_commands_settings_and_ports_that_exist() -> None:
    instructions = _instructions()
    defaults = Settings.load(environ={}, env_file=None, secret_key="x")
    known = {f"SIGNAGE_{setting.name}" for setting in SETTINGS}
    stages = set()
    env: dict[str, str] = {}
    for keyword, arguments in instructions:
        if keyword == "FROM":
            image, *alias = arguments.split()
            assert PINNED.match(image), f"{image} is not pinned to a version"
            assert image.startswith("python:3.11"), image
            stages.update(alias[1:])
        elif keyword == "COPY":
            parts = arguments.split()
            if parts[0].startswith("--from="):
                assert parts[0].removeprefix("--from=") in stages
                continue
            for source in parts[:-1]:
                assert (PROJECT_ROOT / source).exists(), f"COPY {source}: no such file"
        elif keyword == "ENV":
            env.update(re.findall(r"(\w+)=(\S+)", arguments))
    names = {name for name in env if name.startswith("SIGNAGE_")}
    assert names <= known, names - known
    settings = Settings.load(
        environ={n: env[n] for n in names}, env_file=None, secret_key="x", vendor_dir=Path(".")
    )
    assert settings.host == "0.0.0.0"  # noqa: S104 (reachable from outside the container)
    keywords = dict(instructions)  # the last of each: the final stage's
    assert keywords["USER"] not in {"root", "0"}
    assert json.loads(keywords["VOLUME"]) == [env["SIGNAGE_DATA_DIR"]]
    assert keywords["EXPOSE"] == str(settings.port) == str(defaults.port)
    health = keywords["HEALTHCHECK"]
    assert f"http://127.0.0.1:{settings.port}/healthz" in health
    command = _exec_form(keywords["CMD"])
    assert _parses(command).command == "serve"
    run = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "./scripts/setup" in run and (PROJECT_ROOT / "scripts" / "setup").exists()
    for package in ("espeak-ng", "postgresql-client"):  # the voice; backup and restore
        assert package in run
    ignore = DEPLOY / "Dockerfile.dockerignore"
    assert {".venv", "node_modules", "data", ".env"} <= set(ignore.read_text().split())


def test_the_compose_file_wires_postgresql_redis_and_the_app() -> None:
    from importlib.metadata import version

    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "app", "nginx"} <= set(services)
    for name, service in services.items():
        image = service["image"]
        assert PINNED.match(image), f"{name}: {image} is not pinned to a version"
    app = services["app"]
    assert app["image"] == f"signage:{version('signage')}"  # the image of this release
    build = app["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    for dependency, wanted in app["depends_on"].items():
        assert wanted == {"condition": "service_healthy"}
        assert services[dependency]["healthcheck"]["test"], dependency
    assert set(app["depends_on"]) == {"postgres", "redis"}

    variables = _compose_variables()
    named = set(re.findall(r"\$\{(\w+)", COMPOSE.read_text()))
    assert named <= set(variables), named - set(variables)
    assert "PLACEHOLDER" in variables["POSTGRES_PASSWORD"]
    environment = {k: _interpolate(str(v), variables) for k, v in app["environment"].items()}
    known = {f"SIGNAGE_{setting.name}" for setting in SETTINGS}
    assert set(environment) <= known, set(environment) - known
    for path in (DOCKERFILE, COMPOSE, COMPOSE_ENV):  # also in comments and the example
        named_settings = set(re.findall(r"SIGNAGE_[A-Z_]+", path.read_text()))
        assert named_settings <= known, (path.name, named_settings - known)
    settings = Settings.load(environ=environment, env_file=None, secret_key="x")
    database = sa.engine.make_url(settings.database_url)
    postgres = services["postgres"]["environment"]
    assert database.host == "postgres" and database.port == 5432
    assert database.username == postgres["POSTGRES_USER"]
    assert database.database == postgres["POSTGRES_DB"]
    assert settings.hub_url == "redis://redis:6379/0"
    command = [str(part) for part in app["command"]]
    args = _parses(command)
    assert args.command == "serve"
    _check_workers(settings, args.workers)  # several workers: PostgreSQL and Redis are set

    # The ports agree: the app's setting, the Dockerfile, the published port, nginx.
    keywords = dict(_instructions())
    assert keywords["EXPOSE"] == str(settings.port)
    published = {str(port).rsplit(":", 1)[1]: str(port) for port in app["ports"]}
    assert str(settings.port) in published
    nginx = services["nginx"]
    assert nginx["profiles"] == ["nginx"] and nginx["network_mode"] == "service:app"
    assert f"server 127.0.0.1:{settings.port};" in SITE.read_text()
    listens = set(re.findall(r"listen (\d+)", SITE.read_text()))
    assert listens <= set(published)
    assert settings.trusted_proxies == "127.0.0.1/32"  # nginx, in the app's network

    # Volumes: the data folder is the image's volume; files mounted from deploy/ exist.
    data_mounts = [v for v in app["volumes"] if v.split(":")[1] == str(settings.data_dir)]
    assert data_mounts and data_mounts[0].split(":")[0] in compose["volumes"]
    assert json.loads(keywords["VOLUME"]) == [str(settings.data_dir)]
    for mount in nginx["volumes"]:
        source = mount.split(":")[0]
        if not source.startswith("./tls/"):  # the city's certificate and key, not in the repo
            assert (DEPLOY / source).is_file(), source
