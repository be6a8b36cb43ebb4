"""Logs: `signage serve` writes one JSON object per line to standard output, with a UTC
timestamp, at the level of SIGNAGE_LOG_LEVEL for its own loggers and every library's, and
the scheduler's routine lines at debug."""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from signage import logs
from signage.settings import PROJECT_ROOT

from .conftest import free_port

LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


def _serve(tmp_path: Path, level: str, seconds: float, **extra: str) -> list[dict[str, Any]]:
    """Run `signage serve` (SQLite) for `seconds` after it answers /healthz, then send it a
    request that is not HTTP (uvicorn logs a warning); returns the lines of its standard
    output, each read as JSON (failing on one that is not), and checks nothing was written
    to standard error."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNAGE_")} | {
        "SIGNAGE_DATA_DIR": str(tmp_path / level),
        "SIGNAGE_PORT": str(port),
        "SIGNAGE_LOG_LEVEL": level,
        "SIGNAGE_VOICE": "false",
        "SIGNAGE_JOB_LEASE_SECONDS": "3",  # the lease job runs every second
        "SIGNAGE_VENDOR_DIR": str(PROJECT_ROOT / "node_modules"),
        **extra,
    }
    out, err = tmp_path / f"{level}.out", tmp_path / f"{level}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [sys.executable, "-m", "signage", "serve"],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, out.read_text()
                time.sleep(0.2)
        time.sleep(seconds)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as junk:
            junk.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            junk.recv(1000)
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert err.read_text() == ""
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines
    records = []
    for line in lines:
        record = json.loads(line)  # every line is one JSON object
        assert isinstance(record, dict), line
        assert {"time", "level", "logger", "message"} <= set(record), line
        at = datetime.fromisoformat(record["time"])
        assert at.utcoffset() == timedelta(0), line
        assert abs(datetime.now(UTC) - at) < timedelta(minutes=5), line
        records.append(record)
    return records


def _routine(record: dict[str, Any]) -> bool:
    return record["logger"].startswith("apscheduler") and (
        record["message"].startswith("Running job") or "executed successfully" in record["message"]
    )


def test_at_warning_nothing_below_warning_is_written(tmp_path: Path) -> None:
    records = _serve(tmp_path, "warning", 2.5)
    assert all(LEVELS[r["level"]] >= LEVELS["warning"] for r in records), records
    assert any(r["logger"].startswith("uvicorn") and r["level"] == "warning" for r in records)


def test_at_info_the_schedulers_routine_lines_are_left_out(tmp_path: Path) -> None:
    records = _serve(tmp_path, "info", 3.5)
    assert all(LEVELS[r["level"]] >= LEVELS["info"] for r in records)
    assert not any(_routine(r) for r in records), [r for r in records if _routine(r)]
    loggers = {r["logger"] for r in records}
    assert {"uvicorn.error", "signage.jobs"} <= loggers, loggers
    assert "uvicorn.access" not in loggers  # off by default


def test_at_debug_the_schedulers_routine_lines_are_debug_lines(tmp_path: Path) -> None:
    records = _serve(tmp_path, "debug", 3.5, SIGNAGE_ACCESS_LOG="true")
    routine = [r for r in records if _routine(r)]
    assert routine and all(r["level"] == "debug" for r in routine)
    assert any(r["message"].startswith("Running job") for r in routine)
    assert any(r["level"] == "info" and r["logger"] == "signage.jobs" for r in records)
    # The access log, when on, is JSON too.
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert any("/healthz" in r["message"] for r in access), access


@pytest.fixture
def kept_logging() -> Iterator[None]:
    """The test process's logging as it was before (pytest's own handlers included)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    names = [
        "apscheduler",
        "sqlalchemy.engine",
        *logs.CHATTY,
        "uvicorn",
        "uvicorn.error",
        "uvicorn.access",
        "uvicorn.asgi",
    ]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name, old in levels.items():
        logging.getLogger(name).setLevel(old)
    logging.captureWarnings(False)


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_an_exception_is_written_with_its_traceback(fmt: str, kept_logging: None) -> None:
    stream = io.StringIO()
    logs.configure("info", fmt, stream)
    try:
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("signage.test").exception("lookup failed for %s", "x")
        logging.getLogger("signage.test").debug("not written at info")
        logging.getLogger("apscheduler.executors.default").info('Running job "x"')
    finally:
        logging.getLogger().handlers[-1].flush()
    lines = stream.getvalue().splitlines()
    if fmt == "json":
        [record] = [json.loads(line) for line in lines]
        assert record["level"] == "error" and record["message"] == "lookup failed for x"
        assert "KeyError: 'missing'" in record["exception"]
        assert record["logger"] == "signage.test"
    else:
        assert lines[0].endswith("ERROR signage.test: lookup failed for x"), lines
        assert datetime.fromisoformat(lines[0].split(" ", 1)[0]).utcoffset() == timedelta(0)
        assert "KeyError: 'missing'" in stream.getvalue()
        assert "Running job" not in stream.getvalue()
