"""Checks that a JSON value is exactly one of the protocol's types (content/protocol.py):
every required key, no key the type does not name, each value of its declared type."""

from __future__ import annotations

import types
import typing
from typing import Literal, Union, get_args, get_origin, get_type_hints, is_typeddict


class Mismatch(AssertionError):
    pass


def conforms(value: object, hint: object, where: str = "message") -> None:
    """Raise `Mismatch` (an AssertionError) where `value` is not of type `hint`."""
    origin = get_origin(hint)
    if hint is typing.Any or hint is object:
        return
    if hint is type(None) or hint is None:
        if value is not None:
            raise Mismatch(f"{where}: {value!r} is not null")
        return
    if origin in (Union, types.UnionType):
        failures = []
        for option in get_args(hint):
            try:
                conforms(value, option, where)
                return
            except Mismatch as failure:
                failures.append(str(failure))
        raise Mismatch(f"{where}: matches none of {hint}: " + "; ".join(failures))
    if origin is Literal:
        if value not in get_args(hint):
            raise Mismatch(f"{where}: {value!r} is not one of {get_args(hint)}")
        return
    if is_typeddict(hint):
        _typeddict(value, hint, where)
        return
    if origin is list:
        if not isinstance(value, list):
            raise Mismatch(f"{where}: {value!r} is not a list")
        (item,) = get_args(hint)
        for index, element in enumerate(value):
            conforms(element, item, f"{where}[{index}]")
        return
    if origin is dict:
        if not isinstance(value, dict):
            raise Mismatch(f"{where}: {value!r} is not an object")
        key_type, item = get_args(hint)
        for key, element in value.items():
            conforms(key, key_type, f"{where} key")
            conforms(element, item, f"{where}[{key!r}]")
        return
    if hint is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(hint, type):
        ok = isinstance(value, hint)
    else:
        raise TypeError(f"cannot check {hint!r}")
    if not ok:
        raise Mismatch(f"{where}: {value!r} is not {getattr(hint, '__name__', hint)}")


def _typeddict(value: object, hint: typing.Any, where: str) -> None:
    if not isinstance(value, dict):
        raise Mismatch(f"{where}: {value!r} is not an object")
    fields = get_type_hints(hint)
    missing = hint.__required_keys__ - value.keys()
    extra = value.keys() - fields.keys()
    if missing or extra:
        raise Mismatch(
            f"{where} ({hint.__name__}): missing {sorted(missing)}, extra {sorted(extra)}"
        )
    for key, element in value.items():
        conforms(element, fields[key], f"{where}.{key}")
