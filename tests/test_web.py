"""`web.render`: a block rendered alone for htmx sees what its whole page defines."""

from __future__ import annotations

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from signage.web import render

PAGE = """{% extends "base.html" %}
{% from "_forms.html" import form_errors with context %}
{% import "_forms.html" as forms with context %}
{% set greeting = _("Save") %}
{% macro shout(text) %}<b>{{ text }}</b>{% endmacro %}
{% block content %}
{% block part %}<div id="part">{{ form_errors({"x": "y"}) }}
{{ forms.field("name", "Name") }}{{ shout(greeting) }}</div>{% endblock %}
{% endblock %}"""


async def _page(request: Request) -> Response:
    return render(request, "test_page.html", block="part")


def test_a_block_alone_sees_the_pages_imports_macros_and_variables(client: TestClient) -> None:
    app = client.app
    env: jinja2.Environment = app.state.templates  # type: ignore[attr-defined]
    assert env.loader is not None
    env.loader = jinja2.ChoiceLoader([jinja2.DictLoader({"test_page.html": PAGE}), env.loader])
    app.router.routes.append(Route("/test-page", _page))  # type: ignore[attr-defined]

    fragment = client.get("/test-page", headers={"HX-Request": "true"})
    assert fragment.status_code == 200, fragment.text
    assert fragment.text.startswith('<div id="part">'), fragment.text[:200]
    assert 'class="banner error"' in fragment.text and 'name="name"' in fragment.text
    assert "<b>保存</b>" in fragment.text or "<b>Save</b>" in fragment.text

    page = client.get("/test-page")
    assert "<html" in page.text and '<div id="part">' in page.text
