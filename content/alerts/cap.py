"""CAP 1.2 (OASIS Common Alerting Protocol) documents → a checked `CapAlert`.

Only CAP 1.2 (namespace `urn:oasis:names:tc:emergency:cap:1.2`) is accepted; CAP 1.0 and
1.1 are refused with a message saying so. Required elements are checked and every
enumeration must be one CAP 1.2 defines; each refusal (`Refused`) names the failing field.
`rules.cap_drafts` turns a `CapAlert` into alert drafts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element

from content.alerts.xmlsafe import MAX_BYTES, Refused, local, parse

__all__ = ["CAP_NS", "CapAlert", "CapArea", "CapInfo", "Refused", "parse_cap"]

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
OLD_NAMESPACES = {
    "urn:oasis:names:tc:emergency:cap:1.1": "CAP 1.1",
    "http://www.incident.com/cap/1.0": "CAP 1.0",
    "urn:oasis:names:tc:emergency:cap:1.0": "CAP 1.0",
}

STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE = ("Public", "Restricted", "Private")
CATEGORY = (
    "Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport",
    "Infra", "CBRNE", "Other",
)  # fmt: skip
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")
RESPONSE_TYPE = (
    "Shelter", "Evacuate", "Prepare", "Execute", "Avoid", "Monitor", "Assess", "AllClear",
    "None",
)  # fmt: skip
MAX_TEXT = 4000


@dataclass(frozen=True)
class CapArea:
    description: str
    geocodes: tuple[tuple[str, str], ...]  # (valueName, value)


@dataclass(frozen=True)
class CapInfo:
    language: str
    categories: tuple[str, ...]
    event: str
    urgency: str
    severity: str
    certainty: str
    effective: datetime | None
    onset: datetime | None
    expires: datetime | None
    headline: str
    description: str
    instruction: str
    areas: tuple[CapArea, ...]


@dataclass(frozen=True)
class CapAlert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: tuple[tuple[str, str, str], ...]  # (sender, identifier, sent)
    infos: tuple[CapInfo, ...]


def _q(name: str) -> str:
    return f"{{{CAP_NS}}}{name}"


def _text(parent: Element, name: str, path: str, *, required: bool) -> str:
    child = parent.find(_q(name))
    value = (child.text or "").strip() if child is not None else ""
    if required and not value:
        raise Refused(path, f"the required element <{name}> is missing or empty")
    if len(value) > MAX_TEXT:
        raise Refused(path, f"<{name}> is longer than {MAX_TEXT} characters")
    return value


def _enum(parent: Element, name: str, path: str, allowed: tuple[str, ...]) -> str:
    value = _text(parent, name, path, required=True)
    if value not in allowed:
        raise Refused(path, f"{value!r} is not a CAP 1.2 value of <{name}> ({', '.join(allowed)})")
    return value


def _time(parent: Element, name: str, path: str, *, required: bool) -> datetime | None:
    value = _text(parent, name, path, required=required)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None or "T" not in value:
        raise Refused(path, f"{value!r} is not a date and time with its offset (e.g. "
                      "2026-12-02T14:01:00+09:00)")  # fmt: skip
    return parsed


def _references(raw: str) -> tuple[tuple[str, str, str], ...]:
    refs = []
    for part in raw.split():
        pieces = part.split(",")
        if len(pieces) != 3 or not all(pieces):
            raise Refused("references", f"{part!r} is not sender,identifier,sent")
        refs.append((pieces[0], pieces[1], pieces[2]))
    return tuple(refs)


def _area(element: Element, path: str) -> CapArea:
    description = _text(element, "areaDesc", f"{path}/areaDesc", required=True)
    geocodes = []
    for code in element.findall(_q("geocode")):
        name = _text(code, "valueName", f"{path}/geocode/valueName", required=True)
        value = _text(code, "value", f"{path}/geocode/value", required=True)
        geocodes.append((name, value))
    return CapArea(description, tuple(geocodes))


def _info(element: Element) -> CapInfo:
    categories = []
    for category in element.findall(_q("category")):
        value = (category.text or "").strip()
        if value not in CATEGORY:
            raise Refused("info/category", f"{value!r} is not a CAP 1.2 category "
                          f"({', '.join(CATEGORY)})")  # fmt: skip
        categories.append(value)
    if not categories:
        raise Refused("info/category", "the required element <category> is missing or empty")
    for response in element.findall(_q("responseType")):
        if (response.text or "").strip() not in RESPONSE_TYPE:
            raise Refused("info/responseType", f"{response.text!r} is not a CAP 1.2 "
                          f"responseType ({', '.join(RESPONSE_TYPE)})")  # fmt: skip
    language = _text(element, "language", "info/language", required=False) or "en-US"
    return CapInfo(
        language=language,
        categories=tuple(categories),
        event=_text(element, "event", "info/event", required=True),
        urgency=_enum(element, "urgency", "info/urgency", URGENCY),
        severity=_enum(element, "severity", "info/severity", SEVERITY),
        certainty=_enum(element, "certainty", "info/certainty", CERTAINTY),
        effective=_time(element, "effective", "info/effective", required=False),
        onset=_time(element, "onset", "info/onset", required=False),
        expires=_time(element, "expires", "info/expires", required=False),
        headline=_text(element, "headline", "info/headline", required=False),
        description=_text(element, "description", "info/description", required=False),
        instruction=_text(element, "instruction", "info/instruction", required=False),
        areas=tuple(_area(a, "info/area") for a in element.findall(_q("area"))),
    )


def parse_cap(data: bytes, *, max_bytes: int = MAX_BYTES) -> CapAlert:
    """A checked CAP 1.2 alert, or `Refused` naming the failing field."""
    root = parse(data, max_bytes=max_bytes)
    namespace, name = local(root.tag)
    if namespace in OLD_NAMESPACES:
        raise Refused(
            "namespace", f"{OLD_NAMESPACES[namespace]} is not accepted; send CAP 1.2 ({CAP_NS})"
        )
    if namespace != CAP_NS or name != "alert":
        raise Refused(
            "namespace",
            f"the root element must be <alert> in the CAP 1.2 namespace {CAP_NS} "
            f"(found {name!r} in {namespace or 'no namespace'!r})",
        )
    msg_type = _enum(root, "msgType", "msgType", MSG_TYPE)
    sent = _time(root, "sent", "sent", required=True)
    assert sent is not None
    identifier = _text(root, "identifier", "identifier", required=True)
    if any(c in identifier for c in " ,<&") or len(identifier) > 200:
        raise Refused("identifier", "the identifier may not hold spaces, commas, < or &")
    references = _references(_text(root, "references", "references", required=False))
    if msg_type in ("Update", "Cancel") and not references:
        raise Refused("references", f"a {msg_type} must name the alert it refers to")
    infos = tuple(_info(element) for element in root.findall(_q("info")))
    if msg_type in ("Alert", "Update") and not infos:
        raise Refused("info", "an Alert or Update needs at least one <info> block")
    return CapAlert(
        identifier=identifier,
        sender=_text(root, "sender", "sender", required=True),
        sent=sent,
        status=_enum(root, "status", "status", STATUS),
        msg_type=msg_type,
        scope=_enum(root, "scope", "scope", SCOPE),
        references=references,
        infos=infos,
    )
