"""JMA disaster-information XML (気象庁防災情報XML) → a checked `JmaReport`.

Handled kinds, recognised by `Control/Title` (the data-type code is only in the feed and
file name):
- VXSE51 震度速報 (seismic intensity flash: intensities per 地震情報／細分区域 area),
- VXSE53 震源・震度に関する情報 (hypocentre and intensities down to municipalities),
- VTSE41 津波警報・注意報・予報a (tsunami warnings per 津波予報区),
- VPWW54 気象警報・注意報（Ｈ２７） (weather warnings; its `Warning` of type
  気象警報・注意報（市町村等） lists the warnings in force per municipality).
A document wrapped in an EDXL-DE 1.0 envelope (as L-Alert relays deliver them) is unwrapped
first. Anything else is refused with a message naming the kind. `rules.jma_drafts` maps a
report to alert drafts per site.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from content.alerts.xmlsafe import MAX_BYTES, Refused, local, parse

__all__ = ["INTENSITIES", "JmaReport", "Refused", "parse_jma", "unwrap_edxl"]

JMX = "http://xml.kishou.go.jp/jmaxml1/"
HEAD = "http://xml.kishou.go.jp/jmaxml1/informationBasis1/"
SEISMOLOGY = "http://xml.kishou.go.jp/jmaxml1/body/seismology1/"
METEOROLOGY = "http://xml.kishou.go.jp/jmaxml1/body/meteorology1/"
EDXL_DE = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"

KINDS = {
    "震度速報": "VXSE51",
    "震源・震度に関する情報": "VXSE53",
    "津波警報・注意報・予報a": "VTSE41",
    "気象警報・注意報（Ｈ２７）": "VPWW54",
    "気象警報・注意報（H27）": "VPWW54",
}
MUNICIPAL_WARNINGS = "気象警報・注意報（市町村等）"
INTENSITIES = ("1", "2", "3", "4", "5-", "5+", "6-", "6+", "7")
STATUSES = ("通常", "訓練", "試験")
INFO_TYPES = ("発表", "訂正", "取消", "遅延")
ENDED = ("解除", "なし")  # a warning's status that means it is no longer in force


@dataclass(frozen=True)
class JmaReport:
    kind: str  # VXSE51 | VXSE53 | VTSE41 | VPWW54
    title: str  # Control/Title
    status: str  # 通常 | 訓練 (drill) | 試験 (test)
    report_time: datetime
    event_id: str
    info_type: str  # 発表 | 訂正 | 取消 | 遅延
    serial: int
    headline: str  # Head/Headline/Text, as issued
    # VXSE51/53: code (細分区域 area or municipality) -> (name, max intensity)
    intensities: dict[str, tuple[str, str]] = field(default_factory=dict)
    hypocenter: str = ""  # VXSE53: the epicentre's name, as issued
    magnitude: str = ""  # VXSE53
    # VTSE41: 津波予報区 code -> (name, kind name as issued, e.g. 津波警報)
    tsunami: dict[str, tuple[str, str]] = field(default_factory=dict)
    # VPWW54: municipality code -> (name, warnings in force, as issued)
    warnings: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


def _text(element: Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _child(parent: Element, namespace: str, path: str, where: str) -> Element:
    found = parent.find("/".join(f"{{{namespace}}}{p}" for p in path.split("/")))
    if found is None:
        raise Refused(where, f"the required element <{path.split('/')[-1]}> is missing")
    return found


def _required(parent: Element, namespace: str, path: str, where: str) -> str:
    value = _text(_child(parent, namespace, path, where))
    if not value:
        raise Refused(where, f"<{path.split('/')[-1]}> is empty")
    return value


def _time(raw: str, where: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Refused(where, f"{raw!r} is not a date and time with its offset")
    return parsed


def unwrap_edxl(root: Element) -> Element:
    """The document inside an EDXL-DE 1.0 envelope (its first embedded XML content), or
    `root` itself when it is not an envelope."""
    namespace, name = local(root.tag)
    if namespace != EDXL_DE:
        return root
    if name != "EDXLDistribution":
        raise Refused("EDXLDistribution", f"<{name}> is not an EDXL-DE distribution")
    q = f"{{{EDXL_DE}}}"
    for content in root.iter(f"{q}embeddedXMLContent"):
        children = list(content)
        if children:
            return children[0]
    raise Refused("EDXLDistribution/contentObject", "the envelope holds no embedded XML document")


def _intensities(body: Element) -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    s = f"{{{SEISMOLOGY}}}"
    observation = body.find(f"{s}Intensity/{s}Observation")
    if observation is None:
        return found
    for element in observation.iter():
        _, name = local(element.tag)
        if name not in ("Pref", "Area", "City"):
            continue
        code = _text(element.find(f"{s}Code"))
        value = _text(element.find(f"{s}MaxInt"))
        if not code or not value:
            continue
        if value not in INTENSITIES:
            raise Refused(f"Body/Intensity/{name}/MaxInt", f"{value!r} is not a seismic "
                          f"intensity ({', '.join(INTENSITIES)})")  # fmt: skip
        found[code] = (_text(element.find(f"{s}Name")), value)
    return found


def _tsunami(body: Element) -> dict[str, tuple[str, str]]:
    s = f"{{{SEISMOLOGY}}}"
    found: dict[str, tuple[str, str]] = {}
    forecast = body.find(f"{s}Tsunami/{s}Forecast")
    if forecast is None:
        return found
    for item in forecast.findall(f"{s}Item"):
        code = _text(item.find(f"{s}Area/{s}Code"))
        kind = _text(item.find(f"{s}Category/{s}Kind/{s}Name"))
        if not code or not kind:
            raise Refused("Body/Tsunami/Forecast/Item", "an item needs Area/Code and Kind/Name")
        found[code] = (_text(item.find(f"{s}Area/{s}Name")), kind)
    return found


def _warnings(body: Element) -> dict[str, tuple[str, tuple[str, ...]]]:
    m = f"{{{METEOROLOGY}}}"
    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for warning in body.findall(f"{m}Warning"):
        if warning.get("type") != MUNICIPAL_WARNINGS:
            continue
        for item in warning.findall(f"{m}Item"):
            code = _text(item.find(f"{m}Area/{m}Code"))
            if not code:
                raise Refused("Body/Warning/Item/Area/Code", "a municipality item needs its code")
            names = tuple(
                _text(kind.find(f"{m}Name"))
                for kind in item.findall(f"{m}Kind")
                if _text(kind.find(f"{m}Status")) not in ENDED and _text(kind.find(f"{m}Name"))
            )
            found[code] = (_text(item.find(f"{m}Area/{m}Name")), names)
    return found


def parse_jma(data: bytes, *, max_bytes: int = MAX_BYTES) -> JmaReport:
    """A checked JMA report (unwrapped from EDXL-DE when it comes in one), or `Refused`."""
    root = unwrap_edxl(parse(data, max_bytes=max_bytes))
    namespace, name = local(root.tag)
    if namespace != JMX or name != "Report":
        raise Refused(
            "namespace",
            f"the root element must be <Report> in the JMA namespace {JMX} "
            f"(found {name!r} in {namespace or 'no namespace'!r})",
        )
    control = _child(root, JMX, "Control", "Control")
    title = _required(control, JMX, "Title", "Control/Title")
    kind = KINDS.get(title)
    if kind is None:
        raise Refused(
            "Control/Title",
            f"JMA reports of the kind {title!r} are not handled (handled: 震度速報 VXSE51, "
            "震源・震度に関する情報 VXSE53, 津波警報・注意報・予報a VTSE41, "
            "気象警報・注意報（Ｈ２７） VPWW54)",
        )
    status = _required(control, JMX, "Status", "Control/Status")
    if status not in STATUSES:
        raise Refused("Control/Status", f"{status!r} is not one of {', '.join(STATUSES)}")
    head = _child(root, HEAD, "Head", "Head")
    info_type = _required(head, HEAD, "InfoType", "Head/InfoType")
    if info_type not in INFO_TYPES:
        raise Refused("Head/InfoType", f"{info_type!r} is not one of {', '.join(INFO_TYPES)}")
    serial_raw = _text(head.find(f"{{{HEAD}}}Serial")) or "0"
    if not (serial_raw.isascii() and serial_raw.isdigit() and len(serial_raw) < 7):
        raise Refused("Head/Serial", f"{serial_raw!r} is not a serial number")
    event_id = _text(head.find(f"{{{HEAD}}}EventID"))
    if kind != "VPWW54" and not event_id:
        raise Refused("Head/EventID", "the required element <EventID> is missing or empty")
    if len(event_id) > 64 or any(c in event_id for c in " @#"):
        raise Refused("Head/EventID", "the event id may not hold spaces, @ or #")
    report = JmaReport(
        kind=kind,
        title=title,
        status=status,
        report_time=_time(
            _required(head, HEAD, "ReportDateTime", "Head/ReportDateTime"), "Head/ReportDateTime"
        ),
        event_id=event_id,
        info_type=info_type,
        serial=int(serial_raw),
        headline=_text(head.find(f"{{{HEAD}}}Headline/{{{HEAD}}}Text"))[:2000],
    )
    if info_type == "取消":
        return report  # a cancellation carries no body to show
    body_ns = METEOROLOGY if kind == "VPWW54" else SEISMOLOGY
    body = _child(root, body_ns, "Body", "Body")
    if kind in ("VXSE51", "VXSE53"):
        s = f"{{{SEISMOLOGY}}}"
        hypocenter = _text(body.find(f"{s}Earthquake/{s}Hypocenter/{s}Area/{s}Name"))
        magnitude = ""
        for element in body.iter():
            if local(element.tag)[1] == "Magnitude":
                magnitude = (element.get("description") or _text(element))[:20]
                break
        intensities = _intensities(body)
        if not intensities:
            raise Refused("Body/Intensity", "the report names no intensity for any area")
        return _replace(report, intensities=intensities, hypocenter=hypocenter,
                        magnitude=magnitude)  # fmt: skip
    if kind == "VTSE41":
        return _replace(report, tsunami=_tsunami(body))
    return _replace(report, warnings=_warnings(body))


def _replace(report: JmaReport, **changes: Any) -> JmaReport:
    return replace(report, **changes)
