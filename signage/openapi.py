"""The integration API described by its own code: each `/api/v1/` view declares what it
takes and answers (`@operation(...)`, with `TypedDict` schemas next to the view), and
`document` turns the list of routes into an OpenAPI 3.1 document. The same declarations
check each request (`checked`): an unknown field, a missing one or a value of the wrong
type is refused (422) naming the field, so what the document says is what is enforced.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import (
    Annotated,
    Literal,
    TypeVar,
    Union,
    get_args,
    get_origin,
    get_type_hints,
    is_typeddict,
)

from starlette.routing import BaseRoute, Route

from signage.errors import ValidationFailed
from signage.i18n import N_

PREFIX = "/api/v1/"
JSON = dict[str, object]
F = TypeVar("F", bound=Callable[..., object])
T = TypeVar("T")

UNKNOWN_FIELD = N_("This field is not part of this request.")
WRONG_TYPE = N_("This value has the wrong type.")


@dataclass(frozen=True)
class Field:
    """Limits and a description of a value (`Annotated[str, Field(max_length=200)]`)."""

    description: str = ""
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    max_items: int | None = None


@dataclass(frozen=True)
class Operation:
    """What one view of the API does, takes and answers."""

    summary: str
    scopes: tuple[str, ...] = ()  # any one of them will do; () means no token needed
    body: object = None  # a TypedDict, or None
    query: object = None  # a TypedDict of text values, or None
    response: object = None  # what a success answers (a TypedDict or list[...])
    status: int = 200
    body_type: str = "application/json"  # the feeds take XML
    description: str = ""


def operation(**declared: typing.Any) -> Callable[[F], F]:
    """Declare a view's operation (outermost decorator): `@operation(summary=..., ...)`."""
    op = Operation(**declared)

    def mark(view: F) -> F:
        view.__openapi__ = op  # type: ignore[attr-defined]
        return view

    return mark


def operation_of(view: object) -> Operation | None:
    found = getattr(view, "__openapi__", None)
    return found if isinstance(found, Operation) else None


# --- checking a request against its declaration -----------------------------------------


def checked(hint: type[T], value: object) -> T:
    """`value` as the `TypedDict` `hint`, or ValidationFailed naming every wrong field."""
    errors: dict[str, str] = {}
    _check(value, hint, "", errors)
    if errors:
        raise ValidationFailed(errors)
    return typing.cast(T, value)


def _required(hint: object) -> frozenset[str]:
    """The keys a TypedDict requires, read from its hints (with postponed annotations,
    `__required_keys__` cannot see `NotRequired`)."""
    total = bool(getattr(hint, "__total__", True))
    keys = set()
    for key, value in get_type_hints(hint, include_extras=True).items():
        origin = get_origin(value)
        if origin is typing.Required or (total and origin is not typing.NotRequired):
            keys.add(key)
    return frozenset(keys)


def _unwrap(hint: object) -> tuple[object, Field]:
    while get_origin(hint) in (typing.NotRequired, typing.Required):
        (hint,) = get_args(hint)
    if get_origin(hint) is Annotated:
        base, *extra = get_args(hint)
        field = next((e for e in extra if isinstance(e, Field)), Field())
        return base, field
    return hint, Field()


def _check(value: object, hint: object, where: str, errors: dict[str, str]) -> None:
    hint, field = _unwrap(hint)
    origin = get_origin(hint)
    name = where or "body"
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        for option in options:
            trial: dict[str, str] = {}
            _check(value, option, where, trial)
            if not trial:
                return
        errors[name] = WRONG_TYPE
        return
    if hint is type(None):
        if value is not None:
            errors[name] = WRONG_TYPE
        return
    if origin is Literal:
        if value not in get_args(hint):
            errors[name] = N_("Choose one of the options.")
        return
    if is_typeddict(hint):
        if not isinstance(value, dict):
            errors[name] = WRONG_TYPE
            return
        hints = get_type_hints(hint, include_extras=True)
        for key in value:
            if key not in hints:
                errors[f"{where}.{key}" if where else str(key)] = UNKNOWN_FIELD
        for key, item_hint in hints.items():
            path = f"{where}.{key}" if where else key
            if key in value:
                _check(value[key], item_hint, path, errors)
            elif key in _required(hint):
                errors[path] = N_("This field is required.")
        return
    if origin is list:
        if not isinstance(value, list):
            errors[name] = WRONG_TYPE
            return
        if field.max_items is not None and len(value) > field.max_items:
            errors[name] = N_("This is too long.")
            return
        (item,) = get_args(hint)
        for index, element in enumerate(value):
            _check(element, item, f"{name}[{index}]", errors)
        return
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is str:
        ok = isinstance(value, str)
    else:
        raise TypeError(f"signage.openapi cannot check {hint!r}; teach it")
    if not ok:
        errors[name] = WRONG_TYPE
    elif isinstance(value, str) and field.max_length is not None and len(value) > field.max_length:
        errors[name] = N_("This is too long.")
    elif isinstance(value, str) and "\x00" in value:
        errors[name] = N_("This field contains characters that are not allowed.")
    elif isinstance(value, int) and not isinstance(value, bool):
        low = field.minimum if field.minimum is not None else -(2**31)
        high = field.maximum if field.maximum is not None else 2**31 - 1
        if not low <= value <= high:
            errors[name] = N_("This number is out of range.")


# --- the document -----------------------------------------------------------------------


class _Schemas:
    """JSON Schema (2020-12, as OpenAPI 3.1 uses it) of Python types; each TypedDict once,
    under components/schemas."""

    def __init__(self) -> None:
        self.components: dict[str, JSON] = {}

    def of(self, hint: object) -> JSON:
        hint, field = _unwrap(hint)
        schema = self._bare(hint)
        if field.description:
            schema = {**schema, "description": field.description}
        if field.max_length is not None:
            schema["maxLength"] = field.max_length
        if field.minimum is not None:
            schema["minimum"] = field.minimum
        if field.maximum is not None:
            schema["maximum"] = field.maximum
        if field.max_items is not None:
            schema["maxItems"] = field.max_items
        return schema

    def _bare(self, hint: object) -> JSON:
        if hint is object:
            return {}  # any JSON value
        origin = get_origin(hint)
        if origin in (Union, types.UnionType):
            return {"anyOf": [self.of(option) for option in get_args(hint)]}
        if origin is Literal:
            return {"enum": list(get_args(hint))}
        if origin is list:
            (item,) = get_args(hint)
            return {"type": "array", "items": self.of(item)}
        if origin is dict:
            _, item = get_args(hint)
            return {"type": "object", "additionalProperties": self.of(item)}
        if is_typeddict(hint):
            name = str(getattr(hint, "__name__", ""))
            if name not in self.components:
                self.components[name] = {}  # a type that names itself refers to itself
                hints = get_type_hints(hint, include_extras=True)
                schema: JSON = {
                    "type": "object",
                    "properties": {key: self.of(value) for key, value in hints.items()},
                    "additionalProperties": False,
                }
                required = sorted(_required(hint))
                if required:
                    schema["required"] = required
                if hint.__doc__:
                    schema["description"] = " ".join(hint.__doc__.split())
                self.components[name] = schema
            return {"$ref": f"#/components/schemas/{name}"}
        simple = {
            str: "string",
            int: "integer",
            bool: "boolean",
            float: "number",
            type(None): "null",
        }
        if isinstance(hint, type) and hint in simple:
            return {"type": simple[hint]}
        raise TypeError(f"signage.openapi has no schema for {hint!r}; teach it")


_PARAM = re.compile(r"\{([a-z_]+)(?::([a-z]+))?\}")


def _path_and_parameters(path: str) -> tuple[str, list[JSON]]:
    parameters: list[JSON] = []
    for name, convertor in _PARAM.findall(path):
        schema: JSON = (
            {"type": "integer", "minimum": 1, "maximum": 999_999_999}
            if convertor == "id"
            else {"type": "string"}
        )
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(r"{\1}", path), parameters


def _problem() -> JSON:
    return {
        "type": "object",
        "description": "RFC 9457 problem details (application/problem+json).",
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "error": {"type": "string", "description": "The same as detail."},
            "fields": {
                "type": "object",
                "additionalProperties": {"type": "string"},
                "description": "For 422: each field that was refused, with why.",
            },
        },
        "required": ["type", "title", "status", "detail"],
    }


ERRORS = {
    "400": "The body is not a JSON object.",
    "401": "The API token is missing, not valid or revoked.",
    "403": "The token does not have the scope this needs.",
    "404": "Nothing with this id in the token's sites.",
    "409": "The state does not allow it (e.g. an approved notice approved again).",
    "413": "The body is too large.",
    "422": "Unknown, missing or wrong fields (named in `fields`).",
}


def _operation(op: Operation, route: Route, method: str, schemas: _Schemas) -> JSON:
    _, parameters = _path_and_parameters(route.path)
    if op.query is not None:
        for key, value in get_type_hints(op.query, include_extras=True).items():
            parameters.append(
                {
                    "name": key,
                    "in": "query",
                    "required": key in _required(op.query),
                    "schema": schemas.of(value),
                }
            )
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: JSON = {}
    success: JSON = {"description": "Done."}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": schemas.of(op.response)}}
    responses[str(op.status)] = success
    for status, text in ERRORS.items():
        if status == "401" and not op.scopes:
            continue
        if status in ("400", "413", "422") and op.body is None and op.query is None:
            continue
        responses[status] = {"description": text, "content": problem}
    result: JSON = {
        "operationId": route.name if method in ("GET", "POST") else f"{route.name}_{method}",
        "summary": op.summary,
        "responses": responses,
    }
    description = op.description
    if op.scopes:
        needs = " or ".join(f"`{s}`" for s in op.scopes)
        description = (description + "\n\n" if description else "") + f"Scope: {needs}."
        result["security"] = [{"bearer": list(op.scopes)}]
    else:
        result["security"] = []
    if description:
        result["description"] = description
    if parameters:
        result["parameters"] = parameters
    if op.body is not None:
        body_schema = (
            schemas.of(op.body) if op.body_type == "application/json" else {"type": "string"}
        )
        result["requestBody"] = {
            "required": True,
            "content": {op.body_type: {"schema": body_schema}},
        }
    return result


def api_routes(routes: Iterable[BaseRoute]) -> list[Route]:
    return [r for r in routes if isinstance(r, Route) and r.path.startswith(PREFIX)]


def document(routes: Iterable[BaseRoute], version: str) -> JSON:
    """The OpenAPI 3.1 document of every `/api/v1/` route (each must declare its operation)."""
    schemas = _Schemas()
    paths: dict[str, dict[str, JSON]] = {}
    for route in api_routes(routes):
        op = operation_of(route.endpoint)
        if op is None:
            raise TypeError(f"{route.path} declares no operation (signage.openapi.operation)")
        path, _ = _path_and_parameters(route.path)
        for method in sorted((route.methods or set()) - {"HEAD"}):
            paths.setdefault(path, {})[method.lower()] = _operation(op, route, method, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "City Hall Signage integration API",
            "version": version,
            "description": "See docs/api.md: tokens, scopes, errors and examples.",
        },
        "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": {**schemas.components, "Problem": _problem()},
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token: Authorization: Bearer <token>.",
                }
            },
        },
    }


def query_of(params: Mapping[str, str]) -> dict[str, object]:
    """The query string as a dict (a repeated name is refused by its type)."""
    return dict(params.items())
