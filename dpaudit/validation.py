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

__all__ = ["check_choice", "check_clip", "check_in_open_interval", "check_int",
           "check_microbatches", "check_microbatches_divide", "check_noise",
           "check_non_negative", "check_positive", "check_positive_int", "check_seed"]


def _number(name: str, value: object) -> float:
    # bool is an int subclass; True as a clip norm is a bug, not 1.0.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    return float(value)


def _real(name: str, value: object) -> float:
    value = _number(name, value)
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


# --- DP-SGD's arguments (TF Privacy's names) -------------------------------------------

def check_clip(value: object, name: str = "l2_norm_clip") -> float:
    """l2_norm_clip: a positive finite float (a clip of 0 would zero every gradient)."""
    value = _number(name, value)
    if not (value > 0 and math.isfinite(value)):
        raise InputError(f"{name} must be positive and finite, got {value!r}")
    return value


def check_noise(value: object, name: str = "noise_multiplier") -> float:
    """noise_multiplier: a non-negative finite float (0 means no privacy, allowed for tests)."""
    value = _number(name, value)
    if not (value >= 0 and math.isfinite(value)):
        raise InputError(f"{name} must be non-negative and finite, got {value!r}")
    return value


def check_positive_int(value: object, name: str) -> int:
    """A positive int (numpy integers accepted, bools and floats refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be a positive integer, got {value!r}")
    if int(value) <= 0:
        raise InputError(f"{name} must be a positive integer, got {int(value)}")
    return int(value)


def check_microbatches(value: object) -> int | None:
    """num_microbatches: None (per-example clipping) or a positive int."""
    if value is None:
        return None
    return check_positive_int(value, "num_microbatches")


def check_microbatches_divide(batch_size: int, num_microbatches: int | None,
                              what: str = "batch size") -> None:
    """TF Privacy's rule: each batch splits into equal microbatches."""
    if num_microbatches is not None and batch_size % num_microbatches:
        raise InputError(f"num_microbatches={num_microbatches} must divide the {what}, "
                         f"got {what} {batch_size}")


def check_seed(value: object, name: str = "seed") -> int | None:
    """A seed: None or a non-negative int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 0:
        raise InputError(f"{name} must be None or a non-negative integer, got {value!r}")
    return int(value)
