"""Uploading pictures through the staff UI: good files land once, bad ones leave nothing."""

from __future__ import annotations

import io
import struct
import threading
import zlib
from pathlib import Path

import httpx2 as httpx
import sqlalchemy as sa
from PIL import Image
from starlette.testclient import TestClient

from signage.models import Role
from signage.settings import Settings

from .conftest import LiveServer, add_user, csrf_token, login


def _jpeg(size: tuple[int, int] = (800, 600), color: str = "navy") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb() -> bytes:
    """A tiny PNG that declares 30000 x 30000 pixels."""
    header = struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 1000)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )


def _upload(client: TestClient, name: str, data: bytes, kind: str = "image/jpeg") -> httpx.Response:
    """A multipart upload written byte by byte, so the file name arrives exactly as given
    (HTTP clients escape NUL and quotes; an attacker's client need not)."""
    boundary = "----signage-test-boundary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="'.encode()
        + name.encode("utf-8")
        + f'"\r\nContent-Type: {kind}\r\n\r\n'.encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        "/media",
        content=body,
        headers={
            "X-CSRF-Token": csrf_token(client, "/media"),
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )


def _stored(db: sa.Engine, settings: Settings) -> tuple[int, int, list[Path]]:
    with db.connect() as conn:
        rows = conn.scalar(sa.text("SELECT count(*) FROM media")) or 0
        renditions = conn.scalar(sa.text("SELECT count(*) FROM media_renditions")) or 0
    # The voice folder holds what the announcer makes at start (the chime), not uploads.
    voice = settings.media_dir / "voice"
    files = (
        [p for p in settings.media_dir.rglob("*") if p.is_file() and voice not in p.parents]
        if settings.media_dir.exists()
        else []
    )
    return rows, renditions, files


def test_upload_makes_renditions_served_by_hash(
    client: TestClient, db: sa.Engine, settings: Settings
) -> None:
    add_user(db, "editor", Role.EDITOR)
    login(client, "editor")
    response = _upload(client, "窓口案内.jpg", _jpeg((4000, 3000)))
    assert response.status_code == 303, response.text
    rows, renditions, files = _stored(db, settings)
    assert (rows, renditions) == (1, 4)
    assert len(files) == 4
    assert all(len(p.stem) == 64 for p in files)  # named by SHA-256, never by the upload
    page = client.get("/media").text
    assert "窓口案内.jpg" in page
    thumb = page.split('<img src="')[1].split('"')[0]
    served = client.get(thumb)
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    assert Image.open(io.BytesIO(served.content)).size[0] <= 320
    # The same bytes again are stored once.
    again = _upload(client, "copy.jpg", _jpeg((4000, 3000)))
    assert again.status_code == 303
    assert _stored(db, settings)[:2] == (1, 4)
    with db.connect() as conn:
        assert (
            conn.scalar(sa.text("SELECT count(*) FROM audit_log WHERE action='media.upload'")) == 1
        )


def test_bad_uploads_get_a_reason_and_store_nothing(
    client: TestClient, db: sa.Engine, settings: Settings
) -> None:
    add_user(db, "editor", Role.EDITOR)
    login(client, "editor")
    good = _jpeg()
    cases = [
        ("notes.jpg", b"This is not a picture at all.", "JPEG"),
        ("page.jpg", b"<!doctype html><script>alert(1)</script>", "JPEG"),
        ("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "JPEG"),
        ("cut.jpg", good[: len(good) // 2], "壊れて"),
        ("bomb.png", _bomb(), "大きすぎ"),
        ("polyglot.jpg", good + b"PK\x03\x04<html>payload</html>", "余分なデータ"),
        ("../../etc/passwd.jpg", good, "/"),
        ("nul\x00.jpg", good, "制御文字"),
        ("evil\u202egpj.exe", good, "制御文字"),
    ]
    for name, data, expected in cases:
        response = _upload(client, name, data)
        assert response.status_code == 400, (name, response.status_code)
        assert expected in response.text, (name, response.text[-400:])
        assert "Traceback" not in response.text
    assert _stored(db, settings) == (0, 0, [])
    with db.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM audit_log")) == 0
    # And the server still serves.
    assert client.get("/healthz").status_code == 200


def test_oversized_upload_gets_413(client: TestClient, db: sa.Engine, settings: Settings) -> None:
    add_user(db, "editor", Role.EDITOR)
    login(client, "editor")
    response = _upload(client, "huge.jpg", b"\xff" * (settings.max_upload_bytes + 200_000))
    assert response.status_code == 413
    assert _stored(db, settings) == (0, 0, [])


def test_counter_staff_cannot_upload(client: TestClient, db: sa.Engine, settings: Settings) -> None:
    site = __import__("tests.conftest", fromlist=["add_site"]).add_site(db)
    add_user(db, "counter", Role.COUNTER, site_id=site)
    login(client, "counter")
    response = client.post(
        "/media",
        files={"file": ("a.jpg", _jpeg(), "image/jpeg")},
        headers={"X-CSRF-Token": csrf_token(client, "/")},
    )
    assert response.status_code == 403
    assert _stored(db, settings) == (0, 0, [])


def test_server_keeps_answering_while_a_big_picture_is_decoded(
    live_server: LiveServer, tmp_path: Path
) -> None:
    """No lock is held while a picture is decoded: other requests are answered meanwhile."""
    made = live_server.cli("create-admin", "chief", "--password-stdin", stdin="long password 1\n")
    assert made.returncode == 0, made.stderr
    buffer = io.BytesIO()
    Image.effect_noise((6000, 4000), 64).convert("RGB").save(buffer, "JPEG", quality=95)
    big = buffer.getvalue()
    with httpx.Client(base_url=live_server.url, follow_redirects=False) as client:
        page = client.get("/login").text
        token = page.split('name="csrf_token" value="')[1].split('"')[0]
        client.post(
            "/login", data={"username": "chief", "password": "long password 1", "csrf_token": token}
        )
        token = client.get("/media").text.split('name="csrf_token" value="')[1].split('"')[0]
        done = threading.Event()
        answered_during: list[int] = []
        statuses: list[int] = []

        def upload() -> None:
            response = client.post(
                "/media",
                files={"file": ("big.jpg", big, "image/jpeg")},
                headers={"X-CSRF-Token": token},
                timeout=120,
            )
            statuses.append(response.status_code)
            done.set()

        worker = threading.Thread(target=upload)
        worker.start()
        with httpx.Client(base_url=live_server.url) as other:
            while not done.is_set():
                if other.get("/healthz", timeout=30).status_code == 200 and not done.is_set():
                    answered_during.append(1)
        worker.join()
    assert statuses == [303]
    assert answered_during, "no request was answered while the upload was being processed"


def test_decoding_does_not_block_the_event_loop() -> None:
    """While a 24-megapixel picture is ingested, other coroutines keep running."""
    import asyncio

    from signage import media

    buffer = io.BytesIO()
    Image.effect_noise((6000, 4000), 64).convert("RGB").save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()

    async def scenario() -> tuple[int, int]:
        ticks = 0
        finished = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not finished.is_set():
                await asyncio.sleep(0.005)
                ticks += 1

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.02)
        before = ticks
        image = await media.ingest_upload(
            data,
            "big.jpg",
            max_bytes=50_000_000,
            max_pixels=50_000_000,
            gate=media.DecodeGate(50_000_000, 2),
        )
        during = ticks - before
        finished.set()
        await task
        assert len(image.renditions) == 4
        return before, during

    _, during = asyncio.run(scenario())
    # Run on the loop itself, ingestion would let the ticker run at most once.
    assert during >= 5


def test_housekeeping_removes_only_old_files_nothing_refers_to(
    client: TestClient, db: sa.Engine, settings: Settings, database_url: str
) -> None:
    import asyncio
    import os
    import time

    from signage import media
    from signage.db import create_engine, session_factory

    add_user(db, "editor", Role.EDITOR)
    login(client, "editor")
    assert _upload(client, "kept.jpg", _jpeg()).status_code == 303
    kept = [p for p in settings.media_dir.rglob("*") if p.is_file()]
    orphan = settings.media_dir / "ab" / ("ab" + "0" * 62 + ".jpg")
    fresh = settings.media_dir / "cd" / ("cd" + "1" * 62 + ".jpg")
    leftover = settings.media_dir / "ab" / ".upload-xyz"
    for path in (orphan, fresh, leftover):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    old = time.time() - 7200
    for path in (*kept, orphan, leftover):
        os.utime(path, (old, old))

    async def sweep() -> int:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return await media.prune_orphans(session, settings.media_dir)
        finally:
            await engine.dispose()

    assert asyncio.run(sweep()) == 2
    assert not orphan.exists() and not leftover.exists()
    assert fresh.exists()  # may belong to an upload in progress
    assert all(p.exists() for p in kept)
