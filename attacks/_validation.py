"""Argument checks shared by the attacks package.

Every check raises `ValueError` (or `TypeError` for a wrong kind of object) with a
message that names the argument and the rule, e.g. ``"scores contains 3 NaN values
(first at index 7); every example needs a score"``, and returns the value converted so
callers can write ``scores = as_scores("scores", scores)``. This package cannot import
dpaudit, so the pipeline turns these ValueErrors into its own InputError.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "as_scores",
    "as_membership",
    "as_probs",
    "as_labels",
    "check_same_length",
    "check_probability",
    "check_seed",
    "check_int",
]

# Softmax outputs in float32 sum to 1 within ~1e-6; a looser tolerance still catches
# logits or unnormalised scores passed by mistake.
_PROB_SUM_TOLERANCE = 1e-3


def _real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if math.isnan(value):
        raise ValueError(f"{name} must be a number, got nan")
    return value


def check_probability(name: str, value: object, *, low_open: bool = False,
                      high_open: bool = False) -> float:
    """Returns `value` as a float in [0, 1] (ends excluded when asked), else raises."""
    value = _real(name, value)
    low_ok = value > 0 if low_open else value >= 0
    high_ok = value < 1 if high_open else value <= 1
    if not (low_ok and high_ok):
        interval = f"{'(' if low_open else '['}0, 1{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return value


def check_int(name: str, value: object, *, minimum: int | None = None) -> int:
    """Returns `value` as an int (integral numbers only, never bool) >= minimum."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_seed(name: str, value: object) -> int:
    """Returns a non-negative integer seed (what numpy's default_rng accepts)."""
    return check_int(name, value, minimum=0)


def as_scores(name: str, values: ArrayLike) -> np.ndarray:
    """A 1-D float64 array without NaN (infinities rank fine, so they are allowed)."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers: {exc}") from None
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one value per example), "
                         f"got shape {array.shape}")
    nan = np.isnan(array)
    if nan.any():
        raise ValueError(f"{name} contains {int(nan.sum())} NaN values (first at index "
                         f"{int(np.argmax(nan))}); every example needs a value")
    return array


def as_membership(name: str, values: ArrayLike) -> np.ndarray:
    """A 1-D bool array; accepts booleans or the integers/floats 0 and 1 only."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional (one flag per example), "
                         f"got shape {array.shape}")
    if array.dtype == np.bool_:
        return array.copy()
    if array.size and not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must hold booleans or 0/1, got dtype {array.dtype}")
    bad = ~np.isin(array, (0, 1))
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"{name} must hold booleans or 0/1, got {array[first].item()!r} at "
                         f"index {first}")
    return array.astype(bool)


def check_same_length(**arrays: np.ndarray) -> int:
    """Returns the common length of the arrays, or raises naming each length."""
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        names = list(lengths)
        joined = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
        raise ValueError(f"{joined} must have the same length "
                         f"(one entry per example): {listed}")
    return next(iter(lengths.values()))


def as_probs(name: str, values: ArrayLike) -> np.ndarray:
    """A (n, C) float64 array of class probabilities: finite, >= 0, rows summing to 1."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of probabilities: {exc}") from None
    if array.ndim != 2 or array.shape[1] < 2:
        raise ValueError(f"{name} must have shape (examples, classes) with at least 2 "
                         f"classes, got shape {array.shape}")
    finite = np.isfinite(array)
    if not finite.all():
        row = int(np.argmax(~finite.all(axis=1)))
        raise ValueError(f"{name} must be finite, got {array[row].tolist()} in row {row}")
    if (array < 0).any():
        row = int(np.argmax((array < 0).any(axis=1)))
        raise ValueError(f"{name} must be non-negative probabilities, got a negative "
                         f"value in row {row}; pass softmax outputs, not logits")
    sums = array.sum(axis=1)
    off = np.abs(sums - 1.0) > _PROB_SUM_TOLERANCE
    if off.any():
        row = int(np.argmax(off))
        raise ValueError(f"{name} rows must sum to 1, row {row} sums to {sums[row]:.6g}; "
                         "pass softmax probabilities, not logits")
    return array


def as_labels(name: str, values: ArrayLike, n_classes: int) -> np.ndarray:
    """Integer class labels in [0, n_classes); one-hot rows are converted by argmax."""
    array = np.asarray(values)
    if array.ndim == 2 and array.shape[1] == n_classes:
        return np.argmax(array, axis=1).astype(np.int64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be integer class labels of shape (examples,) or "
                         f"one-hot of shape (examples, {n_classes}), got shape "
                         f"{array.shape}")
    if array.size and not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be integer class labels, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.floating) and not np.isfinite(array).all():
        first = int(np.argmax(~np.isfinite(array)))
        raise ValueError(f"{name} must be integers in [0, {n_classes}), got "
                         f"{array[first].item()!r} at index {first}")
    as_int = array.astype(np.int64)
    bad = (as_int != array) | (as_int < 0) | (as_int >= n_classes)
    if bad.any():
        first = int(np.argmax(bad))
        raise ValueError(f"{name} must be integers in [0, {n_classes}), got "
                         f"{array[first].item()!r} at index {first}")
    return as_int
