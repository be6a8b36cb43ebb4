"""Notices: text in several languages with a small, safe formatting language.

Staff write plain text. Three things are formatted: `**bold**`, lists (lines starting with
"- ", "・" or "1. "), and line breaks (a blank line starts a new paragraph). HTML tags and
template syntax are refused outright, so nothing a person types can become markup.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from enum import StrEnum

from content import N_


class NoticeStyle(StrEnum):
    NORMAL = "normal"
    IMPORTANT = "important"
    CLOSURE = "closure"


class NoticeStatus(StrEnum):
    DRAFT = "draft"
    PENDING = "pending"  # waiting for a publisher
    APPROVED = "approved"
    REJECTED = "rejected"


TITLE_MAX = 120
BODY_MAX = 2000
# An HTML tag, comment or doctype, and the template syntaxes of common engines.
_MARKUP = re.compile(r"<\s*[a-zA-Z/!?]")
_TEMPLATE = re.compile(r"\{\{|\{%|\{#|\$\{|<%")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_BOLD = re.compile(r"\*\*(.+?)\*\*")
_BULLET = re.compile(r"^\s*(?:[-・*•])\s+(.*)$")
_NUMBERED = re.compile(r"^\s*\d{1,3}[.)．]\s+(.*)$")


@dataclass(frozen=True)
class NoticeText:
    language: str
    title: str
    body: str


def text_problem(text: str) -> str | None:
    """Why this title or body cannot be accepted (an English sentence), or None."""
    if _MARKUP.search(text):
        return N_(
            "HTML tags are not allowed. Use **bold**, lines starting with - for lists, "
            "and line breaks."
        )
    if _TEMPLATE.search(text):
        return N_("Template syntax such as {{ }} or {% %} is not allowed.")
    if _CONTROL.search(text):
        return N_("This text contains invisible control characters. Type it again.")
    return None


def validate_texts(texts: list[NoticeText]) -> dict[str, str]:
    """Errors keyed by form field (`title_<lang>`, `body_<lang>`, or `texts`)."""
    errors: dict[str, str] = {}
    if not any(t.title.strip() for t in texts):
        errors["texts"] = N_("Write a title in at least one language.")
    for text in texts:
        for field, value, limit in (
            ("title", text.title, TITLE_MAX),
            ("body", text.body, BODY_MAX),
        ):
            key = f"{field}_{text.language}"
            problem = text_problem(value)
            if problem:
                errors[key] = problem
            elif len(value) > limit:
                errors[key] = N_("This is too long.")
        if text.body.strip() and not text.title.strip():
            errors[f"title_{text.language}"] = N_("A text in this language needs a title too.")
    return errors


def _inline(line: str) -> str:
    return _BOLD.sub(r"<strong>\1</strong>", html.escape(line, quote=True))


def render_body(body: str) -> str:
    """Safe HTML for a notice body: only <p>, <br>, <strong>, <ul>, <ol> and <li>."""
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""

    def flush_paragraph() -> None:
        if paragraph:
            blocks.append("<p>" + "<br>".join(paragraph) + "</p>")
            paragraph.clear()

    def flush_list() -> None:
        nonlocal list_tag
        if items:
            blocks.append(
                f"<{list_tag}>" + "".join(f"<li>{i}</li>" for i in items) + f"</{list_tag}>"
            )
            items.clear()
        list_tag = ""

    for raw in body.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        bullet, numbered = _BULLET.match(raw), _NUMBERED.match(raw)
        match, tag = (bullet, "ul") if bullet else (numbered, "ol")
        if match:
            flush_paragraph()
            if list_tag and list_tag != tag:
                flush_list()
            list_tag = tag
            items.append(_inline(match.group(1)))
        elif not raw.strip():
            flush_paragraph()
            flush_list()
        else:
            flush_list()
            paragraph.append(_inline(raw.strip()))
    flush_paragraph()
    flush_list()
    return "".join(blocks)
