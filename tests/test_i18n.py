from __future__ import annotations

from babel.messages.extract import extract_from_dir

from signage.i18n import gettext_for
from signage.settings import PROJECT_ROOT


def _messages() -> set[str]:
    method_map = [
        ("signage/**.py", "python"),
        ("content/**.py", "python"),
        ("signage/templates/**.html", "jinja2"),
    ]
    found = extract_from_dir(
        str(PROJECT_ROOT), method_map, keywords={"_": None, "N_": None, "MediaRejected": None}
    )
    return {message for _, _, message, _, _ in found if isinstance(message, str)}


def test_every_message_has_a_japanese_translation() -> None:
    ja = gettext_for("ja")
    messages = _messages()
    assert len(messages) > 50
    untranslated = sorted(m for m in messages if ja.gettext(m) == m)
    assert not untranslated, "run scripts/i18n after adding to scripts/ja_messages.py"


def test_placeholders_survive_translation() -> None:
    ja = gettext_for("ja")
    for message in _messages():
        if "%(" in message:
            translated = ja.gettext(message)
            params = {part.split(")")[0]: "X" for part in message.split("%(")[1:]}
            assert translated % params  # raises KeyError if a placeholder was lost


def test_english_is_the_message_itself() -> None:
    assert gettext_for("en").gettext("Log in") == "Log in"
    assert gettext_for("ja").gettext("Log in") == "ログイン"
