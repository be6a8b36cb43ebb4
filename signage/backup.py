"""`signage backup` and `signage restore`: one archive with the database and the files.

The archive is a tar.gz holding `manifest.json`, the database (a SQLite copy made with the
online backup API, or a `pg_dump --format=custom` file) and the data folder: `data/` (the
secret key and whatever else is kept there) and `media/` (pictures, renditions, voice clips,
screenshots). The database is copied first, so every file a row names is already on disk
when the files are copied (media are stored before their row commits).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from signage.db import create_sync_engine, first_line
from signage.settings import Settings

FORMAT = "signage-backup"
FORMAT_VERSION = 1
SQLITE_MEMBER = "database.sqlite3"
POSTGRES_MEMBER = "database.pgdump"
NAME = re.compile(r"^signage-(\d{8}T\d{6}Z)\.tar\.gz$")
# Rows these tables hold do not make a database "in use": the migrations' own record and
# the lease a server takes when it starts.
_HOUSEKEEPING = {"alembic_version", "job_leases"}


class BackupError(Exception):
    """The backup or restore stops with this one-line message; nothing was replaced."""


def package_version() -> str:
    try:
        return version("signage")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


@dataclass(frozen=True)
class Restored:
    archive: Path
    created_at: str
    made_by: str
    database: str
    files: int


def _kind(database_url: str) -> str:
    backend = make_url(database_url.replace("postgres://", "postgresql://", 1)).get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise BackupError(f"unsupported database {backend!r} (SIGNAGE_DATABASE_URL)")
    return backend


def _sqlite_path(database_url: str) -> Path:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database has nothing to back up")
    return Path(database).resolve()


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """The URL for pg_dump and pg_restore without its password, which goes in the
    environment instead (never on a command line that `ps` shows)."""
    url: URL = make_url(database_url.replace("postgres://", "postgresql://", 1))
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install PostgreSQL's client programs "
            "(apt-get install postgresql-client), the same major version as the server or newer"
        )
    return found


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(  # noqa: S603 (our own arguments, no shell)
        command, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise BackupError(f"{what} failed: {lines[0] if lines else f'exit {result.returncode}'}")


def _revision(database_url: str) -> str:
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            return str(conn.scalar(sa.text("SELECT version_num FROM alembic_version")) or "")
    except sa.exc.SQLAlchemyError:
        return ""
    finally:
        engine.dispose()


def _copy_sqlite(source: Path, target: Path) -> str:
    """Copy the database; returns its migration revision."""
    if not source.is_file():
        raise BackupError(f"there is no database at {source} (SIGNAGE_DATABASE_URL)")
    # Read by SQLite's online backup: a consistent snapshot, also of what is still in
    # the write-ahead log, while the server goes on writing.
    src = sqlite3.connect(source, timeout=30)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = dst.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise BackupError(f"the copy of {source} is damaged: {check}")
        if not dst.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
        ).fetchone():
            return ""
        revision = dst.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(revision[0]) if revision else ""
    except sqlite3.Error as exc:
        raise BackupError(f"cannot copy the database {source}: {exc}") from exc
    finally:
        dst.close()
        src.close()


def _files(root: Path, skip: set[Path]) -> Iterator[Path]:
    """Regular files under `root`, leaving out the paths in `skip` (and what is under them)."""
    if not root.is_dir():
        return
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(
            d
            for d in dirs
            if here / d not in skip and not d.startswith((".signage-backup-", ".restore-"))
        )
        for name in sorted(names):
            path = here / name
            if path in skip or NAME.match(name) or path.is_symlink() or not path.is_file():
                continue
            yield path


def _add(archive: tarfile.TarFile, path: Path, name: str) -> None:
    try:
        with path.open("rb") as f:
            info = archive.gettarinfo(arcname=name, fileobj=f)
            archive.addfile(info, f)
    except FileNotFoundError:  # removed while the backup ran (a temporary file)
        pass


def _archive_path(dest: Path, now: datetime) -> Path:
    if dest.name.endswith(".tar.gz"):
        return dest.resolve()
    return dest.resolve() / f"signage-{now:%Y%m%dT%H%M%SZ}.tar.gz"


def backup(
    settings: Settings, dest: Path, keep_days: int | None = None, now: datetime | None = None
) -> tuple[Path, list[Path]]:
    """Write one archive (a file ending in .tar.gz, or a new one named by the time in the
    folder `dest`); with `keep_days`, remove that folder's archives older than that.
    Returns the archive and the old archives removed."""
    now = now or datetime.now(UTC)
    kind = _kind(settings.database_url)
    target = _archive_path(dest, now)
    if keep_days is not None and dest.name.endswith(".tar.gz"):
        raise BackupError("--keep-days needs a folder to write dated archives in, not a file")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot make the folder {target.parent}: {exc.strerror}") from exc
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".signage-backup-") as work:
        scratch = Path(work)
        skip = {scratch, target.parent}
        if kind == "sqlite":
            database = scratch / SQLITE_MEMBER
            source = _sqlite_path(settings.database_url)
            revision = _copy_sqlite(source, database)
            skip |= {source.with_name(source.name + end) for end in ("", "-wal", "-shm")}
        else:
            database = scratch / POSTGRES_MEMBER
            url, env = _libpq(settings.database_url)
            revision = _revision(settings.database_url)
            _run(
                [_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                 f"--file={database}", f"--dbname={url}"],
                env, "pg_dump",
            )  # fmt: skip
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "signage": package_version(),
            "created_at": now.isoformat(timespec="seconds"),
            "database": kind,
            "revision": revision,
        }
        partial = scratch / "archive.tar.gz"
        with tarfile.open(partial, "w:gz") as archive:
            info = tarfile.TarInfo("manifest.json")
            body = json.dumps(manifest, indent=2).encode()
            info.size, info.mtime = len(body), int(now.timestamp())
            archive.addfile(info, io.BytesIO(body))
            archive.add(database, arcname=database.name)
            media = settings.media_dir
            for path in _files(settings.data_dir, skip | {media}):
                _add(archive, path, f"data/{path.relative_to(settings.data_dir)}")
            for path in _files(media, skip):
                _add(archive, path, f"media/{path.relative_to(media)}")
        partial.chmod(0o600)  # it holds the secret key and everything in the database
        with partial.open("rb") as f:
            os.fsync(f.fileno())
        os.replace(partial, target)  # the archive appears whole, or not at all
    removed = _prune(target.parent, keep_days, now, target) if keep_days is not None else []
    return target, removed


def _prune(folder: Path, keep_days: int, now: datetime, keep: Path) -> list[Path]:
    removed = []
    limit = now - timedelta(days=keep_days)
    for path in sorted(folder.iterdir()):
        match = NAME.match(path.name)
        if not match or path == keep:
            continue
        made = datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        if made < limit:
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# --- restore -------------------------------------------------------------------------


def _read_manifest(archive: tarfile.TarFile, path: Path) -> dict[str, str]:
    try:
        member = archive.extractfile("manifest.json")
        manifest = json.loads(member.read()) if member else None
    except (KeyError, ValueError):
        manifest = None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{path} is not an archive made by `signage backup`")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            f"{path} is in backup format {manifest.get('format_version')}, this version of "
            f"signage reads format {FORMAT_VERSION}"
        )
    return {str(k): str(v) for k, v in manifest.items()}


def _check_members(archive: tarfile.TarFile, path: Path, database: str) -> None:
    for member in archive.getmembers():
        name = member.name
        top = name.split("/", 1)[0]
        if (
            name.startswith("/")
            or ".." in Path(name).parts
            or not (member.isfile() or member.isdir())
            or (top not in {"data", "media"} and name not in {"manifest.json", database})
        ):
            raise BackupError(f"{path} holds {name!r}, which a backup never does: not restored")


def _tables_in_use(database_url: str) -> dict[str, int]:
    """Tables other than housekeeping that hold rows, with their counts."""
    engine = create_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            names = sa.inspect(conn).get_table_names()
            counts = {
                name: int(conn.scalar(sa.select(sa.func.count()).select_from(sa.table(name))) or 0)
                for name in names
                if name not in _HOUSEKEEPING
            }
    except sa.exc.SQLAlchemyError as exc:
        raise BackupError(f"cannot read the database: {first_line(exc)}") from exc
    finally:
        engine.dispose()
    return {name: count for name, count in counts.items() if count}


def _describe(counts: dict[str, int]) -> str:
    shown = [f"{counts[n]} {n}" for n in ("sites", "users", "notices", "screens") if n in counts]
    return ", ".join(shown or [f"{count} {name}" for name, count in sorted(counts.items())[:4]])


def _empty_postgres(database_url: str) -> None:
    """Drop every table, view, sequence and type of the database's schema: pg_restore
    makes them again."""
    engine = create_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            for sql in (
                "SELECT format('DROP VIEW IF EXISTS %I CASCADE', viewname) FROM pg_views "
                "WHERE schemaname = current_schema()",
                "SELECT format('DROP TABLE IF EXISTS %I CASCADE', tablename) FROM pg_tables "
                "WHERE schemaname = current_schema()",
                "SELECT format('DROP SEQUENCE IF EXISTS %I CASCADE', sequencename) "
                "FROM pg_sequences WHERE schemaname = current_schema()",
                "SELECT format('DROP TYPE IF EXISTS %I CASCADE', t.typname) FROM pg_type t "
                "JOIN pg_namespace n ON n.oid = t.typnamespace "
                "WHERE n.nspname = current_schema() AND t.typtype = 'e'",
            ):
                for statement in list(conn.execute(sa.text(sql)).scalars()):
                    conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _move_tree(source: Path, target: Path) -> int:
    moved = 0
    for path in _files(source, set()):
        place = target / path.relative_to(source)
        place.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(path, place)  # the media folder may be on another file system (NFS)
        moved += 1
    return moved


def restore(settings: Settings, archive_path: Path, force: bool = False) -> Restored:
    """Put back the database and the files of an archive made by `backup`. Refuses when
    the database holds data, unless `force`; files of the archive replace those with the
    same name, others are left."""
    kind = _kind(settings.database_url)
    if not archive_path.is_file():
        raise BackupError(f"there is no file {archive_path}")
    try:
        archive = tarfile.open(archive_path, "r:gz")  # noqa: SIM115 (closed by `with` below)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(f"{archive_path} is not an archive made by `signage backup`") from exc
    with archive:
        manifest = _read_manifest(archive, archive_path)
        if manifest.get("database") != kind:
            raise BackupError(
                f"{archive_path} holds a {manifest.get('database')} database but "
                f"SIGNAGE_DATABASE_URL names {kind}: restore into the same kind of database"
            )
        member = SQLITE_MEMBER if kind == "sqlite" else POSTGRES_MEMBER
        _check_members(archive, archive_path, member)
        if kind == "sqlite" and not _sqlite_path(settings.database_url).exists():
            in_use: dict[str, int] = {}
        else:
            in_use = _tables_in_use(settings.database_url)
        if in_use and not force:
            raise BackupError(
                f"the database already holds data ({_describe(in_use)}): restoring replaces "
                "all of it; stop the server, then run again with --force to do so"
            )
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=settings.data_dir, prefix=".restore-") as work:
            scratch = Path(work)
            try:
                archive.extractall(scratch, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise BackupError(f"cannot read {archive_path}: {exc}") from exc
            if kind == "sqlite":
                _restore_sqlite(scratch / member, _sqlite_path(settings.database_url))
            else:
                # Tables that `signage migrate` made, empty, or everything with --force.
                _empty_postgres(settings.database_url)
                url, env = _libpq(settings.database_url)
                _run(
                    [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error",
                     "--single-transaction", f"--dbname={url}", str(scratch / member)],
                    env, "pg_restore",
                )  # fmt: skip
            files = _move_tree(scratch / "data", settings.data_dir)
            files += _move_tree(scratch / "media", settings.media_dir)
    return Restored(
        archive_path, manifest.get("created_at", ""), manifest.get("signage", ""), kind, files
    )


def _restore_sqlite(copy: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(target.name + ".restoring")
    shutil.copyfile(copy, staged)
    # The old write-ahead log belongs to the old file: left beside the new one, SQLite
    # would replay it into the restored database.
    for end in ("-wal", "-shm", "-journal"):
        target.with_name(target.name + end).unlink(missing_ok=True)
    os.replace(staged, target)
