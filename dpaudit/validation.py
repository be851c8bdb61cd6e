"""Argument checks shared by dpaudit's public functions.

Each check raises `dpaudit.errors.InputError` with a message that names the argument
and the rule, e.g. ``"noise_multiplier must be non-negative, got -1.0"`` (the style of
dp_accounting's own messages), and returns the value converted to the checked type so
callers can write ``n = check_int("dataset_size", n, minimum=1)``. Booleans are never
accepted as numbers: ``True`` as a batch size is a bug, not a 1.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection

from dpaudit.errors import InputError

__all__ = ["check_choice", "check_in_open_interval", "check_int", "check_non_negative",
           "check_positive"]


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise InputError(f"{name} must be a number, got nan")
    return value


def check_positive(name: str, value: object, *, finite: bool = False) -> float:
    """Returns `value` as a float if it is > 0 (inf allowed unless `finite`)."""
    value = _real(name, value)
    if not value > 0:
        raise InputError(f"{name} must be positive, got {value!r}")
    if finite and math.isinf(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    return value


def check_non_negative(name: str, value: object, *, finite: bool = False) -> float:
    """Returns `value` as a float if it is >= 0 (inf allowed unless `finite`)."""
    value = _real(name, value)
    if not value >= 0:
        raise InputError(f"{name} must be non-negative, got {value!r}")
    if finite and math.isinf(value):
        raise InputError(f"{name} must be finite, got {value!r}")
    return value


def check_in_open_interval(name: str, value: object, low: float, high: float) -> float:
    """Returns `value` as a float if low < value < high, else raises InputError."""
    value = _real(name, value)
    if not low < value < high:
        raise InputError(f"{name} must be in ({low:g}, {high:g}), got {value!r}")
    return value


def check_int(name: str, value: object, *, minimum: int | None = None,
              maximum: int | None = None) -> int:
    """Returns `value` as an int if it is an integer within [minimum, maximum].

    Integral floats such as ``60000.0`` are accepted (they come out of config files);
    ``2.5`` is not.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, numbers.Integral):
        result = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        result = int(value)
    else:
        raise InputError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and result < minimum:
        rule = "positive" if minimum == 1 else (
            "non-negative" if minimum == 0 else f">= {minimum}")
        raise InputError(f"{name} must be {rule}, got {result}")
    if maximum is not None and result > maximum:
        raise InputError(f"{name} must be <= {maximum}, got {result}")
    return result


def check_choice(name: str, value: object, choices: Collection[str]) -> str:
    """Returns `value` if it is one of `choices`, else raises InputError."""
    if not isinstance(value, str) or value not in choices:
        allowed = ", ".join(repr(c) for c in choices)
        raise InputError(f"{name} must be one of {allowed}, got {value!r}")
    return value
