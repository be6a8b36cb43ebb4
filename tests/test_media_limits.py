"""Uploads cannot take the server's memory: the decode gate, against the real server."""

from __future__ import annotations

import asyncio
import io
import re
import struct
import threading
import zlib
from pathlib import Path

import httpx2 as httpx
import pytest
from PIL import Image, ImageDraw

from signage.errors import TooManyRequests
from signage.media import DecodeGate

from .conftest import LiveServer, Staff

# The documented ceiling (docs/performance.md, docs/security.md) for the server process
# with 8 worst-case uploads at once, default settings.
CEILING_MB = 1024
WORST_SIDE = 7071  # 50 million pixels: just under SIGNAGE_MAX_IMAGE_PIXELS


def worst_case_png() -> bytes:
    """A few hundred KB that decode to 50 megapixels of RGBA with real transparency."""
    picture = Image.new("RGBA", (WORST_SIDE, WORST_SIDE), (200, 30, 30, 128))
    ImageDraw.Draw(picture).rectangle((100, 100, 3000, 3000), fill=(0, 0, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def with_text(png: bytes, text: str) -> bytes:
    """The same picture as a different file (a tEXt chunk after IHDR)."""
    body = b"Comment\0" + text.encode()
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + body))
    return png[:33] + chunk + png[33:]


def memory_mb(pid: int) -> tuple[float, float]:
    """(resident now, peak resident) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    now = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return now / 1024, peak / 1024


def upload(staff: Staff, data: bytes, name: str) -> int:
    # Waiting in line takes up to a minute (then 429): longer than the staff client waits.
    with httpx.Client(base_url=str(staff.http.base_url), cookies=staff.http.cookies) as http:
        response = http.post(
            "/media",
            files={"file": (name, data, "image/png")},
            headers={"x-csrf-token": staff.token("/media")},
            timeout=180,
        )
    return response.status_code


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_eight_worst_case_uploads_at_once_stay_under_the_ceiling(
    live_server: LiveServer, staff: Staff
) -> None:
    assert live_server.process is not None
    pid = live_server.process.pid
    png = worst_case_png()
    statuses: list[int] = []

    def send(i: int) -> None:
        statuses.append(upload(staff, with_text(png, f"copy {i}"), f"big{i}.png"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after, peak = memory_mb(pid)
    # On a busy machine some may be told to try again later (429); none fails otherwise.
    assert set(statuses) <= {303, 429}, statuses
    assert statuses.count(303) >= 2, statuses
    assert peak < CEILING_MB, f"peak {peak:.0f} MB"
    assert after < CEILING_MB / 2, f"still {after:.0f} MB after the uploads"


def test_the_gate_keeps_to_its_budget_in_arrival_order() -> None:
    async def scenario() -> tuple[list[str], int, int]:
        gate = DecodeGate(100, 2, waiting=10, patience=5)
        order: list[str] = []
        most_used = most_running = 0

        async def decode(name: str, pixels: int) -> None:
            nonlocal most_used, most_running
            async with gate.admit(pixels):
                order.append(name)
                most_used = max(most_used, gate.used)
                most_running = max(most_running, gate.running)
                await asyncio.sleep(0.01)

        await asyncio.gather(
            decode("big1", 80),
            decode("big2", 80),  # waits for big1
            decode("small1", 10),  # would fit beside big1, but big2 came first
            decode("huge", 500),  # larger than the budget: runs alone
            decode("small2", 10),
        )
        return order, most_used, most_running

    order, most_used, most_running = asyncio.run(scenario())
    assert order == ["big1", "big2", "small1", "huge", "small2"]
    assert most_used <= 100
    assert most_running <= 2


def test_the_gate_refuses_when_the_line_is_long_or_slow() -> None:
    async def scenario() -> list[str]:
        gate = DecodeGate(10, 1, waiting=1, patience=0.2)
        answers: list[str] = []
        release = asyncio.Event()

        async def decode(name: str) -> None:
            try:
                async with gate.admit(10):
                    answers.append(name)
                    await release.wait()
            except TooManyRequests as exc:
                answers.append(f"{name}: {exc.message}")

        first = asyncio.create_task(decode("first"))
        await asyncio.sleep(0)
        second = asyncio.create_task(decode("second"))  # waits, then gives up
        await asyncio.sleep(0)
        await decode("third")  # the line is full
        await second
        release.set()
        await first
        async with gate.admit(10):  # everything was given back
            answers.append("later")
        return answers

    answers = asyncio.run(scenario())
    busy = "Many pictures are being prepared right now. Try again in a minute."
    assert answers == ["first", f"third: {busy}", f"second: {busy}", "later"]
