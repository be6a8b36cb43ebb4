"""The protocol's types (content/protocol.py): the seams between packages are typed, and
what comes over the wire is read into the types at the edge."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from content import protocol
from content.protocol import (
    PLAYING_NAME,
    PLAYING_ZONES,
    BadMessage,
    Heartbeat,
    ServerMessage,
    read_ack,
    read_board,
    read_heartbeat,
    read_hello,
    read_manifest,
    read_server_message,
)
from signage.settings import PROJECT_ROOT

from .wire import Mismatch, conforms

# Packages whose public functions form the seams between packages (docs/architecture.md).
SEAMS = ("signage.live", "signage.queue", "content", "players")
# Public signatures that may keep `Any`, and why. Keep this short.
ALLOWED = {
    "signage.live.socket.PlayerSocket.__call__": "ASGI's own types (a scope maps to Any)",
}


def _modules(package: str) -> Iterator[types.ModuleType]:
    root = importlib.import_module(package)
    yield root
    folder = Path(PROJECT_ROOT, *package.split("."))
    for info in pkgutil.walk_packages([str(folder)], prefix=f"{package}."):
        if not info.name.endswith("__main__"):
            yield importlib.import_module(info.name)


def _public_functions(module: types.ModuleType) -> Iterator[tuple[str, Callable[..., object]]]:
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value):
            yield f"{module.__name__}.{name}", value
        elif inspect.isclass(value) and not typing.is_typeddict(value):
            for member, function in vars(value).items():
                if member.startswith("_") and member not in ("__init__", "__call__"):
                    continue
                if isinstance(function, staticmethod | classmethod):
                    function = function.__func__
                if isinstance(function, property):
                    function = function.fget
                if inspect.isfunction(function):
                    yield f"{module.__name__}.{name}.{member}", function


def _mentions_any(hint: object, seen: set[int]) -> bool:
    if hint is typing.Any:
        return True
    if id(hint) in seen:
        return False
    seen.add(id(hint))
    if typing.is_typeddict(hint):
        return any(_mentions_any(h, seen) for h in typing.get_type_hints(hint).values())
    return any(_mentions_any(arg, seen) for arg in typing.get_args(hint))


def _uses_any(function: Callable[..., object]) -> bool:
    try:
        hints = typing.get_type_hints(function)
    except NameError:  # a name imported only for type checking: read the text
        return any(re.search(r"\bAny\b", str(a)) for a in function.__annotations__.values())
    return any(_mentions_any(hint, set()) for hint in hints.values())


def test_no_public_signature_at_a_seam_uses_any() -> None:
    found = sorted(
        name
        for package in SEAMS
        for module in _modules(package)
        for name, function in _public_functions(module)
        if _uses_any(function) and name not in ALLOWED
    )
    assert found == []


def test_the_seam_check_finds_any() -> None:
    def loose(value: dict[str, typing.Any]) -> None: ...

    def nested(value: list[typing.Mapping[str, typing.Any]] | None) -> None: ...

    def typed(value: ServerMessage) -> Heartbeat: ...

    assert _uses_any(loose) and _uses_any(nested)
    assert not _uses_any(typed)


def test_the_wire_check_fails_on_a_missing_or_extra_key_or_a_wrong_type() -> None:
    conforms({"type": "pairing", "code": "K7M-4QX"}, ServerMessage)
    for wrong in (
        {"type": "pairing"},
        {"type": "pairing", "code": "K7M-4QX", "extra": 1},
        {"type": "pairing", "code": 7},
        {"type": "paired", "screen": {"id": True, "name": "x"}},
        {"type": "elsewhere", "code": "K7M-4QX"},
    ):
        with pytest.raises(Mismatch):
            conforms(wrong, ServerMessage)


def test_what_a_player_sends_is_read_as_the_server_always_has() -> None:
    hello = read_hello({"type": "hello", "epoch": 5, "seq": -1, "player": "x"}, "t" * 32)
    assert hello == {
        "type": "hello",
        "token": "t" * 32,
        "protocol": 1,
        "epoch": None,
        "seq": 0,
        "manifest_version": 0,
        "player": {"kind": "", "version": ""},
    }
    many = {f"zone{i}" * 10: "x" * 500 for i in range(20)}
    heartbeat = read_heartbeat({"type": "heartbeat", "playing": many, "manifest_version": 3})
    assert len(heartbeat["playing"]) == PLAYING_ZONES
    assert all(len(k) <= PLAYING_NAME and len(v) == 200 for k, v in heartbeat["playing"].items())
    assert heartbeat["manifest_version"] == 3 and heartbeat["seq"] == 0
    assert read_heartbeat({"type": "heartbeat", "playing": [1, 2]})["playing"] == {}
    assert read_ack({"type": "ack", "manifest_version": "7"})["manifest_version"] == 0


def test_what_the_server_sends_is_refused_when_it_cannot_be_played() -> None:
    zone = {"name": "main", "kind": "main"}
    slot = {"start": "2026-01-01T00:00:00+00:00", "end": "2026-01-02T00:00:00+00:00"}
    good = {"layout": {"zones": [zone]}, "timeline": {"main": [slot]}}
    manifest = read_manifest(good)
    assert manifest["layout"]["zones"][0]["width"] == 1.0  # as players always drew it
    assert manifest["timeline"]["main"][0]["items"] == []
    for broken in (
        None,
        [],
        {},  # no layout
        {"layout": {"zones": "main"}},
        {"layout": {"zones": [{"name": "main"}]}},  # a zone without its kind
        good | {"timeline": {"main": [{"start": 1}]}},
        good | {"fallback": {"main": [{"type": "clock"}]}},  # an item without duration
        good | {"media": [{"file": "a.png", "size": "big", "sha256": "00"}]},
        good | {"notices": {"1": {"texts": [{"title": "no language"}]}}},
    ):
        with pytest.raises(BadMessage):
            read_manifest(broken)
    with pytest.raises(BadMessage):
        read_board({"calls": {}})
    with pytest.raises(BadMessage):
        read_server_message({"type": "manifest", "version": "2", "manifest": good})
    # Unknown types and event kinds are for newer players: not an error, just not read.
    assert read_server_message({"type": "alert"}) is None
    assert (
        read_server_message({"type": "event", "seq": 1, "id": "a", "event": {"kind": "x"}}) is None
    )


def test_keys_that_may_be_left_out_are_known_at_run_time() -> None:
    # The wire check (tests/wire.py) reads `__optional_keys__`: a class-form TypedDict with
    # postponed annotations would count its NotRequired keys as required.
    checked = 0
    for value in vars(protocol).values():
        if typing.is_typeddict(value):
            for key, annotation in value.__annotations__.items():
                if "NotRequired" in (
                    annotation if isinstance(annotation, str) else repr(annotation)
                ):
                    assert key in value.__optional_keys__, (value.__name__, key)
                    checked += 1
    assert checked >= 7  # Item's five, AudioClip's two


def test_alerts_and_their_acknowledgement_are_read_into_the_types() -> None:
    raw = {
        "type": "alerts",
        "revision": 1764651662000123,
        "alerts": [
            {
                "id": "a17",
                "level": "severe",
                "mode": "takeover",
                "drill": "yes",  # only true is a drill
                "issued_at": "2026-12-02T05:01:02+00:00",
                "expires_at": "2026-12-02T08:01:02+00:00",
                "texts": [{"language": "ja", "headline": "地震", "body": "頭を守って"}],
                "voice": [{"language": "ja", "url": "/voice/ja-0.wav"}],
                "alarm": None,
                "extra": 1,  # a newer server's field: not read
            }
        ],
    }
    message = read_server_message(raw)
    conforms(message, protocol.AlertsMessage)
    assert message is not None and message["type"] == "alerts"
    assert message["alerts"][0]["drill"] is False
    assert message["alerts"][0]["texts"][0]["headline"] == "地震"
    assert message["revision"] == 1764651662000123
    # A server before revisions: 0, older than any list a newer server sends.
    assert read_server_message({"type": "alerts", "alerts": []}) == {
        "type": "alerts",
        "revision": 0,
        "alerts": [],
    }
    for broken in ({"alerts": {}}, {"alerts": [{"id": "a1"}]}, {"alerts": [{"expires_at": "x"}]}):
        with pytest.raises(BadMessage):
            read_server_message({"type": "alerts", **broken})
    ack = protocol.read_alert_ack({"type": "alert_ack", "ids": ["a17", 5, "x" * 40] + ["b"] * 40})
    conforms(ack, protocol.AlertAck)
    assert ack["ids"][:2] == ["a17", "x" * 16] and len(ack["ids"]) == 31
    with pytest.raises(BadMessage):
        protocol.read_alert_ack({"type": "alert_ack", "ids": "a17"})
