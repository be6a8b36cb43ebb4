"""The cache folder: token, active manifest, event position and media files verified by
size and SHA-256, all written atomically."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from content.protocol import (
    AlertInfo,
    BadMessage,
    FontEntry,
    Manifest,
    read_alert,
    read_font_entry,
    read_manifest,
)

log = logging.getLogger("players.headless")

CHUNK = 64 * 1024
# Manifest file names are content hashes; nothing else may become a path in the cache.
SAFE_FILE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9]+)?$")


def write_atomic(path: Path, data: bytes, *, mode: int = 0o600, durable: bool = True) -> None:
    """Replace `path` with `data` so that readers (and a power cut) see old or new, never
    half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _read_json(path: Path) -> Mapping[str, object] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


class MediaError(Exception):
    """A manifest's file could not be fetched or is not the file the manifest names."""


def _file_entry(entry: object) -> tuple[str, int, str]:
    if not isinstance(entry, Mapping):
        raise MediaError(f"not a file entry: {entry!r}")
    name, size, digest = entry.get("file"), entry.get("size"), entry.get("sha256")
    if not isinstance(name, str) or not SAFE_FILE.match(name) or len(name) > 200:
        raise MediaError(f"unsafe file name: {name!r}")
    if not isinstance(size, int) or size < 0 or not isinstance(digest, str):
        raise MediaError(f"{name}: no size or sha256")
    return name, size, digest.lower()


def _matches(path: Path, size: int, digest: str) -> bool:
    try:
        if path.stat().st_size != size:
            return False
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest() == digest
    except OSError:
        return False


def _download(url: str, path: Path, size: int, digest: str, timeout: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        hasher, received = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as file:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                while chunk := response.read(CHUNK):
                    received += len(chunk)
                    if received > size:
                        raise MediaError(f"{path.name}: larger than {size} bytes")
                    hasher.update(chunk)
                    file.write(chunk)
            file.flush()
            os.fsync(file.fileno())
        if received != size:
            raise MediaError(f"{path.name}: {received} bytes, expected {size}")
        if hasher.hexdigest() != digest:
            raise MediaError(f"{path.name}: SHA-256 does not match")
        os.replace(temp, path)
    except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
        raise MediaError(f"{path.name}: {error}") from error
    finally:
        with contextlib.suppress(OSError):
            os.unlink(temp)


def fetch_media(
    server: str, folder: Path, files: Sequence[object], timeout: float = 30.0
) -> list[str]:
    """Make sure `folder` holds every file of a manifest's `media`, each with its size and
    SHA-256 (fetching what is missing or damaged); returns the names; raises MediaError."""
    names: list[str] = []
    for entry in files:
        name, size, digest = _file_entry(entry)
        path = folder / name
        if not _matches(path, size, digest):
            log.info("fetching %s", name)
            _download(f"{server}/media/files/{quote(name)}", path, size, digest, timeout)
        names.append(name)
    return names


def manifest_languages(manifest: Manifest) -> set[str]:
    """The languages a manifest's notices and site are written in."""
    codes = set(manifest["site"]["languages"])
    for notice in manifest["notices"].values():
        codes.update(text["language"] for text in notice["texts"])
    return codes


def fetch_fonts(
    server: str, folder: Path, languages: set[str], timeout: float = 30.0
) -> list[FontEntry]:
    """Make sure `folder` holds the CMS's fonts for `languages` and its default font, each
    verified by size and SHA-256 (from /fonts/index.json); keeps and returns their index
    entries ([] from a CMS that serves no fonts); raises MediaError."""
    try:
        with urllib.request.urlopen(f"{server}/fonts/index.json", timeout=timeout) as response:  # noqa: S310
            body = json.loads(response.read(1024 * 1024))
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return []  # an older CMS: the fonts installed here draw everything
        raise MediaError(f"fonts index: {error}") from error
    except (OSError, ValueError, http.client.HTTPException) as error:
        raise MediaError(f"fonts index: {error}") from error
    entries = body.get("fonts") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise MediaError("fonts index: no list of fonts")
    try:
        index = [read_font_entry(entry) for entry in entries if isinstance(entry, dict)]
    except BadMessage as error:
        raise MediaError(f"fonts index: {error}") from error
    needed = [e for e in index if e["default"] or languages & set(e["languages"])]
    for entry in needed:
        name, size, digest = _file_entry(entry)
        path = folder / name
        if not _matches(path, size, digest):
            log.info("fetching font %s", name)
            _download(f"{server}/fonts/{quote(name)}", path, size, digest, timeout)
    write_atomic(folder / "index.json", json.dumps(needed, ensure_ascii=False).encode())
    return needed


class Cache:
    """The player's folder: its token, the active manifest, event position, media and
    fonts."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.media = folder / "media"
        self.fonts = folder / "fonts"
        folder.mkdir(parents=True, exist_ok=True)

    def font_index(self) -> list[FontEntry]:
        """The index entries of the fonts fetched last (verified when they were)."""
        try:
            stored = json.loads((self.fonts / "index.json").read_text(encoding="utf-8"))
            return [read_font_entry(e) for e in stored] if isinstance(stored, list) else []
        except (OSError, ValueError):  # BadMessage is a ValueError
            return []

    def token(self) -> str | None:
        try:
            token = (self.folder / "token").read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return token or None

    def keep_token(self, token: str) -> None:
        write_atomic(self.folder / "token", token.encode("ascii"), mode=0o600)

    def forget(self) -> None:
        """Forget the token and what it played (a revoked or unknown screen)."""
        for name in ("token", "manifest.json", "events.json", "alerts.json"):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / name).unlink()

    def manifest(self) -> tuple[int, Manifest] | None:
        """The manifest kept last (read as the protocol says), or None."""
        stored = _read_json(self.folder / "manifest.json")
        if stored is None:
            return None
        version = stored.get("version")
        try:
            manifest = read_manifest(stored.get("manifest"))
        except BadMessage:
            return None
        return (version if isinstance(version, int) else 0), manifest

    def keep_manifest(self, version: int, manifest: Manifest) -> None:
        body = json.dumps({"version": version, "manifest": manifest}, ensure_ascii=False)
        write_atomic(self.folder / "manifest.json", body.encode())

    def events(self) -> tuple[str | None, int]:
        stored = _read_json(self.folder / "events.json") or {}
        epoch, seq = stored.get("epoch"), stored.get("seq")
        return (epoch if isinstance(epoch, str) else None), (seq if isinstance(seq, int) else 0)

    def keep_events(self, epoch: str | None, seq: int) -> None:
        write_atomic(self.folder / "events.json", json.dumps({"epoch": epoch, "seq": seq}).encode())

    def alerts(self) -> list[AlertInfo]:
        """The last `alerts` list received (shown until each expires, also offline); what
        cannot be read is left out."""
        items = (_read_json(self.folder / "alerts.json") or {}).get("alerts")
        try:
            return [read_alert(item) for item in items] if isinstance(items, list) else []
        except BadMessage:
            return []

    def alerts_revision(self) -> int:
        """The revision of the kept list (0: none kept)."""
        value = (_read_json(self.folder / "alerts.json") or {}).get("revision")
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def keep_alerts(self, alerts: list[AlertInfo], revision: int = 0) -> None:
        body = json.dumps({"revision": revision, "alerts": alerts}, ensure_ascii=False)
        write_atomic(self.folder / "alerts.json", body.encode())

    def offset(self) -> float:
        """The server's clock minus this one's, in seconds, as last measured."""
        value = (_read_json(self.folder / "clock.json") or {}).get("offset")
        return float(value) if isinstance(value, int | float) else 0.0

    def keep_offset(self, seconds: float) -> None:
        write_atomic(self.folder / "clock.json", json.dumps({"offset": seconds}).encode())

    def prune_media(self, keep: set[str]) -> None:
        """Remove files no manifest needs any more, so a small device does not fill up."""
        if not self.media.is_dir():
            return
        for path in self.media.iterdir():
            if path.name not in keep and path.is_file():
                with contextlib.suppress(OSError):
                    path.unlink()
