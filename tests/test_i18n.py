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


def test_every_pairing_help_names_the_page_the_staff_ui_has() -> None:
    """The screen, both players and the docs send staff to one place, in the UI's words."""
    fleet, pair = "Fleet", "Pair a screen"
    ja = gettext_for("ja")
    where_en = f"{fleet} → {pair}"
    where_ja = f"{ja.gettext(fleet)} → {ja.gettext(pair)}"
    root = PROJECT_ROOT
    texts = {
        name: (root / name).read_text(encoding="utf-8")
        for name in (
            "README.md",
            "docs/protocol.md",
            "signage/templates/player.html",
            "players/headless/frames.py",
            "players/headless/player.py",
        )
    }
    for name, text in texts.items():
        assert where_en in text, name
        assert "Screens → Pair" not in text and "画面 → 画面を登録" not in text, name
    for name in ("signage/templates/player.html", "players/headless/frames.py"):
        assert where_ja in texts[name], name
    # And the button is where it says.
    fleet_page = (root / "signage/templates/fleet.html").read_text(encoding="utf-8")
    assert '_("Pair a screen")' in fleet_page
