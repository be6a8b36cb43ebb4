"""Staff UI languages: gettext catalogs (Babel .po files) loaded at start-up.

English strings are the message ids; `translations/ja/LC_MESSAGES/messages.po` holds the
Japanese. The catalogs are read straight from the .po files so there is no build step.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LANGUAGES = {"ja": "日本語", "en": "English"}


def N_(message: str) -> str:
    """Marks a message for extraction where it is defined; it is translated when shown."""
    return message


TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The catalog for `language`; English (the message ids) for unknown languages."""
    path = TRANSLATIONS_DIR / language / "LC_MESSAGES" / "messages.po"
    if language == "en" or not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def gettext_for(language: str) -> gettext.NullTranslations:
    return translations(language if language in LANGUAGES else "ja")
