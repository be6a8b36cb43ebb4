"""The ready texts of manual alerts (content/alerts/templates.py)."""

from __future__ import annotations

import pytest

from content.alerts import templates
from content.alerts.model import Level, Mode, mode_for
from content.languages import LANGUAGES


def test_every_template_has_every_resident_language_and_easy_japanese() -> None:
    wanted = set(LANGUAGES) | {templates.EASY_JAPANESE}
    for template in templates.TEMPLATES.values():
        if template.key == templates.FREE_TEXT:
            continue
        assert set(template.phrases) == wanted, template.key
        for language, phrase in template.phrases.items():
            assert phrase.headline.strip() and phrase.body.strip(), (template.key, language)
            used = set(templates._PLACEHOLDER.findall(phrase.headline + phrase.body))
            assert used == set(template.needs), (template.key, language, used)


def test_fill_puts_values_in_once_in_order() -> None:
    texts = templates.fill(
        templates.TEMPLATES["fire"], {"floor": "3F", "place": "{place} hall"}, ["en", "vi", "ja"]
    )
    assert [t.language for t in texts] == ["ja", "en", "vi"]
    assert "3F" in texts[0].body and "{place} hall" in texts[1].body  # never read twice


def test_missing_value_names_the_field() -> None:
    with pytest.raises(templates.MissingValue) as caught:
        templates.fill(templates.TEMPLATES["fire"], {"floor": "3F", "place": "  "}, ["ja"])
    assert caught.value.field == "place"


def test_reviewed_languages_and_modes() -> None:
    earthquake = templates.TEMPLATES["earthquake"]
    assert earthquake.reviewed("ja-easy") and not earthquake.reviewed("vi")
    assert mode_for(Level.EXTREME) is Mode.TAKEOVER and mode_for(Level.MINOR) is Mode.BANNER


def test_free_text_keeps_only_written_languages() -> None:
    texts = templates.free_text({"en": ("Closed", "Back at 3"), "ja": ("休止", ""), "vi": ("", "")})
    assert [(t.language, t.headline) for t in texts] == [("ja", "休止"), ("en", "Closed")]
