"""Memory of the real server (`signage serve`) under worst-case picture uploads.

The worst case is a 7071x7071 PNG with transparency (50 megapixels, ~210 KB), just under
SIGNAGE_MAX_IMAGE_PIXELS. Baseline: one such upload on a fresh server; then 8 at once on
another fresh server. Reads VmRSS/VmHWM of the server process from /proc (Linux):
    .venv/bin/python bench/uploads.py
"""

from __future__ import annotations

import io
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from pathlib import Path

import httpx2 as httpx
from PIL import Image, ImageDraw

SIDE = 7071
PASSWORD = "bench password 1"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def _png() -> bytes:
    picture = Image.new("RGBA", (SIDE, SIDE), (200, 30, 30, 128))
    ImageDraw.Draw(picture).rectangle((100, 100, 3000, 3000), fill=(0, 0, 255, 255))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return buffer.getvalue()


def _variant(png: bytes, i: int) -> bytes:
    body = b"Comment\0" + str(i).encode()
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body
    return png[:33] + chunk + struct.pack(">I", zlib.crc32(b"tEXt" + body)) + png[33:]


def _memory(pid: int) -> tuple[float, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    values = {
        key: int(re.search(key + r":\s+(\d+)", status).group(1)) / 1024  # type: ignore[union-attr]
        for key in ("VmRSS", "VmHWM")
    }
    return values["VmRSS"], values["VmHWM"]


def _run(png: bytes, uploads: int) -> tuple[float, float, float, list[int], float]:
    with tempfile.TemporaryDirectory() as tmp, socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        probe.close()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
            "SIGNAGE_DATA_DIR": tmp,
            "SIGNAGE_PORT": str(port),
            "SIGNAGE_LOG_LEVEL": "warning",
        }
        command = [sys.executable, "-m", "signage"]
        subprocess.run(  # noqa: S603 (our own command)
            [*command, "create-admin", "bench", "--password-stdin"],
            input=PASSWORD + "\n",
            env=env,
            text=True,
            capture_output=True,
            check=True,
        )
        server = subprocess.Popen(  # noqa: S603
            [*command, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1):  # noqa: S310
                        break
                except OSError:
                    time.sleep(0.1)
            with httpx.Client(base_url=url, timeout=300) as http:
                token = TOKEN.search(http.get("/login").text)
                assert token
                http.post(
                    "/login",
                    data={"username": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
                )
                token = TOKEN.search(http.get("/media").text)
                assert token
                idle, _ = _memory(server.pid)
                statuses: list[int] = []

                def send(i: int) -> None:
                    response = http.post(
                        "/media",
                        files={"file": (f"big{i}.png", _variant(png, i), "image/png")},
                        headers={"x-csrf-token": token.group(1)},
                    )
                    statuses.append(response.status_code)

                start = time.perf_counter()
                threads = [threading.Thread(target=send, args=(i,)) for i in range(uploads)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join()
                elapsed = time.perf_counter() - start
                time.sleep(1)
                after, peak = _memory(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
    return idle, peak, after, statuses, elapsed


def main() -> None:
    png = _png()
    print(f"worst case: {SIDE}x{SIDE} RGBA PNG, {len(png) / 1024:.0f} KB")
    results = {}
    for uploads in (1, 8):
        idle, peak, after, statuses, elapsed = _run(png, uploads)
        results[uploads] = peak - idle
        print(
            f"{uploads} upload(s) at once: idle {idle:5.0f} MB, peak {peak:5.0f} MB, "
            f"after {after:5.0f} MB, {elapsed:5.1f} s, answers {sorted(statuses)}"
        )
    print(f"growth, 8 at once / 1 alone: {results[8] / results[1]:.2f}")


if __name__ == "__main__":
    main()
