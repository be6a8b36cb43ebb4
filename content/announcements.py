"""What a queue call says, in each language a site announces in.

A call is spoken in two parts: the number ("受付番号、エー、23番の方、") and where to go
("3番窓口へお越しください。"). The number part is prepared when the ticket is issued and
the counter part once per counter, so a call only puts ready clips in order and sounds
the moment its picture appears.
"""

from __future__ import annotations

from dataclasses import dataclass

# How Japanese says the letters of a ticket prefix.
_JA_LETTERS = {
    "A": "エー",
    "B": "ビー",
    "C": "シー",
    "D": "ディー",
    "E": "イー",
    "F": "エフ",
    "G": "ジー",
    "H": "エイチ",
    "I": "アイ",
    "J": "ジェー",
    "K": "ケー",
    "L": "エル",
    "M": "エム",
    "N": "エヌ",
    "O": "オー",
    "P": "ピー",
    "Q": "キュー",
    "R": "アール",
    "S": "エス",
    "T": "ティー",
    "U": "ユー",
    "V": "ブイ",
    "W": "ダブリュー",
    "X": "エックス",
    "Y": "ワイ",
    "Z": "ゼット",
}


@dataclass(frozen=True)
class Phrases:
    number: str  # "{prefix}" and "{number}"
    counter: str  # "{counter}"
    # The espeak-ng voice for languages without a better engine. None for Japanese:
    # espeak-ng's Japanese voice reads kana only and says every kanji as "Chinese letter".
    espeak_voice: str | None


# Languages a call can be announced in. Others are shown on screens but not spoken.
PHRASES: dict[str, Phrases] = {
    "ja": Phrases(
        "受付番号、{prefix}、{number}番の方、", "{counter}番窓口へお越しください。", None
    ),
    "en": Phrases("Ticket number {prefix} {number},", "please go to counter {counter}.", "en-us"),
    "zh-Hans": Phrases("请 {prefix} {number} 号,", "到 {counter} 号窗口。", "cmn"),
    "zh-Hant": Phrases("請 {prefix} {number} 號,", "到 {counter} 號窗口。", "cmn"),
    "ko": Phrases("{prefix} {number}번 고객님,", "{counter}번 창구로 와 주십시오.", "ko"),
    "pt": Phrases("Senha {prefix} {number},", "dirija-se ao guichê {counter}.", "pt-br"),
    "vi": Phrases("Mời số {prefix} {number},", "đến quầy số {counter}.", "vi"),
    "es": Phrases("Número {prefix} {number},", "pase a la ventanilla {counter}.", "es-419"),
    "id": Phrases("Nomor antrean {prefix} {number},", "silakan ke loket {counter}.", "id"),
    "th": Phrases("หมายเลข {prefix} {number}", "เชิญที่ช่องบริการ {counter}", "th"),
}


def spoken_prefix(prefix: str, language: str) -> str:
    if language == "ja":
        return "".join(_JA_LETTERS.get(letter, letter) for letter in prefix.upper())
    return " ".join(prefix.upper())


def number_part(language: str, prefix: str, number: int) -> str:
    """'ja', 'A', 23 -> '受付番号、エー、23番の方、' (numbers are said without leading 0s)."""
    phrases = PHRASES[language]
    return phrases.number.format(prefix=spoken_prefix(prefix, language), number=number)


def counter_part(language: str, counter: int) -> str:
    return PHRASES[language].counter.format(counter=counter)


def sentence(language: str, prefix: str, number: int, counter: int) -> str:
    """The whole call as text, for screens and for a browser's own voice."""
    gap = "" if language in {"ja", "zh-Hans", "zh-Hant"} else " "
    return f"{number_part(language, prefix, number)}{gap}{counter_part(language, counter)}"
