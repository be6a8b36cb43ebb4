"""CAP 1.2 and JMA XML → alert drafts (content/alerts: xmlsafe, cap, jma, rules, phrases).

Every bad-input case of issue 12 is refused with the failing field named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from content.alerts import phrases
from content.alerts.cap import parse_cap
from content.alerts.jma import parse_jma
from content.alerts.model import AlertText, Level, Mode
from content.alerts.rules import (
    DEFAULT_CAP_RULES,
    Rules,
    RulesError,
    SiteRules,
    cap_drafts,
    jma_drafts,
    load_rules,
    resident_texts,
    rules_from,
)
from content.alerts.xmlsafe import Refused
from tests.alerts_docs import doc, edxl

NOW = datetime(2026, 12, 2, 5, 0, 30, tzinfo=UTC)
RULES = Rules(
    sites=(
        SiteRules(
            code="HQ",
            municipality="1310100",
            earthquake_areas=("350",),
            tsunami_areas=("300",),
            cap_geocodes=("JIS=13101",),
        ),
        SiteRules(
            code="WEST", municipality="1320100", earthquake_areas=("351",), seismic_banner="4"
        ),
    )
)


def refused(data: bytes, *, jma: bool = False, max_bytes: int | None = None) -> Refused:
    parse = parse_jma if jma else parse_cap
    with pytest.raises(Refused) as caught:
        if max_bytes is None:
            parse(data)
        else:
            parse(data, max_bytes=max_bytes)
    return caught.value


# --- CAP ---------------------------------------------------------------------------------


def test_a_severe_cap_alert_takes_over_its_site_in_both_languages() -> None:
    alert = parse_cap(doc("cap_severe.xml", NOW))
    assert alert.msg_type == "Alert" and [i.language for i in alert.infos] == ["ja-JP", "en-US"]
    assert alert.infos[0].areas[0].geocodes == (("JIS", "13101"),)
    [draft] = cap_drafts(RULES, alert, NOW)
    assert draft.source == "cap" and draft.areas == ("HQ",)
    assert draft.identifier == "bousai@city.example.jp,CITY-2026-0001@HQ"
    assert (draft.level, draft.mode, draft.drill, draft.replaces) == (
        Level.SEVERE, Mode.TAKEOVER, False, None)  # fmt: skip
    assert [(t.language, t.headline) for t in draft.texts] == [
        ("ja", "市役所周辺に避難指示"),
        ("en", "Evacuation order around the city hall"),
    ]
    assert "北側の出口" in draft.texts[0].body
    assert draft.expires_at == NOW.replace(microsecond=0) + timedelta(hours=3)


def test_update_replaces_the_last_referenced_alert_and_cancel_clears_it() -> None:
    [update] = cap_drafts(RULES, parse_cap(doc("cap_update.xml", NOW)), NOW)
    assert update.replaces == "bousai@city.example.jp,CITY-2026-0001@HQ"
    assert update.texts[0].headline == "避難指示の範囲を拡大" and not update.cancel
    # No <effective>: effective from <sent>.
    assert update.effective_at == update.sent_at
    cancels = cap_drafts(RULES, parse_cap(doc("cap_cancel.xml", NOW)), NOW)
    assert [(c.cancel, c.replaces) for c in cancels] == [
        (True, "bousai@city.example.jp,CITY-2026-0002@HQ"),
        (True, "bousai@city.example.jp,CITY-2026-0002@WEST"),
    ]


def test_exercise_is_a_drill_and_test_messages_show_nothing() -> None:
    exercise = doc("cap_severe.xml", NOW).replace(b"Actual", b"Exercise")
    assert cap_drafts(RULES, parse_cap(exercise), NOW)[0].drill is True
    test = doc("cap_severe.xml", NOW).replace(b"Actual", b"Test")
    assert cap_drafts(RULES, parse_cap(test), NOW) == []


def test_each_site_language_without_its_block_reads_the_best_matching_one() -> None:
    ja = AlertText("ja", "避難指示", "北側の出口から")
    en = AlertText("en", "Evacuation order", "Leave by the north exit")
    hans = AlertText("zh-Hans", "疏散指示", "请从北侧出口离开")
    # Same primary language first (zh-Hant from zh-Hans), else English (vi), blocks in
    # their own language unchanged, a language without any block not invented.
    texts = resident_texts((ja, en, hans), ["ja", "zh-Hant", "vi"])
    assert texts == (
        ja,
        en,
        hans,
        AlertText("zh-Hant", hans.headline, hans.body),
        AlertText("vi", en.headline, en.body),
    )
    # No English block: the first one. A block the site already shows in one of its
    # languages is not repeated (English readers and Vietnamese readers see one page).
    assert resident_texts((ja, hans), ["ja", "pt"]) == (ja, hans)
    assert resident_texts((hans, ja), ["pt"]) == (
        hans,
        ja,
        AlertText("pt", hans.headline, hans.body),
    )
    assert resident_texts((ja, en), ["ja", "en", "vi"]) == (ja, en)
    vi = AlertText("vi", en.headline, en.body)
    assert resident_texts((ja, en), ["ja", "vi", "pt"]) == (ja, en, vi)
    assert resident_texts((), ["ja"]) == ()


def test_an_alert_already_expired_is_never_shown() -> None:
    old = NOW - timedelta(hours=5)
    assert cap_drafts(RULES, parse_cap(doc("cap_severe.xml", old)), NOW) == []


@pytest.mark.parametrize(
    ("severity", "urgency", "certainty", "mode"),
    [
        ("Extreme", "Immediate", "Observed", Mode.TAKEOVER),
        ("Severe", "Expected", "Likely", Mode.TAKEOVER),
        ("Severe", "Future", "Possible", Mode.BANNER),
        ("Moderate", "Immediate", "Observed", Mode.BANNER),
        ("Minor", "Future", "Likely", None),
        ("Severe", "Past", "Observed", None),
        ("Extreme", "Immediate", "Unlikely", None),
        ("Unknown", "Immediate", "Observed", None),
    ],
)
def test_the_default_rule(severity: str, urgency: str, certainty: str, mode: Mode | None) -> None:
    data = (
        doc("cap_severe.xml", NOW)
        .replace(b">Severe<", f">{severity}<".encode())
        .replace(b">Immediate<", f">{urgency}<".encode())
        .replace(b">Observed<", f">{certainty}<".encode())
    )
    drafts = cap_drafts(RULES, parse_cap(data), NOW)
    assert [d.mode for d in drafts] == ([mode] if mode else [])


def test_an_area_no_site_lists_reaches_no_site() -> None:
    data = doc("cap_severe.xml", NOW).replace(b"13101", b"27100")
    assert cap_drafts(RULES, parse_cap(data), NOW) == []


CAP_BAD = [
    ("not xml", b"<alert", "document", "well-formed"),
    ("dtd", b'<?xml version="1.0"?><!DOCTYPE alert [<!ELEMENT alert ANY>]><alert/>',
     "document", "DTD"),
    ("external entity", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM '
     b'"file:///etc/passwd">]><alert>&x;</alert>', "document", "DTD"),
    ("entity expansion", b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY a "aaaa">'
     b'<!ENTITY b "&a;&a;&a;&a;">]><alert>&b;</alert>', "document", "DTD"),
    ("shift_jis", '<?xml version="1.0" encoding="Shift_JIS"?><alert/>'.encode("shift_jis"),
     "encoding", "Shift_JIS"),
    ("not utf-8", b'<?xml version="1.0"?><alert>\x93\xfa</alert>', "encoding", "UTF-8"),
    ("utf-16", '<?xml version="1.0"?><alert/>'.encode("utf-16"), "encoding", "UTF-16"),
    ("cap 1.1", b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', "namespace",
     "CAP 1.1 is not accepted"),
    ("cap 1.0", b'<alert xmlns="http://www.incident.com/cap/1.0"/>', "namespace",
     "CAP 1.0 is not accepted"),
    ("wrong namespace", b'<alert xmlns="urn:example"/>', "namespace", "CAP 1.2 namespace"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "data", "field", "words"), CAP_BAD, ids=[c[0] for c in CAP_BAD])
def test_bad_xml_is_refused_naming_what_is_wrong(
    case: str, data: bytes, field: str, words: str
) -> None:
    error = refused(data)
    assert error.field == field and words in error.message


def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    data = doc("cap_severe.xml", NOW)
    error = refused(data, max_bytes=len(data) - 1)
    assert error.field == "document" and "size limit" in error.message
    assert parse_cap(data, max_bytes=len(data)).identifier == "CITY-2026-0001"


@pytest.mark.parametrize(
    "element",
    ["identifier", "sender", "sent", "status", "msgType", "scope"],
)
def test_each_missing_required_element_is_named(element: str) -> None:
    data = doc("cap_severe.xml", NOW).decode()
    start = data.index(f"<{element}>")
    end = data.index(f"</{element}>") + len(element) + 3
    error = refused((data[:start] + data[end:]).encode())
    assert error.field == element and f"<{element}>" in error.message


@pytest.mark.parametrize("element", ["category", "event", "urgency", "severity", "certainty"])
def test_each_missing_info_element_is_named(element: str) -> None:
    data = doc("cap_severe.xml", NOW).decode()
    start = data.index(f"<{element}>")
    end = data.index(f"</{element}>") + len(element) + 3
    error = refused((data[:start] + data[end:]).encode())
    assert error.field == f"info/{element}"


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        (b">Actual<", b">Real<", "status"),
        (b">Alert<", b">Warning<", "msgType"),
        (b">Public<", b">Everyone<", "scope"),
        (b">Safety<", b">Danger<", "info/category"),
        (b">Immediate<", b">Now<", "info/urgency"),
        (b">Severe<", b">Bad<", "info/severity"),
        (b">Observed<", b">Seen<", "info/certainty"),
        (b">Evacuate<", b">Run<", "info/responseType"),
    ],
)
def test_unknown_enumerations_are_refused(old: bytes, new: bytes, field: str) -> None:
    error = refused(doc("cap_severe.xml", NOW).replace(old, new, 1))
    assert error.field == field and new.strip(b"<>").decode() in error.message


def test_times_need_their_offset_and_updates_their_references() -> None:
    data = doc("cap_severe.xml", NOW)
    no_offset = data.replace(b"+09:00</sent>", b"</sent>")
    assert refused(no_offset).field == "sent"
    assert refused(data.replace(b"<effective>", b"<effective>x", 1)).field == "info/effective"
    update = doc("cap_update.xml", NOW).decode()
    start, end = update.index("<references>"), update.index("</references>") + 13
    assert refused((update[:start] + update[end:]).encode()).field == "references"


# --- JMA ---------------------------------------------------------------------------------


def test_vxse51_intensity_5_upper_in_the_sites_area_takes_over_in_every_language() -> None:
    report = parse_jma(doc("vxse51.xml", NOW))
    assert report.kind == "VXSE51" and report.intensities["350"] == ("東京都２３区", "5+")
    drafts = jma_drafts(RULES, report, NOW)
    assert [(d.areas, d.mode, d.level) for d in drafts] == [
        (("HQ",), Mode.TAKEOVER, Level.SEVERE),
        (("WEST",), Mode.BANNER, Level.MODERATE),  # 4 in its area, its banner threshold
    ]
    hq = drafts[0]
    texts = {t.language: t for t in hq.texts}
    assert texts["ja"].headline == "震度5強の地震がありました（東京都２３区）"
    assert texts["en"].headline == (
        "An earthquake of seismic intensity 5+ was observed in this area"
    )
    assert texts["ja"].body.startswith("２日１４時００分ころ、地震による強い揺れ")
    assert set(texts) == set(phrases.LANGUAGES) and hq.headline_as_issued
    assert hq.replaces == "jma:earthquake:20261202140000@HQ"


def test_vxse53_uses_the_municipality_and_a_later_serial_replaces_the_event() -> None:
    first = jma_drafts(RULES, parse_jma(doc("vxse53.xml", NOW)), NOW)
    hq = next(d for d in first if d.areas == ("HQ",))
    assert hq.texts[0].headline == "震度5強の地震がありました（市内）"
    assert hq.texts[1].headline == (
        "An earthquake of seismic intensity 5+ was observed in the city"
    )
    later = jma_drafts(RULES, parse_jma(doc("vxse53.xml", NOW, SERIAL="2", INTENSITY="6-")), NOW)
    hq2 = next(d for d in later if d.areas == ("HQ",))
    assert hq2.identifier != hq.identifier and hq2.replaces == hq.replaces
    assert hq2.level == Level.EXTREME and "震度6弱" in hq2.texts[0].headline
    cancelled = jma_drafts(RULES, parse_jma(doc("vxse53.xml", NOW, INFOTYPE="取消")), NOW)
    assert [(d.cancel, d.replaces) for d in cancelled] == [
        (True, "jma:earthquake:20261202140000@HQ"),
        (True, "jma:earthquake:20261202140000@WEST"),
    ]


def test_a_small_earthquake_or_a_test_report_shows_nothing() -> None:
    small = parse_jma(doc("vxse53.xml", NOW, INTENSITY="2"))
    assert [d for d in jma_drafts(RULES, small, NOW) if d.areas == ("HQ",)] == []
    test = parse_jma(doc("vxse51.xml", NOW, STATUS="試験"))
    assert jma_drafts(RULES, test, NOW) == []
    drill = parse_jma(doc("vxse51.xml", NOW, STATUS="訓練"))
    assert all(d.drill for d in jma_drafts(RULES, drill, NOW))


def test_the_same_report_in_an_edxl_de_envelope() -> None:
    plain = jma_drafts(RULES, parse_jma(doc("vxse51.xml", NOW)), NOW)
    wrapped = jma_drafts(RULES, parse_jma(edxl(doc("vxse51.xml", NOW), NOW)), NOW)
    assert wrapped == plain and wrapped


@pytest.mark.parametrize(
    ("kind", "mode", "level"),
    [
        ("大津波警報", Mode.TAKEOVER, Level.EXTREME),
        ("津波警報", Mode.TAKEOVER, Level.SEVERE),
        ("津波注意報", Mode.BANNER, Level.MODERATE),
    ],
)
def test_a_tsunami_warning_for_the_sites_coast(kind: str, mode: Mode, level: Level) -> None:
    [draft] = jma_drafts(RULES, parse_jma(doc("vtse41.xml", NOW, KIND=kind)), NOW)
    assert (draft.areas, draft.mode, draft.level, draft.cancel) == (("HQ",), mode, level, False)
    assert draft.texts[0].body.startswith("津波警報を発表しました。")  # as issued


def test_a_lifted_tsunami_warning_clears_it() -> None:
    [draft] = jma_drafts(RULES, parse_jma(doc("vtse41.xml", NOW, KIND="警報解除")), NOW)
    assert draft.cancel and draft.replaces == "jma:tsunami:20261202140000@HQ"


def test_municipal_weather_warnings() -> None:
    report = parse_jma(doc("vpww54.xml", NOW))
    assert report.warnings["1310100"] == ("千代田区", ("大雨警報", "雷注意報"))
    [draft] = jma_drafts(RULES, report, NOW)
    assert (draft.mode, draft.level, draft.replaces) == (
        Mode.BANNER, Level.SEVERE, "jma:weather:1310100@HQ")  # fmt: skip
    emergency = parse_jma(doc("vpww54.xml", NOW, WARNING="大雨特別警報"))
    assert jma_drafts(RULES, emergency, NOW)[0].mode == Mode.TAKEOVER
    lifted = parse_jma(doc("vpww54.xml", NOW, WARNING_STATUS="解除"))
    # Only the thunderstorm advisory is left, which shows nothing by default: cleared.
    assert [d.cancel for d in jma_drafts(RULES, lifted, NOW)] == [True]


def test_unknown_jma_kinds_and_bad_fields_are_refused() -> None:
    data = doc("vxse51.xml", NOW)
    other = data.replace("<Title>震度速報</Title>".encode(), "<Title>噴火速報</Title>".encode(), 1)
    error = refused(other, jma=True)
    assert error.field == "Control/Title" and "噴火速報" in error.message
    assert refused(data.replace("通常".encode(), "本番".encode()), jma=True).field == (
        "Control/Status"
    )
    assert refused(data.replace("発表".encode(), "公表".encode()), jma=True).field == (
        "Head/InfoType"
    )
    assert refused(data.replace(b"<MaxInt>5+</MaxInt>", b"<MaxInt>8</MaxInt>"), jma=True).field
    no_event = data.replace(b"<EventID>20261202140000</EventID>", b"")
    assert refused(no_event, jma=True).field == "Head/EventID"
    cap = doc("cap_severe.xml", NOW)
    assert refused(cap, jma=True).field == "namespace"
    dtd = b'<?xml version="1.0"?><!DOCTYPE Report [<!ENTITY x "y">]><Report/>'
    assert refused(dtd, jma=True).field == "document"


# --- the rules file ----------------------------------------------------------------------


def test_rules_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(
        """
[cap]
default_hours = 2

[[cap.rules]]
severity = ["Extreme"]
urgency = ["Immediate"]
certainty = ["Observed"]
mode = "takeover"

[jma]
earthquake_minutes = 15

[[sites]]
code = "HQ"
municipality = "1310100"
earthquake_areas = ["350"]
seismic_takeover = "5+"
weather_warning = "none"
""",
        encoding="utf-8",
    )
    rules = load_rules(path)
    assert rules.cap_hours == 2 and len(rules.cap) == 1 and rules.earthquake_minutes == 15
    assert rules.sites[0].seismic_takeover == "5+" and rules.sites[0].weather_warning is None
    assert load_rules(None).cap == DEFAULT_CAP_RULES


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"sites": [{"code": "HQ", "seismic_takeover": "8"}]}, "sites[0].seismic_takeover"),
        ({"sites": [{"municipality": "1"}]}, "sites[0].code"),
        ({"sites": [{"code": "HQ", "colour": "red"}]}, "sites[0]: unknown key 'colour'"),
        ({"cap": {"rules": [{"severity": ["Big"], "urgency": ["Immediate"],
                             "certainty": ["Observed"], "mode": "takeover"}]}},
         "cap.rules[0].severity"),
        ({"cap": {"rules": [{"severity": ["Severe"], "urgency": ["Immediate"],
                             "certainty": ["Observed"], "mode": "loud"}]}}, "cap.rules[0].mode"),
        ({"jma": {"tsunami_hours": 0}}, "jma.tsunami_hours"),
        ({"sites": [{"code": "A"}, {"code": "A"}]}, "listed twice"),
        ({"colour": 1}, "unknown key 'colour'"),
    ],
)  # fmt: skip
def test_a_bad_rules_file_is_refused_naming_the_key(data: dict[str, object], key: str) -> None:
    with pytest.raises(RulesError) as caught:
        rules_from(data)
    assert key in str(caught.value)


def test_a_rules_file_that_is_not_toml(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text("[sites\n", encoding="utf-8")
    with pytest.raises(RulesError, match="not valid TOML"):
        load_rules(path)
    with pytest.raises(RulesError, match="cannot read"):
        load_rules(tmp_path / "missing.toml")
