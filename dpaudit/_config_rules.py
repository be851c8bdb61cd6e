"""The field rules of `dpaudit.config`: type coercion and range checks, one error type.

Each rule raises `_Invalid` naming the dotted field; `dpaudit.config` prefixes the file
or command-line option the value came from.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from dpaudit.errors import InputError

__all__: list[str] = []  # private helpers of dpaudit.config


class _Invalid(InputError):
    """A field broke its rule; the loader prefixes where the value came from."""

    def __init__(self, key: str, rule: str, value: Any = dataclasses.MISSING):
        self.key = key
        got = "" if value is dataclasses.MISSING else f", got {value!r}"
        super().__init__(f"field '{key}' {rule}{got}")


def _coerce(key: str, value: Any, kind: str) -> Any:
    optional = kind.endswith("?")
    kind = kind.rstrip("?")
    if value is None or (optional and isinstance(value, str) and value.lower() == "none"):
        if optional:
            return None
        raise _Invalid(key, "must be set", value)
    if kind == "int":
        if isinstance(value, float) and not math.isfinite(value):
            raise _Invalid(key, "must be an integer", value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            value = _parse(key, value, int, "an integer")
        return int(value)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            value = _parse(key, value, float, "a number")
        if not math.isfinite(value):
            raise _Invalid(key, "must be a finite number", value)
        return float(value)
    if kind == "bool":
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            raise _Invalid(key, "must be true or false", value)
        return value
    if kind == "str":
        if not isinstance(value, str):
            raise _Invalid(key, "must be a string", value)
        return value
    items = [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) \
        else value
    if not isinstance(items, (list, tuple)):
        raise _Invalid(key, "must be a list", value)
    item_kind = "int" if kind == "ints" else "str"
    return tuple(_coerce(key, v, item_kind) for v in items)


def _parse(key: str, value: Any, to: type, what: str) -> Any:
    if isinstance(value, str):
        try:
            return to(value)
        except ValueError:
            pass
    raise _Invalid(key, f"must be {what}", value)


def _at_least(key: str, value: int, low: int) -> None:
    if value < low:
        raise _Invalid(key, f"must be >= {low}", value)


def _positive(key: str, value: float) -> None:
    if not value > 0:
        raise _Invalid(key, "must be > 0", value)


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise _Invalid(key, f"must be one of {', '.join(choices)}", value)
