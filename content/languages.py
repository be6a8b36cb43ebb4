"""Languages that notices and screens can be shown in (residents' languages)."""

from __future__ import annotations

# BCP 47 code -> name in that language, in the order offered to staff.
LANGUAGES: dict[str, str] = {
    "ja": "日本語",
    "en": "English",
    "zh-Hans": "简体中文",
    "zh-Hant": "繁體中文",
    "ko": "한국어",
    "pt": "Português",
    "vi": "Tiếng Việt",
    "es": "Español",
    "tl": "Tagalog",
    "ne": "नेपाली",
    "id": "Bahasa Indonesia",
    "th": "ไทย",
    "my": "မြန်မာ",
}


def parse_language_list(raw: str) -> list[str]:
    """Split "ja, en,vi" into known codes in the given order; raises ValueError otherwise."""
    codes: list[str] = []
    for part in raw.replace("、", ",").split(","):
        code = part.strip()
        if not code:
            continue
        if code not in LANGUAGES:
            raise ValueError(f"unknown language code {code!r}")
        if code not in codes:
            codes.append(code)
    if not codes:
        raise ValueError("choose at least one language")
    return codes
