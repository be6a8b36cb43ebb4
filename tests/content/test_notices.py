from __future__ import annotations

import pytest

from content.notices import NoticeText, render_body, text_problem, validate_texts


def test_formatting_subset() -> None:
    body = (
        "受付時間のお知らせ\n**9時から**開庁します\n\n"
        "- 住民票\n- 印鑑証明\n1. 番号札を取る\n2. お待ちください"
    )
    assert render_body(body) == (
        "<p>受付時間のお知らせ<br><strong>9時から</strong>開庁します</p>"
        "<ul><li>住民票</li><li>印鑑証明</li></ul>"
        "<ol><li>番号札を取る</li><li>お待ちください</li></ol>"
    )


def test_everything_else_is_escaped() -> None:
    assert render_body('a & b "c" > d') == "<p>a &amp; b &quot;c&quot; &gt; d</p>"
    assert render_body("**<b>**") == "<p><strong>&lt;b&gt;</strong></p>"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<script>alert(1)</script>", "HTML tags"),
        ("<img src=x onerror=alert(1)>", "HTML tags"),
        ("<!-- hi -->", "HTML tags"),
        ("{{ 7*7 }}", "Template syntax"),
        ("{% include 'x' %}", "Template syntax"),
        ("${7*7}", "Template syntax"),
        ("abc\u202edef", "control characters"),
        ("nul\x00here", "control characters"),
    ],
)
def test_markup_and_template_syntax_are_refused(text: str, expected: str) -> None:
    problem = text_problem(text)
    assert problem is not None and expected in problem


def test_plain_comparisons_are_fine() -> None:
    assert text_problem("3 < 5 and 5 > 3, 50% off {sale}") is None


def test_validate_texts() -> None:
    assert validate_texts([NoticeText("ja", "", "")]) == {
        "texts": "Write a title in at least one language."
    }
    errors = validate_texts(
        [NoticeText("ja", "お知らせ", "x" * 2001), NoticeText("en", "", "Body without title")]
    )
    assert errors == {
        "body_ja": "This is too long.",
        "title_en": "A text in this language needs a title too.",
    }
    assert (
        validate_texts([NoticeText("ja", "お知らせ", "本文"), NoticeText("en", "Notice", "")]) == {}
    )
