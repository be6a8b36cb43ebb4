"""Alert feeds (CAP 1.2, JMA XML) into the alerts service: `accept` hands the drafts of
one document to `service.ingest`, each for the screens of the site it names; `FeedPoller`
reads the Atom feeds the rules file lists (`[[feeds]]`) and accepts what is new.

The poller requests only the configured feed URLs and, from their entries, documents on
the same host (scheme, host and port); a redirect to another host is refused, and so is a
response over the size limit. Its work runs as a background job under the lease
(signage/jobs.py), so one process polls.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import IO, Any, Literal
from urllib.parse import urljoin, urlsplit

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from content.alerts.cap import parse_cap
from content.alerts.jma import parse_jma
from content.alerts.model import AlertDraft
from content.alerts.rules import Feed, Rules, cap_drafts, jma_drafts, resident_texts
from content.alerts.xmlsafe import MAX_BYTES, Refused, local, parse
from signage.alerts import service
from signage.db import transaction, utcnow
from signage.models import Alert, Site

log = logging.getLogger("signage.alerts.feeds")
ATOM = "http://www.w3.org/2005/Atom"
OPEN = service.OPEN_STATES
TIMEOUT_SECONDS = 10
SEEN_KEPT = 2000  # entry ids remembered per feed


@dataclass
class Accepted:
    drafts: list[AlertDraft]
    done: service.Ingested
    ignored: list[tuple[str, str]] = field(default_factory=list)


def drafts_of(
    kind: Literal["cap", "jma"], rules: Rules, data: bytes, now: datetime
) -> list[AlertDraft]:
    """The drafts of one document, or `Refused`."""
    if kind == "cap":
        return cap_drafts(rules, parse_cap(data, max_bytes=MAX_BYTES), now)
    return jma_drafts(rules, parse_jma(data, max_bytes=MAX_BYTES), now)


async def accept(
    db: AsyncSession, drafts: list[AlertDraft], *, source: str, ip: str, now: datetime
) -> Accepted:
    """Hand the drafts to the alerts service, each for the screens of its site; a CAP
    alert also in each of the site's languages it has no `info` block of
    (`rules.resident_texts`)."""
    sites = await _site_ids(db, drafts)
    ready: list[AlertDraft] = []
    ignored: list[tuple[str, str]] = []
    for draft in drafts:
        if not draft.areas or draft.areas[0] not in sites:
            ignored.append((draft.identifier, "no such site"))
            continue
        if draft.source == "cap" and draft.texts:
            languages = [c.strip() for c in sites[draft.areas[0]][1].split(",") if c.strip()]
            draft = replace(draft, texts=resident_texts(draft.texts, languages))
        current = await _current(db, draft)
        if current is None:
            ignored.append((draft.identifier, "older than the one shown"))
            continue
        ready.append(current)
    done = await service.ingest(
        db,
        ready,
        source=source,
        targets=lambda d: service.Targets("sites", (sites[d.areas[0]][0],)),
        ip=ip,
        now=now,
    )
    return Accepted(drafts, done, ignored + done.ignored)


async def _site_ids(db: AsyncSession, drafts: list[AlertDraft]) -> dict[str, tuple[int, str]]:
    """Site code -> (its id, its residents' languages "ja,en,...")."""
    codes = {d.areas[0] for d in drafts if d.areas}
    if not codes:
        return {}
    rows = await db.execute(
        sa.select(Site.code, Site.id, Site.languages).where(Site.code.in_(codes))
    )
    return {code: (site_id, languages) for code, site_id, languages in rows}


async def _current(db: AsyncSession, draft: AlertDraft) -> AlertDraft | None:
    """`draft` with `replaces` naming the alert of its thread that is shown now (rules.py:
    an Update may name an alert already replaced; a JMA report names its thread), or
    None when the one shown is newer than this report (a late, older serial)."""
    if draft.replaces is None:
        return draft
    same = Alert.source == draft.source
    shown = await db.scalar(
        sa.select(Alert).where(same, Alert.identifier == draft.replaces, Alert.state.in_(OPEN))
    )
    if shown is None:
        # An alert that was itself replaced: follow the chain to the one shown now.
        alert = await db.scalar(sa.select(Alert).where(same, Alert.identifier == draft.replaces))
        for _ in range(50):
            if alert is None or alert.state in OPEN or alert.replaced_by is None:
                break
            alert = await db.get(Alert, alert.replaced_by)
        shown = alert if alert is not None and alert.state in OPEN else None
    if shown is None and "@" in draft.replaces:
        # A thread: "<thread>@<site>" stands for every "<thread>:<version>@<site>".
        thread, _, site = draft.replaces.rpartition("@")
        shown = await db.scalar(
            sa.select(Alert)
            .where(
                same,
                Alert.state.in_(OPEN),
                Alert.identifier.startswith(f"{thread}:", autoescape=True),
                Alert.identifier.endswith(f"@{site}", autoescape=True),
            )
            .order_by(Alert.id.desc())
            .limit(1)
        )
    if shown is None:
        return draft
    if shown.issued_at > draft.sent_at:
        return None
    return replace(draft, replaces=shown.identifier)


# --- polling ---------------------------------------------------------------------------


class FetchRefused(Exception):
    """A URL the poller will not request, or a response it will not read."""


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class _SameHost(urllib.request.HTTPRedirectHandler):
    def __init__(self, origin: tuple[str, str, int | None]) -> None:
        self.origin = origin

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str,
        headers: Any, newurl: str,
    ) -> urllib.request.Request | None:  # fmt: skip
        if _origin(newurl) != self.origin:
            raise FetchRefused(f"a redirect to another host ({newurl}) is not followed")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def fetch(url: str, origin: tuple[str, str, int | None], max_bytes: int = MAX_BYTES) -> bytes:
    """GET `url` (on `origin` only, redirects too), at most `max_bytes`."""
    if _origin(url) != origin or origin[0] not in ("http", "https"):
        raise FetchRefused(f"{url} is not on the feed's host")
    opener = urllib.request.build_opener(_SameHost(origin))
    request = urllib.request.Request(url, headers={"user-agent": "signage-alert-feeds"})  # noqa: S310
    with opener.open(request, timeout=TIMEOUT_SECONDS) as response:
        data: bytes = response.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise FetchRefused(f"{url} is over the size limit of {max_bytes} bytes")
    return data


def entries(feed_url: str, data: bytes) -> list[tuple[str, str]]:
    """(entry id, document URL) of an Atom feed, oldest first as listed last."""
    root = parse(data)
    if local(root.tag) != (ATOM, "feed"):
        raise Refused("namespace", "not an Atom feed")
    found = []
    for entry in root.findall(f"{{{ATOM}}}entry"):
        entry_id = (entry.findtext(f"{{{ATOM}}}id") or "").strip()
        links = entry.findall(f"{{{ATOM}}}link")
        href = next(
            (link.get("href", "") for link in links if link.get("rel", "alternate") == "alternate"),
            "",
        )
        if entry_id and href:
            found.append((entry_id, urljoin(feed_url, href.strip())))
    return list(reversed(found))


class FeedPoller:
    """Reads each configured feed and accepts the documents of entries not seen yet."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], rules: Rules) -> None:
        self.sessions = sessions
        self.rules = rules
        self.seen: dict[str, OrderedDict[str, None]] = {}

    @property
    def feeds(self) -> Sequence[Feed]:
        return self.rules.feeds

    async def poll_all(self) -> int:
        """Poll every feed once; the number of alerts raised, replaced or cancelled."""
        changed = 0
        for feed in self.feeds:
            try:
                changed += await self.poll(feed)
            except (OSError, urllib.error.URLError, FetchRefused, Refused) as exc:
                log.warning("alert feed %s: %s", feed.url, exc)
        return changed

    async def poll(self, feed: Feed) -> int:
        origin = _origin(feed.url)
        listing = await asyncio.to_thread(fetch, feed.url, origin)
        seen = self.seen.setdefault(feed.url, OrderedDict())
        changed = 0
        for entry_id, url in entries(feed.url, listing):
            if entry_id in seen:
                continue
            seen[entry_id] = None
            while len(seen) > SEEN_KEPT:
                seen.popitem(last=False)
            if _origin(url) != origin:
                log.warning("alert feed %s: entry %s links to another host; skipped", feed.url, url)
                continue
            try:
                data = await asyncio.to_thread(fetch, url, origin)
                now = utcnow()
                drafts = drafts_of(feed.kind, self.rules, data, now)
            except (OSError, urllib.error.URLError, FetchRefused, Refused) as exc:
                log.warning("alert feed %s: %s refused: %s", feed.url, url, exc)
                continue
            async with transaction(self.sessions) as db:
                accepted = await accept(db, drafts, source=f"{feed.kind}:poll", ip="", now=now)
            done = accepted.done
            changed += len(done.raised) + len(done.replaced) + len(done.cancelled)
        return changed
