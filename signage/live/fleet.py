"""What players say about themselves (online, now playing), as the fleet view reads it.

Each process keeps what its own players said in `Hub.status`. With the Redis hub, each
process also writes it to one Redis hash (a field per screen, with the process's id) and
keeps a liveness key with a short expiry, so the fleet view on any process sees every
screen and a killed process's screens show offline within `PROCESS_TTL` seconds.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TypedDict

PROCESS_TTL = 15  # seconds a process counts as alive after its last refresh
REFRESH_SECONDS = 1.0  # how often each process writes its players' status
OFFLINE_AFTER = timedelta(seconds=90)  # connected, but silent this long: offline


class PlayerStatus(TypedDict, total=False):
    """What a screen's player last said (its `hello`, heartbeats and acks), and, as the
    fleet view reads it, whether it is connected to any process."""

    at: datetime | None
    playing: dict[str, str]
    manifest_version: int
    kind: str
    version: str
    online: bool
    alerts: list[str]  # the ids of the alerts it shows (its last `alert_ack`)
    alerts_at: str  # when it said so (ISO 8601)


def is_online(status: PlayerStatus, last_seen: datetime | None, now: datetime) -> bool:
    """Whether a screen counts as online: a player is connected to some process and was
    heard from within `OFFLINE_AFTER` (the fleet view and the webhooks ask the same)."""
    heard = status.get("at") or last_seen
    return bool(status.get("online")) and heard is not None and now - heard < OFFLINE_AFTER


def dump(status: PlayerStatus, process: str) -> str:
    at = status.get("at")
    record = {**status, "at": at.isoformat() if isinstance(at, datetime) else None}
    return json.dumps({"process": process, "status": record}, separators=(",", ":"))


def load(text: str | bytes) -> tuple[str, PlayerStatus] | None:
    """(process id, status) from a record, or None for one that cannot be read."""
    try:
        record = json.loads(text)
        process, status = record["process"], record["status"]
        if not isinstance(process, str) or not isinstance(status, dict):
            return None
        at = status.get("at")
        return process, _status(status, datetime.fromisoformat(at) if isinstance(at, str) else None)
    except (ValueError, KeyError, TypeError):
        return None


def _status(raw: Mapping[str, object], at: datetime | None) -> PlayerStatus:
    status: PlayerStatus = {"at": at}
    playing, version = raw.get("playing"), raw.get("manifest_version")
    if isinstance(playing, dict):
        status["playing"] = {str(k): str(v) for k, v in playing.items()}
    if isinstance(version, int) and not isinstance(version, bool):
        status["manifest_version"] = version
    kind, player_version = raw.get("kind"), raw.get("version")
    if isinstance(kind, str):
        status["kind"] = kind
    if isinstance(player_version, str):
        status["version"] = player_version
    alerts, alerts_at = raw.get("alerts"), raw.get("alerts_at")
    if isinstance(alerts, list):
        status["alerts"] = [str(alert_id) for alert_id in alerts]
    if isinstance(alerts_at, str):
        status["alerts_at"] = alerts_at
    if isinstance(raw.get("online"), bool):
        status["online"] = raw.get("online") is True
    return status
