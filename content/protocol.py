"""The player protocol's messages and the manifest, typed once (docs/protocol.md).

The server builds what it sends with these types (signage/live, signage/manifests.py,
signage/queue), the headless player reads what it receives into them, and the tests use
them too. What comes over the wire is untrusted JSON: the `read_*` functions turn it into
these types at the edge (a missing field that players have always tolerated gets its
neutral value) or raise `BadMessage`; past the edge, code indexes fields without checks.
Sending is not validated: the server's messages are typed where they are built and
encoded once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal, NotRequired, TypedDict, TypeVar

PROTOCOL = 1
# What the server keeps of a heartbeat's `playing`: zones, and characters per zone name
# and per description.
PLAYING_ZONES, PLAYING_NAME, PLAYING_TEXT = 8, 32, 200


class BadMessage(ValueError):
    """A message (or a manifest, a board) that is not what the protocol says."""


# --- the manifest ----------------------------------------------------------------------


class ScreenRef(TypedDict):
    id: int
    name: str


class CounterRef(TypedDict):
    """The counter a screen is above (it shows only that counter's calls)."""

    id: int
    number: int
    name: str


class QueueSettings(TypedDict):
    silent: bool
    counter: CounterRef | None


class SiteInfo(TypedDict):
    id: int
    name: str
    name_en: str
    timezone: str
    languages: list[str]


class Zone(TypedDict):
    name: str
    kind: str  # content.layouts.ZoneKind
    x: float
    y: float
    width: float
    height: float


class Layout(TypedDict):
    key: str
    orientation: str  # "landscape" | "portrait"
    zones: list[Zone]


# One playlist item: `type` is notice, image, ticker, clock or queue_board; a notice has
# `notice` (its key in the manifest's `notices` as a number) and its validity, an image
# its `file`, a ticker its `text`.
Item = TypedDict(
    "Item",
    {
        "type": str,
        "duration": int,
        "notice": NotRequired[int],
        "from": NotRequired[str | None],
        "until": NotRequired[str | None],
        "file": NotRequired[str],
        "text": NotRequired[str],
    },
)


class Timed(TypedDict):
    """What a zone's rotation needs of a slot: its start and its items."""

    start: str
    items: list[Item]


class Slot(TypedDict):
    start: str
    end: str
    schedule: int | None
    playlist: int | None
    items: list[Item]


class NoticeText(TypedDict):
    language: str
    title: str
    html: str


class NoticeBody(TypedDict):
    style: str  # content.notices.NoticeStyle
    image: str | None
    texts: list[NoticeText]


class MediaFile(TypedDict):
    file: str
    sha256: str
    size: int
    content_type: str
    width: int
    height: int


Manifest = TypedDict(
    "Manifest",
    {
        "protocol": int,
        "screen": ScreenRef,
        "queue": QueueSettings,
        "site": SiteInfo,
        "layout": Layout,
        "from": str | None,
        "until": str | None,
        "timeline": dict[str, list[Slot]],
        "fallback": dict[str, list[Item]],
        "notices": dict[str, NoticeBody],
        "media": list[MediaFile],
    },
)


# --- the queue board (`queue` message) --------------------------------------------------


class BoardCall(TypedDict):
    ticket: int
    label: str
    counter: int | None
    counter_id: int | None
    status: str
    at: str | None


class BoardCounter(TypedDict):
    id: int
    number: int
    name: str
    open: bool
    current: str | None


class BoardService(TypedDict):
    prefix: str
    names: dict[str, str]
    open: bool
    waiting: int
    wait_minutes: int


class Board(TypedDict):
    site: int
    languages: list[str]
    texts: dict[str, dict[str, str]]
    at: str
    highlight_seconds: int
    calls: list[BoardCall]
    counters: list[BoardCounter]
    services: list[BoardService]


# --- live events (`event.kind`) ---------------------------------------------------------


# A clip of a call's sound: the chime (`part`), or a part said in a `language`. Types
# with keys that may be left out are written this way, so that `__required_keys__` is
# right at run time too (with postponed annotations, the class form counts them required).
AudioClip = TypedDict(  # noqa: UP013
    "AudioClip", {"file": str, "part": NotRequired[str], "language": NotRequired[str]}
)


class CallEvent(TypedDict):
    kind: Literal["queue.call"]
    ticket: int
    label: str
    service: str
    service_names: dict[str, str]
    counter: int
    counter_id: int
    counter_name: str
    recall: bool
    at: str
    highlight_seconds: int
    audio: list[AudioClip]
    texts: dict[str, str]


class ReloadEvent(TypedDict):
    kind: Literal["reload"]


class IdentifyEvent(TypedDict):
    kind: Literal["identify"]
    seconds: float


class ScreenshotEvent(TypedDict):
    kind: Literal["screenshot"]


Command = ReloadEvent | IdentifyEvent | ScreenshotEvent
Event = CallEvent | Command


# --- server → player --------------------------------------------------------------------


class Pairing(TypedDict):
    type: Literal["pairing"]
    code: str


class Paired(TypedDict):
    type: Literal["paired"]
    screen: ScreenRef


class Welcome(TypedDict):
    type: Literal["welcome"]
    protocol: int
    screen: ScreenRef
    epoch: str
    seq: int
    server_time: str
    heartbeat: int


class EventMessage(TypedDict):
    type: Literal["event"]
    seq: int
    id: str
    event: Event


class ManifestMessage(TypedDict):
    type: Literal["manifest"]
    version: int
    manifest: Manifest


class QueueMessage(TypedDict):
    type: Literal["queue"]
    board: Board


class AlertInfoText(TypedDict):
    language: str
    headline: str
    body: str


class AlertVoiceClip(TypedDict):
    language: str
    url: str  # "/voice/<file>"


class AlertInfo(TypedDict):
    """One alert a screen shows (docs/protocol.md, "Emergency alerts")."""

    id: str
    level: str  # "extreme" | "severe" | "moderate" | "minor"
    mode: str  # "takeover" | "banner"
    drill: bool
    issued_at: str
    expires_at: str
    texts: list[AlertInfoText]
    voice: list[AlertVoiceClip]
    alarm: str | None


class AlertsMessage(TypedDict):
    type: Literal["alerts"]
    # Rises with each change (the database's clock, in microseconds): a player ignores a
    # message older than the one it has (docs/protocol.md, "Emergency alerts").
    revision: int
    alerts: list[AlertInfo]  # the whole list (latest wins); empty: none


ServerMessage = (
    Pairing | Paired | Welcome | EventMessage | ManifestMessage | QueueMessage | AlertsMessage
)


# --- player → server --------------------------------------------------------------------


class PlayerInfo(TypedDict):
    kind: str  # "browser" | "headless"
    version: str


class Hello(TypedDict):
    type: Literal["hello"]
    token: str
    protocol: int
    epoch: str | None
    seq: int
    manifest_version: int
    player: PlayerInfo


class Heartbeat(TypedDict):
    type: Literal["heartbeat"]
    manifest_version: int
    playing: dict[str, str]
    seq: int


class Ack(TypedDict):
    type: Literal["ack"]
    manifest_version: int


class AlertAck(TypedDict):
    type: Literal["alert_ack"]
    ids: list[str]  # every alert the player shows now


PlayerMessage = Hello | Heartbeat | Ack | AlertAck


# --- pairing (`POST /player/pair`) -----------------------------------------------------


class PairRequest(TypedDict):
    token: str


class PairAnswer(TypedDict):
    code: str  # "K7M-4QX"
    expires: str


# --- fonts (`GET /fonts/index.json`) ----------------------------------------------------


class FontEntry(TypedDict):
    file: str
    family: str
    weight: int
    languages: list[str]
    default: bool
    size: int
    sha256: str


class FontIndex(TypedDict):
    fonts: list[FontEntry]


# --- reading what comes over the wire ---------------------------------------------------

Json = Mapping[str, object]
T = TypeVar("T")


def _object(value: object, what: str) -> Json:
    if not isinstance(value, Mapping):
        raise BadMessage(f"{what}: not an object")
    return value


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(message: Json, key: str) -> int:
    """A count or version: a whole number from 0, else 0 (as players and server always
    read them)."""
    value = _int(message.get(key))
    return value if value is not None and value >= 0 else 0


def _required_int(message: Json, key: str, what: str) -> int:
    value = _int(message.get(key))
    if value is None:
        raise BadMessage(f"{what}: {key} is not a whole number")
    return value


def _optional_int(message: Json, key: str) -> int | None:
    return _int(message.get(key))


def _float(message: Json, key: str, default: float) -> float:
    value = message.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadMessage(f"{key} is not a number")
    return float(value)


def _text(message: Json, key: str, default: str = "") -> str:
    value = message.get(key, default)
    return value if isinstance(value, str) else str(value)


def _optional_text(message: Json, key: str) -> str | None:
    value = message.get(key)
    return value if isinstance(value, str) else None


def _required_text(message: Json, key: str, what: str) -> str:
    value = message.get(key)
    if not isinstance(value, str):
        raise BadMessage(f"{what}: {key} is not a string")
    return value


def _strings(value: object) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _words(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, Mapping) else {}


def _list(message: Json, key: str, read: Callable[[object], T]) -> list[T]:
    value = message.get(key, [])
    if not isinstance(value, list):
        raise BadMessage(f"{key}: not a list")
    return [read(v) for v in value]


def _screen(value: object) -> ScreenRef:
    screen = _object(value, "screen")
    return {"id": _number(screen, "id"), "name": _text(screen, "name")}


def read_item(value: object) -> Item:
    raw = _object(value, "item")
    duration = raw.get("duration")
    if isinstance(duration, bool) or not isinstance(duration, int | float):
        raise BadMessage("item: no duration")
    item: Item = {"type": _required_text(raw, "type", "item"), "duration": int(duration)}
    notice = _optional_int(raw, "notice")
    if notice is not None:
        item["notice"] = notice
    if "from" in raw:
        item["from"] = _optional_text(raw, "from")
    if "until" in raw:
        item["until"] = _optional_text(raw, "until")
    if isinstance(raw.get("file"), str):
        item["file"] = _text(raw, "file")
    if isinstance(raw.get("text"), str):
        item["text"] = _text(raw, "text")
    return item


def read_slot(value: object) -> Slot:
    raw = _object(value, "slot")
    return {
        "start": _required_text(raw, "start", "slot"),
        "end": _required_text(raw, "end", "slot"),
        "schedule": _optional_int(raw, "schedule"),
        "playlist": _optional_int(raw, "playlist"),
        "items": _list(raw, "items", read_item),
    }


def _zone(value: object) -> Zone:
    raw = _object(value, "zone")
    return {
        "name": _required_text(raw, "name", "zone"),
        "kind": _required_text(raw, "kind", "zone"),
        "x": _float(raw, "x", 0.0),
        "y": _float(raw, "y", 0.0),
        "width": _float(raw, "width", 1.0),
        "height": _float(raw, "height", 1.0),
    }


def _notice_text(value: object) -> NoticeText:
    raw = _object(value, "notice text")
    return {
        "language": _required_text(raw, "language", "notice text"),
        "title": _text(raw, "title"),
        "html": _text(raw, "html"),
    }


def _notice(value: object) -> NoticeBody:
    raw = _object(value, "notice")
    return {
        "style": _text(raw, "style", "normal"),
        "image": _optional_text(raw, "image"),
        "texts": _list(raw, "texts", _notice_text),
    }


def _media_file(value: object) -> MediaFile:
    raw = _object(value, "media file")
    return {
        "file": _required_text(raw, "file", "media file"),
        "sha256": _required_text(raw, "sha256", "media file"),
        "size": _required_int(raw, "size", "media file"),
        "content_type": _text(raw, "content_type"),
        "width": _number(raw, "width"),
        "height": _number(raw, "height"),
    }


def _zones_of(value: object, read: Callable[[object], list[T]]) -> dict[str, list[T]]:
    return {str(k): read(v) for k, v in _object(value, "timeline").items()}


def _slots(value: object) -> list[Slot]:
    if not isinstance(value, list):
        raise BadMessage("slots: not a list")
    return [read_slot(v) for v in value]


def _items(value: object) -> list[Item]:
    if not isinstance(value, list):
        raise BadMessage("items: not a list")
    return [read_item(v) for v in value]


def read_manifest(value: object) -> Manifest:
    """A manifest as the server sends it (docs/protocol.md); BadMessage if it cannot be
    played."""
    raw = _object(value, "manifest")
    site = _object(raw.get("site", {}), "site")
    layout = _object(raw.get("layout"), "layout")
    queue = _object(raw.get("queue", {}), "queue")
    counter = queue.get("counter")
    return {
        "protocol": _number(raw, "protocol") or PROTOCOL,
        "screen": _screen(raw.get("screen", {})),
        "queue": {
            "silent": queue.get("silent") is True,
            "counter": None
            if counter is None
            else {
                "id": _required_int(_object(counter, "counter"), "id", "counter"),
                "number": _number(_object(counter, "counter"), "number"),
                "name": _text(_object(counter, "counter"), "name"),
            },
        },
        "site": {
            "id": _number(site, "id"),
            "name": _text(site, "name"),
            "name_en": _text(site, "name_en"),
            "timezone": _text(site, "timezone", "UTC"),
            "languages": _strings(site.get("languages", [])),
        },
        "layout": {
            "key": _text(layout, "key"),
            "orientation": _text(layout, "orientation", "landscape"),
            "zones": _list(layout, "zones", _zone),
        },
        "from": _optional_text(raw, "from"),
        "until": _optional_text(raw, "until"),
        "timeline": _zones_of(raw.get("timeline", {}), _slots),
        "fallback": _zones_of(raw.get("fallback", {}), _items),
        "notices": {
            str(k): _notice(v) for k, v in _object(raw.get("notices", {}), "notices").items()
        },
        "media": _list(raw, "media", _media_file),
    }


def _board_call(value: object) -> BoardCall:
    raw = _object(value, "call")
    return {
        "ticket": _number(raw, "ticket"),
        "label": _text(raw, "label"),
        "counter": _optional_int(raw, "counter"),
        "counter_id": _optional_int(raw, "counter_id"),
        "status": _text(raw, "status"),
        "at": _optional_text(raw, "at"),
    }


def _board_counter(value: object) -> BoardCounter:
    raw = _object(value, "counter")
    return {
        "id": _required_int(raw, "id", "counter"),
        "number": _number(raw, "number"),
        "name": _text(raw, "name"),
        "open": raw.get("open") is True,
        "current": _optional_text(raw, "current"),
    }


def _board_service(value: object) -> BoardService:
    raw = _object(value, "service")
    return {
        "prefix": _text(raw, "prefix"),
        "names": _words(raw.get("names")),
        "open": raw.get("open") is True,
        "waiting": _number(raw, "waiting"),
        "wait_minutes": _number(raw, "wait_minutes"),
    }


def read_board(value: object) -> Board:
    raw = _object(value, "board")
    texts = raw.get("texts", {})
    return {
        "site": _number(raw, "site"),
        "languages": _strings(raw.get("languages", ["ja"])),
        "texts": {str(k): _words(v) for k, v in texts.items()}
        if isinstance(texts, Mapping)
        else {},
        "at": _text(raw, "at"),
        "highlight_seconds": _number(raw, "highlight_seconds") or 10,
        "calls": _list(raw, "calls", _board_call),
        "counters": _list(raw, "counters", _board_counter),
        "services": _list(raw, "services", _board_service),
    }


def _clip(value: object) -> AudioClip:
    raw = _object(value, "clip")
    clip: AudioClip = {"file": _required_text(raw, "file", "clip")}
    if isinstance(raw.get("part"), str):
        clip["part"] = _text(raw, "part")
    if isinstance(raw.get("language"), str):
        clip["language"] = _text(raw, "language")
    return clip


def read_event(value: object) -> Event | None:
    """A live event's body; None for a kind this reader does not know (ignored)."""
    raw = _object(value, "event")
    kind = raw.get("kind")
    if kind == "reload":
        return {"kind": "reload"}
    if kind == "screenshot":
        return {"kind": "screenshot"}
    if kind == "identify":
        seconds = raw.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            seconds = 10.0
        return {"kind": "identify", "seconds": float(seconds)}
    if kind == "queue.call":
        return {
            "kind": "queue.call",
            "ticket": _number(raw, "ticket"),
            "label": _text(raw, "label"),
            "service": _text(raw, "service"),
            "service_names": _words(raw.get("service_names")),
            "counter": _number(raw, "counter"),
            "counter_id": _required_int(raw, "counter_id", "call"),
            "counter_name": _text(raw, "counter_name"),
            "recall": raw.get("recall") is True,
            "at": _text(raw, "at"),
            "highlight_seconds": _number(raw, "highlight_seconds"),
            "audio": _list(raw, "audio", _clip),
            "texts": _words(raw.get("texts")),
        }
    return None


def read_server_message(message: Json) -> ServerMessage | None:
    """A message from the server (for a player); None for a type or event this player
    does not know. BadMessage when it is malformed."""
    kind = message.get("type")
    if kind == "pairing":
        return {"type": "pairing", "code": _required_text(message, "code", "pairing")}
    if kind == "paired":
        return {"type": "paired", "screen": _screen(message.get("screen", {}))}
    if kind == "welcome":
        heartbeat = _int(message.get("heartbeat"))
        return {
            "type": "welcome",
            "protocol": _number(message, "protocol"),
            "screen": _screen(message.get("screen", {})),
            "epoch": _text(message, "epoch"),
            "seq": _number(message, "seq"),
            "server_time": _text(message, "server_time"),
            "heartbeat": heartbeat if heartbeat and heartbeat > 0 else 30,
        }
    if kind == "manifest":
        return {
            "type": "manifest",
            "version": _required_int(message, "version", "manifest"),
            "manifest": read_manifest(message.get("manifest")),
        }
    if kind == "event":
        event = read_event(message.get("event"))
        if event is None:
            return None
        seq, event_id = event_place(message)
        return {"type": "event", "seq": seq, "id": event_id, "event": event}
    if kind == "queue":
        return {"type": "queue", "board": read_board(message.get("board"))}
    if kind == "alerts":
        return {
            "type": "alerts",
            "revision": _number(message, "revision"),
            "alerts": _list(message, "alerts", read_alert),
        }
    return None


def event_place(message: Json) -> tuple[int, str]:
    """An `event` message's `seq` and `id`, whatever its kind (players keep the highest
    `seq` they have seen, also of events they do not act on)."""
    return _number(message, "seq"), _text(message, "id")


def read_hello(message: Json, token: str) -> Hello:
    """A `hello` whose token (and protocol) the server has checked: the rest as the server
    reads it (a missing or malformed position means "from the start")."""
    epoch = message.get("epoch")
    player = message.get("player")
    player = player if isinstance(player, Mapping) else {}
    return {
        "type": "hello",
        "token": token,
        "protocol": PROTOCOL,
        "epoch": epoch if isinstance(epoch, str) else None,
        "seq": _number(message, "seq"),
        "manifest_version": _number(message, "manifest_version"),
        "player": {"kind": _text(player, "kind"), "version": _text(player, "version")},
    }


def read_heartbeat(message: Json) -> Heartbeat:
    playing = message.get("playing")
    shown = list(playing.items())[:PLAYING_ZONES] if isinstance(playing, Mapping) else []
    return {
        "type": "heartbeat",
        "manifest_version": _number(message, "manifest_version"),
        "playing": {str(zone)[:PLAYING_NAME]: str(what)[:PLAYING_TEXT] for zone, what in shown},
        "seq": _number(message, "seq"),
    }


def read_ack(message: Json) -> Ack:
    return {"type": "ack", "manifest_version": _number(message, "manifest_version")}


def _alert_text(value: object) -> AlertInfoText:
    raw = _object(value, "alert text")
    return {
        "language": _text(raw, "language"),
        "headline": _text(raw, "headline"),
        "body": _text(raw, "body"),
    }


def _alert_voice(value: object) -> AlertVoiceClip:
    raw = _object(value, "alert voice")
    return {"language": _text(raw, "language"), "url": _required_text(raw, "url", "voice")}


def read_alert(value: object) -> AlertInfo:
    raw = _object(value, "alert")
    return {
        "id": _required_text(raw, "id", "alert"),
        "level": _text(raw, "level"),
        "mode": _text(raw, "mode"),
        "drill": raw.get("drill") is True,
        "issued_at": _text(raw, "issued_at"),
        "expires_at": _required_text(raw, "expires_at", "alert"),
        "texts": _list(raw, "texts", _alert_text),
        "voice": _list(raw, "voice", _alert_voice),
        "alarm": _optional_text(raw, "alarm"),
    }


def read_alert_ack(message: Json) -> AlertAck:
    """The ids of the alerts a player shows (at most 32, each cut to 16 characters, as
    the fleet status keeps them); `ids` not a list is malformed."""
    ids = message.get("ids")
    if not isinstance(ids, list):
        raise BadMessage("alert_ack: ids is not a list")
    return {"type": "alert_ack", "ids": [i[:16] for i in ids[:32] if isinstance(i, str)]}


def read_font_entry(value: object) -> FontEntry:
    raw = _object(value, "font")
    return {
        "file": _required_text(raw, "file", "font"),
        "family": _text(raw, "family"),
        "weight": _number(raw, "weight") or 400,
        "languages": _strings(raw.get("languages", [])),
        "default": raw.get("default") is True,
        "size": _required_int(raw, "size", "font"),
        "sha256": _required_text(raw, "sha256", "font"),
    }
