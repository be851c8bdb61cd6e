"""Argument checks of dpaudit.dp, gathered in one place.

Every check raises `dpaudit.errors.InputError` (a `ValueError`) whose message names
the argument and the rule, e.g. ``"l2_norm_clip must be positive and finite, got -1.0"``,
and returns the value converted to the type the callers use.
"""

from __future__ import annotations

import math
import numbers

from dpaudit.errors import InputError

__all__ = ["check_clip", "check_noise", "check_microbatches", "check_positive_int",
           "check_seed", "check_microbatches_divide"]


def _real(name: str, value: object) -> float:
    # bool is an int subclass; True as a clip norm is a bug, not 1.0.
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    return float(value)


def check_clip(value: object, name: str = "l2_norm_clip") -> float:
    """l2_norm_clip: a positive finite float (a clip of 0 would zero every gradient)."""
    value = _real(name, value)
    if not (value > 0 and math.isfinite(value)):
        raise InputError(f"{name} must be positive and finite, got {value!r}")
    return value


def check_noise(value: object, name: str = "noise_multiplier") -> float:
    """noise_multiplier: a non-negative finite float (0 means no privacy, allowed for tests)."""
    value = _real(name, value)
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
