"""Test documents for CAP 1.2 and JMA XML (tests/alerts_data/), filled in for a moment.

The files follow the published structure of each format; their `{NAME}` fields are
filled in here so the times are fresh and one file serves several cases.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

DATA = Path(__file__).parent / "alerts_data"
JST = timedelta(hours=9)

DEFAULTS = {
    "EVENT": "20261202140000",
    "STATUS": "通常",
    "INFOTYPE": "発表",
    "SERIAL": "1",
    "INTENSITY": "5+",
    "KIND": "津波警報",
    "WARNING": "大雨警報",
    "WARNING_STATUS": "発表",
}


def stamp(moment: datetime) -> str:
    """As JMA and CAP write it: local time (here +09:00) with its offset."""
    from datetime import timezone

    return moment.astimezone(timezone(JST)).replace(microsecond=0).isoformat()


def doc(name: str, now: datetime | None = None, **fields: str) -> bytes:
    now = now or datetime.now(UTC)
    values = {
        **DEFAULTS,
        "SENT": stamp(now),
        "EXPIRES": stamp(now + timedelta(hours=3)),
        **fields,
    }
    text = (DATA / name).read_text(encoding="utf-8")
    return re.sub(r"\{([A-Z_]+)\}", lambda m: values[m.group(1)], text).encode()


def edxl(inner: bytes, now: datetime | None = None) -> bytes:
    """`inner` (without its XML declaration) inside an EDXL-DE envelope."""
    body = re.sub(rb"^<\?xml[^>]*\?>\s*", b"", inner).decode()
    return doc("edxl_wrapper.xml", now, DOCUMENT=body)
