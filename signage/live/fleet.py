"""What players say about themselves (online, now playing), as the fleet view reads it.

Each process keeps what its own players said in `Hub.status`. With the Redis hub, each
process also writes it to one Redis hash (a field per screen, with the process's id) and
keeps a liveness key with a short expiry, so the fleet view on any process sees every
screen and a killed process's screens show offline within `PROCESS_TTL` seconds.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

PROCESS_TTL = 15  # seconds a process counts as alive after its last refresh
REFRESH_SECONDS = 1.0  # how often each process writes its players' status


def dump(status: dict[str, Any], process: str) -> str:
    at = status.get("at")
    record = {**status, "at": at.isoformat() if isinstance(at, datetime) else None}
    return json.dumps({"process": process, "status": record}, separators=(",", ":"))


def load(text: str | bytes) -> tuple[str, dict[str, Any]] | None:
    """(process id, status) from a record, or None for one that cannot be read."""
    try:
        record = json.loads(text)
        process, status = record["process"], record["status"]
        if not isinstance(process, str) or not isinstance(status, dict):
            return None
        at = status.get("at")
        status["at"] = datetime.fromisoformat(at) if isinstance(at, str) else None
    except (ValueError, KeyError, TypeError):
        return None
    return process, status
