"""The words of alerts built from JMA's structured fields, in each language we write.

Written by people, never machine-translated: Japanese (ja), English (en) and easy Japanese
(ja-easy, やさしい日本語). A phrase is a `str.format` template; `phrase(key, language,
**fields)` fills it in. Other residents' languages have no JMA phrases yet, so their screens
show the languages above in turn.
"""

from __future__ import annotations

LANGUAGES = ("ja", "en", "ja-easy")

PHRASES: dict[str, dict[str, str]] = {
    "earthquake_city": {
        "ja": "震度{intensity_ja}の地震がありました（市内）",
        "en": "An earthquake of seismic intensity {intensity} was observed in the city",
        "ja-easy": "おおきな じしんが ありました（しんど{intensity_ja}）",
    },
    "earthquake_area": {
        "ja": "震度{intensity_ja}の地震がありました（{area}）",
        "en": "An earthquake of seismic intensity {intensity} was observed in this area",
        "ja-easy": "おおきな じしんが ありました（しんど{intensity_ja}）",
    },
    "earthquake_body": {
        "ja": "身の安全を確保してください。落下物や窓ガラスから離れ、係員の指示に従ってください。",
        "en": "Protect yourself. Keep away from windows and falling objects, "
        "and follow the staff's instructions.",
        "ja-easy": "あたまを まもって ください。まどから はなれて ください。"
        "しょくいんの はなしを きいて ください。",
    },
    "tsunami_major": {
        "ja": "大津波警報が発表されました",
        "en": "Major tsunami warning",
        "ja-easy": "とても おおきな つなみが きます",
    },
    "tsunami_warning": {
        "ja": "津波警報が発表されました",
        "en": "Tsunami warning",
        "ja-easy": "つなみが きます",
    },
    "tsunami_advisory": {
        "ja": "津波注意報が発表されました",
        "en": "Tsunami advisory",
        "ja-easy": "つなみに きを つけて ください",
    },
    "tsunami_body": {
        "ja": "海岸や川の河口から離れ、すぐに高い所へ避難してください。",
        "en": "Leave the coast and river mouths and move to high ground now.",
        "ja-easy": "うみや かわから はなれて ください。すぐ たかい ところへ にげて ください。",
    },
    "weather_emergency": {
        "ja": "特別警報が発表されています（市内）",
        "en": "An emergency weather warning is in force for the city",
        "ja-easy": "とても あぶない てんきです。いのちを まもって ください",
    },
    "weather_warning": {
        "ja": "警報が発表されています（市内）",
        "en": "A weather warning is in force for the city",
        "ja-easy": "あぶない てんきです。きを つけて ください",
    },
    "weather_advisory": {
        "ja": "注意報が発表されています（市内）",
        "en": "A weather advisory is in force for the city",
        "ja-easy": "てんきに きを つけて ください",
    },
    "weather_body": {
        "ja": "{names}",
        "en": "Follow the staff's instructions and the city's evacuation information.",
        "ja-easy": "しょくいんの はなしを きいて ください。",
    },
}

_INTENSITY_JA = {"5-": "5弱", "5+": "5強", "6-": "6弱", "6+": "6強"}


def intensity_ja(intensity: str) -> str:
    """JMA's seismic intensity class as written in Japanese ("5-" → "5弱")."""
    return _INTENSITY_JA.get(intensity, intensity)


def phrase(key: str, language: str, **fields: str) -> str:
    return PHRASES[key][language].format(**fields)
