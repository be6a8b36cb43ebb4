"""The command's logging: one JSON object per line (or plain text for people), one level for
the product's own loggers and every library's.

`configure` is called by every command, and again by each worker process of
`signage serve --workers N`. Each line is `{"time", "level", "logger", "message", "pid"}`,
with `"exception"` when the record carries one; `time` is ISO 8601 in UTC. `SIGNAGE_LOG_LEVEL`
sets the root logger, so the product (`signage.*`) and the libraries (uvicorn, APScheduler,
SQLAlchemy, alembic...) all follow it, with these exceptions:
- APScheduler's routine lines at info (a job added, "Running job ...", "Job ... executed
  successfully", the scheduler started) are logged at debug: one job runs every second or
  so, and failed or missed runs (warning, error) still show at their own level.
- SQLAlchemy logs every statement at info: its engine logger is kept at warning unless the
  level is debug (then the statements show; their result rows never do).
- aiosqlite, websockets, python-multipart, Pillow and asyncio log each call, frame, form
  part or file at debug: kept at info.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
FORMATS = ("json", "text")
# Libraries whose debug lines are one per call or frame: never below info.
CHATTY = ("aiosqlite", "websockets", "multipart", "PIL", "asyncio")


def _utc(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": _utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`2026-12-02T16:00:00.123+00:00 INFO signage.jobs: message` (SIGNAGE_LOG_FORMAT=text)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record.created)


class RoutineToDebug(logging.Filter):
    """APScheduler's info lines become debug lines, dropped below `threshold`."""

    def __init__(self, threshold: int) -> None:
        super().__init__()
        self.threshold = threshold

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.INFO and record.name.startswith("apscheduler"):
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.threshold <= logging.DEBUG
        return True


def configure(level: str = "info", fmt: str = "json", stream: TextIO | None = None) -> None:
    """Send every logger's records at `level` and above to `stream` (standard output unless
    given), replacing whatever handlers the root logger had."""
    threshold = LEVELS[level]
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RoutineToDebug(threshold))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    # Its routine info lines are made debug lines by the filter.
    logging.getLogger("apscheduler").setLevel(threshold)
    logging.getLogger("sqlalchemy.engine").setLevel(
        logging.INFO if threshold <= logging.DEBUG else max(threshold, logging.WARNING)
    )
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(threshold, logging.INFO))
    # uvicorn's loggers: no handlers of their own (`log_config=None`), so they reach ours.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi"):
        logging.getLogger(name).setLevel(threshold)
    logging.captureWarnings(True)
