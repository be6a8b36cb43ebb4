"""The `signage` command: serve, migrate, create an admin or an API token, load demo data, run
the demo, back up and restore."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from signage import logs
from signage.db import DatabaseError, create_engine, migrate, session_factory
from signage.demo import Demo, load_demo
from signage.settings import Settings, SettingsError

if TYPE_CHECKING:
    from starlette.applications import Starlette

DEMO_DIR = Path(".demo-data")


def _configure_logging(settings: Settings | None = None, *, serving: bool = False) -> None:
    """The command's logging (signage/logs.py); each worker process of `serve --workers N`
    sets up the same. A server logs to standard output (the service manager keeps it);
    the other commands to standard error, so what they print (a password, a token) stays
    alone on standard output."""
    logs.configure(
        settings.log_level if settings is not None else "info",
        settings.log_format if settings is not None else "json",
        sys.stdout if serving else sys.stderr,
    )


class CommandError(Exception):
    """Ends the command with this one-line message and exit status 1."""


def _load_settings(**overrides: Any) -> Settings:
    try:
        return Settings.load(**overrides)
    except SettingsError as exc:
        raise CommandError(str(exc)) from exc


def _migrate(settings: Settings) -> None:
    try:
        migrate(settings.database_url)
    except DatabaseError as exc:
        raise CommandError(f"{exc} (SIGNAGE_DATABASE_URL)") from exc


def server_options(trusted_proxies: str = "") -> dict[str, Any]:
    """uvicorn's options for the player websockets and the proxy, as `signage serve` runs
    them; bench/ uses the same, so what is measured is what runs. Forwarded headers are
    believed only from `trusted_proxies` (SIGNAGE_TRUSTED_PROXIES), never by default."""
    from signage.http_protocol import TimedH11Protocol
    from signage.live.socket import PlayerWebSocketProtocol

    return {
        "http": TimedH11Protocol,  # closes connections that never finish a request head
        "timeout_keep_alive": 5,  # seconds an idle connection stays open after a response
        "ws": PlayerWebSocketProtocol,
        "ws_per_message_deflate": False,
        "ws_max_size": 64 * 1024,  # players send small JSON; larger messages are closed (1009)
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": trusted_proxies or "",
        "server_header": False,
    }


def _check_workers(settings: Settings, workers: int) -> None:
    """Several processes need a database and a hub they all share: refused otherwise."""
    if workers == 1:
        return
    missing = []
    if not settings.database_url.startswith(("postgresql", "postgres://")):
        missing.append("PostgreSQL (SIGNAGE_DATABASE_URL=postgresql://...)")
    if not settings.hub_url.startswith(("redis://", "rediss://")):
        missing.append("Redis (SIGNAGE_HUB_URL=redis://...)")
    if missing:
        raise CommandError(
            f"--workers {workers} needs {' and '.join(missing)}: SQLite and memory:// serve "
            "one process only; use --workers 1 or set them"
        )


def _check_hub(settings: Settings) -> None:
    """A Redis hub that does not answer stops the start here, in one line, before any worker
    is spawned (each worker would otherwise fail on its own, over and over)."""
    if not settings.hub_url.startswith(("redis://", "rediss://")):
        return
    import redis

    from signage.live.redis_hub import unreachable_message

    client = redis.Redis.from_url(settings.hub_url, socket_connect_timeout=5, socket_timeout=5)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        raise CommandError(unreachable_message(settings.hub_url, exc)) from None
    finally:
        client.close()


def _prepare_serving(settings: Settings) -> None:
    htmx = settings.vendor_dir / "htmx.org" / "dist" / "htmx.min.js"
    if not htmx.is_file():
        raise CommandError(
            f"htmx is not installed at {htmx}: run `npm ci` in the project folder "
            "(or set SIGNAGE_VENDOR_DIR)"
        )


def tune_gc() -> None:
    """A long-running server: move what exists at start out of the collector's way and
    collect the young generation less often (fewer pauses in a push to every screen)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _long_running(app: Starlette) -> Starlette:
    tune_gc()
    return app


def worker_app() -> Starlette:
    """The app of one worker process of `signage serve --workers N` (uvicorn's factory):
    settings from the same environment as the parent, which checked them and migrated."""
    from signage.app import create_app

    settings = Settings.load()
    _configure_logging(settings, serving=True)
    return _long_running(create_app(settings))


def _serve(settings: Settings, host: str | None, port: int | None, workers: int = 1) -> None:
    import uvicorn

    from signage.app import create_app

    _check_workers(settings, workers)
    _check_hub(settings)
    _prepare_serving(settings)
    _migrate(settings)  # once, here, before any worker starts
    options = server_options(settings.trusted_proxies)
    # Our logging (signage/logs.py), not uvicorn's: its loggers reach our handler.
    options |= {
        "log_config": None,
        "log_level": settings.log_level,
        "access_log": settings.access_log,
    }
    host, port = host or settings.host, port or settings.port
    if workers > 1:
        from signage import metrics

        # Each worker counts in files of one folder, which /metrics in any worker adds up.
        folder, made = metrics.prepare_multiprocess()
        try:
            # Each worker is a new (spawned) process that imports the app factory by name
            # (with this environment); uvicorn's supervisor restarts a worker that dies,
            # or that does not answer its health check within 30 s (uvicorn's 5 s killed
            # workers still starting on a busy two-core machine).
            uvicorn.run(
                "signage.cli:worker_app",
                factory=True,
                workers=workers,
                timeout_worker_healthcheck=30,
                host=host,
                port=port,
                **options,
            )
        finally:
            if made:
                metrics.remove_multiprocess(folder)
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        from signage import metrics

        metrics.prepare_multiprocess()  # set by the operator: emptied of an earlier run
    app = _long_running(create_app(settings))
    uvicorn.run(app, host=host, port=port, **options)


async def _create_user(settings: Settings, username: str, password: str) -> None:
    from signage import users
    from signage.db import transaction
    from signage.errors import ValidationFailed
    from signage.models import Role

    engine = create_engine(settings.database_url)
    try:
        async with transaction(session_factory(engine)) as db:
            await users.create_user(
                db,
                None,
                "",
                username,
                password,
                users.UserInput(
                    display_name=username,
                    role=Role.ADMIN,
                    site_id=None,
                    language=settings.default_language,
                ),
            )
    except ValidationFailed as exc:
        raise CommandError("; ".join(f"{k}: {v}" for k, v in exc.errors.items())) from exc
    finally:
        await engine.dispose()


async def _reset_two_step(settings: Settings, username: str) -> None:
    import sqlalchemy as sa

    from signage import totp
    from signage.db import transaction
    from signage.errors import Conflict
    from signage.models import User

    engine = create_engine(settings.database_url)
    try:
        async with transaction(session_factory(engine)) as db:
            user = await db.scalar(sa.select(User).where(User.username == username.lower()))
            if user is None:
                raise CommandError(f"there is no user {username!r}")
            await totp.reset(db, None, "", user, actor_name="command line")
    except Conflict as exc:
        raise CommandError(f"{username!r} does not use two-step sign-in") from exc
    finally:
        await engine.dispose()


async def _create_api_token(
    settings: Settings, name: str, scopes: list[str], site_code: str | None
) -> str:
    import sqlalchemy as sa

    from signage import api_tokens
    from signage.db import transaction
    from signage.errors import Conflict, ValidationFailed
    from signage.models import Site

    engine = create_engine(settings.database_url)
    try:
        async with transaction(session_factory(engine)) as db:
            site_id = None
            if site_code is not None:
                site_id = await db.scalar(sa.select(Site.id).where(Site.code == site_code))
                if site_id is None:
                    raise CommandError(f"there is no site with the code {site_code!r}")
            return await api_tokens.create_token(
                db, name, actor_name="command line", scopes=scopes, site_id=site_id
            )
    except ValidationFailed as exc:
        field, message = next(iter(exc.errors.items()))
        raise CommandError(f"{field}: {message}") from exc
    except Conflict as exc:
        raise CommandError(f"an API token named {name!r} already exists") from exc
    finally:
        await engine.dispose()


async def _load_demo(settings: Settings) -> Demo:
    engine = create_engine(settings.database_url)
    try:
        return await load_demo(session_factory(engine), settings.media_dir, settings.secret_key)
    finally:
        await engine.dispose()


def _print_accounts(settings: Settings, host: str, port: int, demo: Demo) -> None:
    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"  # noqa: S104
    print()
    print(f"  Demo city hall ready. Open {base}/ in a browser.")
    print("  Accounts (user name, password, what they do):")
    for username, password in demo.passwords.items():
        print(f"    {username:<8} {password}  {demo.roles.get(username, '')}")
    if demo.players:
        print("  Screens (open each link in its own browser window or kiosk browser):")
        for name, token in demo.players.items():
            print(f"    {name}: {base}/player/#token={token}")
    if demo.kiosk:
        print("  Queue calling:")
        print(f"    Ticket kiosk (a touch screen): {base}/kiosk/#token={demo.kiosk}")
        for name, counter_id in demo.counters.items():
            print(f"    Counter console {name} (log in as suzuki): {base}/counter/{counter_id}")
    print("  Operations (from this machine):")
    print(f"    Metrics for Prometheus: {base}/metrics   Readiness: {base}/readyz")
    print(f"  Data folder: {settings.data_dir} (reset each time the demo starts;")
    print("  ./scripts/demo --keep restarts it with its data)")
    print()


def _backup(settings: Settings, dest: Path, keep_days: int | None) -> None:
    from signage import backup

    try:
        archive, removed = backup.backup(settings, dest, keep_days)
    except backup.BackupError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:  # a full disk, a file it may not read: no archive was left
        raise CommandError(f"backup failed: {exc.strerror}: {exc.filename}") from exc
    print(f"backup written: {archive} ({archive.stat().st_size:,} bytes)")
    for old in removed:
        print(f"removed {old} (older than {keep_days} days)")


def _restore(settings: Settings, archive: Path, force: bool) -> None:
    from signage import backup

    try:
        done = backup.restore(settings, archive, force)
    except backup.BackupError as exc:
        raise CommandError(str(exc)) from exc
    except OSError as exc:
        raise CommandError(f"restore failed: {exc.strerror}: {exc.filename}") from exc
    print(
        f"restored {done.archive} (made {done.created_at} by signage {done.made_by}): "
        f"the {done.database} database and {done.files} files"
    )
    print("start the server (`signage serve` brings the database up to this version)")


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, not {raw!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (tests/test_deploy.py checks the commands deploy/ names)."""
    from signage import backup

    parser = argparse.ArgumentParser(prog="signage", description=__doc__)
    parser.add_argument(
        "--version", action="version", version=f"signage {backup.package_version()}"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="migrate the database, then serve the CMS")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="server processes sharing the port (more than 1 needs PostgreSQL and Redis)",
    )
    sub.add_parser("migrate", help="apply database migrations and exit")
    admin = sub.add_parser("create-admin", help="create an administrator account")
    admin.add_argument("username")
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    reset = sub.add_parser(
        "reset-two-step",
        help="turn off a user's two-step sign-in (the last administrator lost their phone)",
    )
    reset.add_argument("username")
    api_token = sub.add_parser(
        "create-api-token",
        help="make a token for the JSON API (alert feeds by default); printed once",
    )
    api_token.add_argument("name", help="who uses it, e.g. jma-relay")
    api_token.add_argument(
        "--scope",
        action="append",
        dest="scopes",
        metavar="SCOPE",
        help="what it may do (repeat for several; docs/api.md); default alerts:feed",
    )
    api_token.add_argument(
        "--site", metavar="CODE", help="the code of its one site (default: every site)"
    )
    sub.add_parser("load-demo", help="add the demo city hall to the configured database")
    backup_command = sub.add_parser(
        "backup",
        help="write one archive of the database and the data folder (media, voice clips, "
        "the secret key)",
    )
    backup_command.add_argument(
        "dest", type=Path, help="a folder (the archive is named by the time) or a .tar.gz file"
    )
    backup_command.add_argument(
        "--keep-days",
        type=_positive,
        help="then remove the folder's archives older than this many days",
    )
    restore_command = sub.add_parser(
        "restore", help="put back the database and the files of an archive from `signage backup`"
    )
    restore_command.add_argument("archive", type=Path)
    restore_command.add_argument(
        "--force", action="store_true", help="replace a database that already holds data"
    )
    demo_command = sub.add_parser(
        "demo", help="start a fresh demo city hall on SQLite and serve it"
    )
    demo_command.add_argument("--host")
    demo_command.add_argument("--port", type=int)
    demo_command.add_argument(
        "--keep",
        action="store_true",
        help="restart the demo with the data it has (accounts, content, paired screens)",
    )
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    serving = args.command in ("serve", "demo")
    _configure_logging(serving=serving)

    def _settings(**overrides: Any) -> Settings:
        settings = _load_settings(**overrides)
        _configure_logging(settings, serving=serving)
        return settings

    try:
        if args.command == "serve":
            _serve(_settings(), args.host, args.port, args.workers)
        elif args.command == "migrate":
            settings = _settings()
            _migrate(settings)
            print("database is up to date")
        elif args.command == "create-admin":
            settings = _settings()
            _migrate(settings)
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            elif sys.stdin.isatty():
                password = getpass.getpass("Password (10 characters or more): ")
            else:
                from signage.auth import generate_password

                password = generate_password()
                print(f"password: {password}")
            asyncio.run(_create_user(settings, args.username, password))
            print(f"administrator {args.username!r} created")
        elif args.command == "reset-two-step":
            settings = _settings()
            _migrate(settings)
            asyncio.run(_reset_two_step(settings, args.username))
            print(f"two-step sign-in of {args.username!r} is off; they log in with their password")
        elif args.command == "create-api-token":
            settings = _settings()
            _migrate(settings)
            token = asyncio.run(
                _create_api_token(settings, args.name, args.scopes or ["alerts:feed"], args.site)
            )
            print(f"API token {args.name!r} (shown only now; send it as Authorization: Bearer):")
            print(token)
        elif args.command == "load-demo":
            settings = _settings()
            _migrate(settings)
            demo = asyncio.run(_load_demo(settings))
            _print_accounts(settings, settings.host, settings.port, demo)
        elif args.command == "backup":
            _backup(_settings(), args.dest, args.keep_days)
        elif args.command == "restore":
            _restore(_settings(), args.archive, args.force)
        elif args.command == "demo":
            kept = args.keep and (DEMO_DIR / "signage.db").is_file()
            if not kept:
                shutil.rmtree(DEMO_DIR, ignore_errors=True)
            settings = _settings(
                data_dir=DEMO_DIR.resolve(),
                database_url=f"sqlite:///{DEMO_DIR.resolve()}/signage.db",
            )
            _migrate(settings)
            host, port = args.host or settings.host, args.port or settings.port
            if kept:
                print(f"\n  The demo goes on with its data in {settings.data_dir}: the accounts")
                print("  and links printed at its first start still work.\n")
            else:
                _print_accounts(settings, host, port, asyncio.run(_load_demo(settings)))
            print("  The server's log follows: one JSON object per line (SIGNAGE_LOG_FORMAT=text")
            print("  for plain lines, SIGNAGE_LOG_LEVEL=debug for more).\n", flush=True)
            _serve(settings, host, port)
    except CommandError as exc:
        print(f"signage: error: {exc}", file=sys.stderr)
        return 1
    return 0


def main() -> None:
    sys.exit(run())
