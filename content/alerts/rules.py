"""Which alerts a CAP or JMA document raises, where, and how loudly.

The rules live in a TOML file named by the setting SIGNAGE_ALERT_RULES (docs/alerts.md
shows one); without it the defaults below apply and no site is listed, so JMA reports
reach no site and CAP alerts without an area reach none either. `load_rules` checks the
file and raises `RulesError` with a one-line message naming the key.

One draft is made per site the document reaches, with identifier `<key>@<site code>`
and `areas = (<site code>,)`. A later report of the same thread (CAP: the Update of a
referenced alert; JMA: the same event, or the same municipality for weather warnings)
carries `replaces = <thread>@<site code>`: the alert whose identifier is that, or that
itself replaced it, is the one it updates or, with `cancel`, clears.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from content.alerts import cap as cap_format
from content.alerts import phrases
from content.alerts.cap import CapAlert, CapInfo
from content.alerts.jma import INTENSITIES, JmaReport
from content.alerts.model import AlertDraft, AlertText, Level, Mode, Source
from content.languages import LANGUAGES


class RulesError(ValueError):
    """The rules file cannot be used; the message names the key."""


@dataclass(frozen=True)
class CapRule:
    """Matches when severity, urgency and certainty are each among the listed values."""

    severity: frozenset[str]
    urgency: frozenset[str]
    certainty: frozenset[str]
    mode: Mode | None  # None: show nothing


# First match wins; no match shows nothing.
DEFAULT_CAP_RULES: tuple[CapRule, ...] = (
    CapRule(frozenset({"Extreme", "Severe"}), frozenset({"Immediate", "Expected"}),
            frozenset({"Observed", "Likely"}), Mode.TAKEOVER),
    CapRule(frozenset({"Extreme", "Severe"}), frozenset({"Immediate", "Expected", "Future",
            "Unknown"}), frozenset({"Observed", "Likely", "Possible"}), Mode.BANNER),
    CapRule(frozenset({"Moderate", "Minor"}), frozenset({"Immediate", "Expected"}),
            frozenset({"Observed", "Likely"}), Mode.BANNER),
)  # fmt: skip


@dataclass(frozen=True)
class SiteRules:
    code: str  # the site's code in the CMS
    municipality: str = ""  # JMA 市町村等 code (7 digits), e.g. 1310100
    earthquake_areas: tuple[str, ...] = ()  # 地震情報／細分区域 codes, e.g. 350
    tsunami_areas: tuple[str, ...] = ()  # 津波予報区 codes of its coast, e.g. 300
    cap_geocodes: tuple[str, ...] = ()  # "valueName=value" of CAP geocodes
    seismic_takeover: str = "5-"  # this intensity or more in its area → takeover
    seismic_banner: str = "3"  # this or more (below the takeover one) → banner
    tsunami_warning: Mode | None = Mode.TAKEOVER  # 大津波警報 and 津波警報
    tsunami_advisory: Mode | None = Mode.BANNER  # 津波注意報
    weather_emergency: Mode | None = Mode.TAKEOVER  # 特別警報
    weather_warning: Mode | None = Mode.BANNER  # 警報
    weather_advisory: Mode | None = None  # 注意報


@dataclass(frozen=True)
class Feed:
    """An Atom feed the server polls (its entries' documents on the same host only)."""

    url: str
    kind: Literal["cap", "jma"]
    every_seconds: int = 60


@dataclass(frozen=True)
class Rules:
    cap: tuple[CapRule, ...] = DEFAULT_CAP_RULES
    cap_hours: float = 3.0  # expiry of a CAP alert without <expires>
    earthquake_minutes: float = 30.0  # how long an earthquake report is shown
    tsunami_hours: float = 12.0  # until a later report lifts it
    weather_hours: float = 24.0  # until a later report lifts it
    sites: tuple[SiteRules, ...] = field(default_factory=tuple)
    feeds: tuple[Feed, ...] = field(default_factory=tuple)


# --- the file --------------------------------------------------------------------------

_MODES = {"takeover": Mode.TAKEOVER, "banner": Mode.BANNER, "none": None}


def _mode(raw: object, key: str) -> Mode | None:
    if not isinstance(raw, str) or raw not in _MODES:
        raise RulesError(f"{key}: expected takeover, banner or none")
    return _MODES[raw]


def _codes(raw: object, key: str) -> tuple[str, ...]:
    if not isinstance(raw, list) or not all(isinstance(v, str | int) for v in raw):
        raise RulesError(f"{key}: expected a list of codes")
    return tuple(str(v) for v in raw)


def _values(raw: object, key: str, allowed: tuple[str, ...]) -> frozenset[str]:
    if not isinstance(raw, list) or not raw or any(v not in allowed for v in raw):
        raise RulesError(f"{key}: expected a list of {', '.join(allowed)}")
    return frozenset(raw)


def _number(raw: object, key: str) -> float:
    if not isinstance(raw, int | float) or isinstance(raw, bool) or not 0 < raw <= 24 * 14:
        raise RulesError(f"{key}: expected a number above 0")
    return float(raw)


def _check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    unknown = set(table) - set(allowed)
    if unknown:
        raise RulesError(f"{where}: unknown key {sorted(unknown)[0]!r}")


def _site(raw: object, n: int) -> SiteRules:
    where = f"sites[{n}]"
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: expected a table")
    _check_keys(raw, SiteRules.__dataclass_fields__, where)
    code = raw.get("code")
    if not isinstance(code, str) or not code or len(code) > 32 or "@" in code:
        raise RulesError(f"{where}.code: the site's code is required (up to 32 characters)")
    values: dict[str, Any] = {"code": code}
    if "municipality" in raw:
        values["municipality"] = str(raw["municipality"])
    for key in ("earthquake_areas", "tsunami_areas", "cap_geocodes"):
        if key in raw:
            values[key] = _codes(raw[key], f"{where}.{key}")
    for key in ("seismic_takeover", "seismic_banner"):
        if key in raw:
            if str(raw[key]) not in INTENSITIES:
                raise RulesError(f"{where}.{key}: expected one of {', '.join(INTENSITIES)}")
            values[key] = str(raw[key])
    for key in ("tsunami_warning", "tsunami_advisory", "weather_emergency", "weather_warning",
                "weather_advisory"):  # fmt: skip
        if key in raw:
            values[key] = _mode(raw[key], f"{where}.{key}")
    return SiteRules(**values)


def _feed(raw: object, n: int) -> Feed:
    where = f"feeds[{n}]"
    if not isinstance(raw, dict):
        raise RulesError(f"{where}: expected a table")
    _check_keys(raw, ("url", "kind", "every_seconds"), where)
    url = raw.get("url")
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise RulesError(f"{where}.url: expected an http:// or https:// address")
    kind = raw.get("kind")
    if kind not in ("cap", "jma"):
        raise RulesError(f"{where}.kind: expected cap or jma")
    every = raw.get("every_seconds", 60)
    if not isinstance(every, int) or isinstance(every, bool) or not 10 <= every <= 3600:
        raise RulesError(f"{where}.every_seconds: expected a whole number from 10 to 3600")
    assert isinstance(url, str)
    return Feed(url, "cap" if kind == "cap" else "jma", every)


def rules_from(data: Mapping[str, object]) -> Rules:
    """Rules from the parsed TOML; `RulesError` names the first key that is wrong."""
    _check_keys(data, ("cap", "jma", "sites", "feeds"), "rules")
    values: dict[str, Any] = {}
    cap = data.get("cap", {})
    if not isinstance(cap, dict):
        raise RulesError("cap: expected a table")
    _check_keys(cap, ("rules", "default_hours"), "cap")
    if "default_hours" in cap:
        values["cap_hours"] = _number(cap["default_hours"], "cap.default_hours")
    if "rules" in cap:
        if not isinstance(cap["rules"], list):
            raise RulesError("cap.rules: expected a list of tables ([[cap.rules]])")
        parsed = []
        for n, rule in enumerate(cap["rules"]):
            where = f"cap.rules[{n}]"
            if not isinstance(rule, dict):
                raise RulesError(f"{where}: expected a table")
            _check_keys(rule, ("severity", "urgency", "certainty", "mode"), where)
            parsed.append(
                CapRule(
                    _values(rule.get("severity"), f"{where}.severity", cap_format.SEVERITY),
                    _values(rule.get("urgency"), f"{where}.urgency", cap_format.URGENCY),
                    _values(rule.get("certainty"), f"{where}.certainty", cap_format.CERTAINTY),
                    _mode(rule.get("mode"), f"{where}.mode"),
                )
            )
        values["cap"] = tuple(parsed)
    jma = data.get("jma", {})
    if not isinstance(jma, dict):
        raise RulesError("jma: expected a table")
    _check_keys(jma, ("earthquake_minutes", "tsunami_hours", "weather_hours"), "jma")
    for key in ("earthquake_minutes", "tsunami_hours", "weather_hours"):
        if key in jma:
            values[key] = _number(jma[key], f"jma.{key}")
    sites = data.get("sites", [])
    if not isinstance(sites, list):
        raise RulesError("sites: expected a list of tables ([[sites]])")
    values["sites"] = tuple(_site(raw, n) for n, raw in enumerate(sites))
    feeds = data.get("feeds", [])
    if not isinstance(feeds, list):
        raise RulesError("feeds: expected a list of tables ([[feeds]])")
    values["feeds"] = tuple(_feed(raw, n) for n, raw in enumerate(feeds))
    codes = [s.code for s in values["sites"]]
    if len(set(codes)) != len(codes):
        raise RulesError("sites: a site code is listed twice")
    return Rules(**values)


def load_rules(path: Path | None) -> Rules:
    """The rules in the TOML file at `path` (the defaults when None)."""
    if path is None:
        return Rules()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except OSError as exc:
        raise RulesError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(f"{path} is not valid TOML: {exc}") from exc
    return rules_from(data)


# --- CAP -------------------------------------------------------------------------------

_LEVELS = {"Extreme": Level.EXTREME, "Severe": Level.SEVERE, "Moderate": Level.MODERATE}
_CAP_LANGUAGES = {"zh-cn": "zh-Hans", "zh-sg": "zh-Hans", "zh-tw": "zh-Hant", "zh-hk": "zh-Hant"}


def content_language(tag: str) -> str:
    """A CAP `language` (RFC 3066, e.g. ja-JP) as the residents' language code (ja)."""
    lower = tag.lower()
    if lower in _CAP_LANGUAGES:
        return _CAP_LANGUAGES[lower]
    for code in LANGUAGES:
        if code.lower() == lower:
            return code
    primary = lower.split("-")[0]
    return primary if primary in LANGUAGES else tag


def _fit(key: str) -> str:
    """A CAP sender and identifier as a key short enough to store (identifiers hold 200
    characters with the site code): a long one becomes a digest of itself."""
    if len(key) <= 120:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def cap_mode(rules: Rules, info: CapInfo) -> Mode | None:
    for rule in rules.cap:
        if (
            info.severity in rule.severity
            and info.urgency in rule.urgency
            and info.certainty in rule.certainty
        ):
            return rule.mode
    return None


def _cap_sites(rules: Rules, infos: Iterable[CapInfo]) -> list[str]:
    """The sites the infos' areas reach through their geocodes; every listed site when
    no info names an area."""
    infos = list(infos)
    if not any(info.areas for info in infos):
        return [site.code for site in rules.sites]
    codes = {f"{name}={value}" for info in infos for a in info.areas for name, value in a.geocodes}
    return [s.code for s in rules.sites if codes & set(s.cap_geocodes)]


def _cap_texts(infos: Iterable[CapInfo]) -> tuple[AlertText, ...]:
    texts: dict[str, AlertText] = {}
    for info in infos:
        language = content_language(info.language)
        if language not in texts:
            body = "\n".join(p for p in (info.description, info.instruction) if p)
            texts[language] = AlertText(language, info.headline or info.event, body)
    return tuple(texts.values())


def resident_texts(texts: Sequence[AlertText], languages: Sequence[str]) -> tuple[AlertText, ...]:
    """A CAP alert's texts for a site whose residents read `languages` (content language
    codes): each `info` block in its own language, and each of the site's languages that
    has no block of its own from the best-matching block: one in the same primary language
    (zh-Hant from zh-Hans), else the English one, else the first. A block already shown
    in another of the site's languages is not repeated (the screen would show the same
    text twice in turn)."""
    if not texts:
        return tuple(texts)
    out = list(texts)
    have = {t.language for t in texts}
    shown = {t.language for t in texts if t.language in languages}
    for language in languages:
        if language in have:
            continue
        primary = language.split("-")[0].lower()
        match = (
            next((t for t in texts if t.language.split("-")[0].lower() == primary), None)
            or next((t for t in texts if t.language == "en"), None)
            or texts[0]
        )
        if match.language in shown:
            continue
        out.append(AlertText(language, match.headline, match.body))
        shown.add(match.language)
    return tuple(out)


def cap_drafts(rules: Rules, alert: CapAlert, now: datetime) -> list[AlertDraft]:
    """The drafts a CAP alert raises: one per site it reaches. Test, System and Draft
    messages, Ack and Error raise nothing; Exercise ones are drills."""
    if alert.status not in ("Actual", "Exercise") or alert.msg_type in ("Ack", "Error"):
        return []
    key = _fit(f"{alert.sender},{alert.identifier}")
    last = alert.references[-1] if alert.references else None
    thread = _fit(f"{last[0]},{last[1]}") if last else None
    if alert.msg_type == "Cancel":
        sites = _cap_sites(rules, alert.infos) if alert.infos else [s.code for s in rules.sites]
        return [_cancel("cap", f"{key}@{site}", f"{thread}@{site}", alert.sent, site)
                for site in sites]  # fmt: skip
    shown = [(info, cap_mode(rules, info)) for info in alert.infos]
    moded = [(info, mode) for info, mode in shown if mode is not None]
    if not moded:
        # An Update that lowers an alert below every rule clears the one it updated.
        if thread is None:
            return []
        return [_cancel("cap", f"{key}@{site}", f"{thread}@{site}", alert.sent, site)
                for site in _cap_sites(rules, alert.infos)]  # fmt: skip
    infos = [info for info, _ in moded]
    mode = Mode.TAKEOVER if any(m == Mode.TAKEOVER for _, m in moded) else Mode.BANNER
    level = min((_LEVELS.get(i.severity, Level.MINOR) for i in infos), key=list(Level).index)
    first = infos[0]
    effective = first.effective or alert.sent
    expires = first.expires or (first.onset or effective) + timedelta(hours=rules.cap_hours)
    texts = _cap_texts(infos)
    if expires <= now:
        return []  # never show an alert that has already expired
    return [
        AlertDraft(
            source="cap",
            identifier=f"{key}@{site}",
            level=level,
            mode=mode,
            drill=alert.status == "Exercise",
            texts=texts,
            sent_at=alert.sent,
            effective_at=effective,
            expires_at=expires,
            areas=(site,),
            replaces=f"{thread}@{site}" if thread else None,
        )
        for site in _cap_sites(rules, infos)
    ]


def _cancel(
    source: Source, identifier: str, replaces: str, sent: datetime, site: str
) -> AlertDraft:
    return AlertDraft(
        source=source,
        identifier=identifier,
        level=Level.MINOR,
        mode=Mode.BANNER,
        drill=False,
        texts=(),
        sent_at=sent,
        effective_at=sent,
        expires_at=sent,
        areas=(site,),
        replaces=replaces,
        cancel=True,
    )


# --- JMA -------------------------------------------------------------------------------


def _texts(
    headline_key: str, body_key: str, as_issued: str, **fields: str
) -> tuple[AlertText, ...]:
    """Texts in every language we write; the Japanese body is JMA's headline as issued."""
    texts = []
    for language in phrases.LANGUAGES:
        body = phrases.phrase(body_key, language, **fields)
        if language == "ja" and as_issued:
            body = as_issued
        texts.append(AlertText(language, phrases.phrase(headline_key, language, **fields), body))
    return tuple(texts)


def _at_least(value: str, threshold: str) -> bool:
    return INTENSITIES.index(value) >= INTENSITIES.index(threshold)


def _earthquake(rules: Rules, report: JmaReport, site: SiteRules) -> AlertDraft | None:
    found = None
    if site.municipality and site.municipality in report.intensities:
        found = ("city", *report.intensities[site.municipality])
    else:
        matches = [report.intensities[c] for c in site.earthquake_areas if c in report.intensities]
        if matches:
            name, value = max(matches, key=lambda m: INTENSITIES.index(m[1]))
            found = ("area", name, value)
    if found is None:
        return None
    where, area, intensity = found
    if _at_least(intensity, site.seismic_takeover):
        mode = Mode.TAKEOVER
    elif _at_least(intensity, site.seismic_banner):
        mode = Mode.BANNER
    else:
        return None
    level = (
        Level.EXTREME
        if _at_least(intensity, "6-")
        else Level.SEVERE
        if _at_least(intensity, "5-")
        else Level.MODERATE
    )
    texts = _texts(
        f"earthquake_{where}",
        "earthquake_body",
        report.headline,
        intensity=intensity,
        intensity_ja=phrases.intensity_ja(intensity),
        area=area,
    )
    expires = report.report_time + timedelta(minutes=rules.earthquake_minutes)
    return _jma_draft(report, f"jma:earthquake:{report.event_id}", site, level, mode, texts,
                      expires)  # fmt: skip


def _tsunami(rules: Rules, report: JmaReport, site: SiteRules) -> AlertDraft | bool:
    """A draft, True when its coast is listed with nothing in force (clear), else False."""
    kinds = [report.tsunami[c][1] for c in site.tsunami_areas if c in report.tsunami]
    if not kinds:
        return False
    if any("大津波警報" in k for k in kinds):
        key, level, mode = "tsunami_major", Level.EXTREME, site.tsunami_warning
    elif any("津波警報" in k and "解除" not in k for k in kinds):
        key, level, mode = "tsunami_warning", Level.SEVERE, site.tsunami_warning
    elif any("津波注意報" in k and "解除" not in k for k in kinds):
        key, level, mode = "tsunami_advisory", Level.MODERATE, site.tsunami_advisory
    else:
        return True
    if mode is None:
        return True
    texts = _texts(key, "tsunami_body", report.headline)
    expires = report.report_time + timedelta(hours=rules.tsunami_hours)
    return _jma_draft(report, f"jma:tsunami:{report.event_id}", site, level, mode, texts,
                      expires)  # fmt: skip


def _weather(rules: Rules, report: JmaReport, site: SiteRules) -> AlertDraft | bool:
    if not site.municipality or site.municipality not in report.warnings:
        return False
    _, names = report.warnings[site.municipality]
    if any(n.endswith("特別警報") for n in names):
        key, level, mode = "weather_emergency", Level.EXTREME, site.weather_emergency
    elif any(n.endswith("警報") for n in names):
        key, level, mode = "weather_warning", Level.SEVERE, site.weather_warning
    elif any(n.endswith("注意報") for n in names):
        key, level, mode = "weather_advisory", Level.MINOR, site.weather_advisory
    else:
        return True
    if mode is None:
        return True
    texts = _texts(key, "weather_body", report.headline, names="・".join(names))
    expires = report.report_time + timedelta(hours=rules.weather_hours)
    return _jma_draft(report, f"jma:weather:{site.municipality}", site, level, mode, texts,
                      expires)  # fmt: skip


def _jma_draft(
    report: JmaReport,
    thread: str,
    site: SiteRules,
    level: Level,
    mode: Mode,
    texts: tuple[AlertText, ...],
    expires: datetime,
) -> AlertDraft:
    version = f"{report.kind}:{report.report_time.isoformat()}:{report.serial}:{report.info_type}"
    return AlertDraft(
        source="jma",
        identifier=f"{thread}:{version}@{site.code}",
        level=level,
        mode=mode,
        drill=report.status == "訓練",
        texts=texts,
        sent_at=report.report_time,
        effective_at=report.report_time,
        expires_at=expires,
        areas=(site.code,),
        replaces=f"{thread}@{site.code}",
        headline_as_issued=bool(report.headline),
    )


def _thread(report: JmaReport, site: SiteRules) -> str:
    if report.kind in ("VXSE51", "VXSE53"):
        return f"jma:earthquake:{report.event_id}"
    if report.kind == "VTSE41":
        return f"jma:tsunami:{report.event_id}"
    return f"jma:weather:{site.municipality}"


def jma_drafts(rules: Rules, report: JmaReport, now: datetime) -> list[AlertDraft]:
    """The drafts a JMA report raises per site by its thresholds; a later report of the
    same thread replaces the shown one, and 取消 (or a report that lists the site's coast or
    municipality with nothing in force) clears it. 試験 (test) reports raise nothing."""
    if report.status == "試験" or report.info_type == "遅延":
        return []
    drafts: list[AlertDraft] = []
    for site in rules.sites:
        thread = _thread(report, site)
        version = f"{report.kind}:{report.report_time.isoformat()}:{report.serial}:cancel"
        cancel = _cancel(
            "jma", f"{thread}:{version}@{site.code}", f"{thread}@{site.code}",
            report.report_time, site.code,
        )  # fmt: skip
        if report.info_type == "取消":
            if report.kind != "VPWW54" or site.municipality:
                drafts.append(cancel)
            continue
        made: AlertDraft | bool | None
        if report.kind in ("VXSE51", "VXSE53"):
            made = _earthquake(rules, report, site)
        elif report.kind == "VTSE41":
            made = _tsunami(rules, report, site)
        else:
            made = _weather(rules, report, site)
        if isinstance(made, AlertDraft):
            if made.expires_at > now:  # never show a report that has already expired
                drafts.append(made)
        elif made is True:
            drafts.append(cancel)
    return drafts
