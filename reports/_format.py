"""Number and value formatting for the report: NaN and None read "n/a", never "nan"."""

from __future__ import annotations

import math
from typing import Any, Iterator, Mapping

__all__ = ["NA", "num", "pct", "delta", "interval", "value", "flatten", "tpr_at",
           "finite"]

NA = "n/a"
# Lists longer than this show their first _LIST_HEAD items and their length.
_MAX_LIST = 12
_LIST_HEAD = 8


def finite(x: Any) -> bool:
    """True for a real, finite number (bools excluded)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def num(x: Any, digits: int = 3) -> str:
    """A number with `digits` decimals; "n/a" for NaN, None or non-numbers."""
    if not finite(x):
        return NA
    return f"{x:.{digits}f}"


def pct(x: Any, digits: int = 1) -> str:
    """0.123 -> "12.3%"."""
    if not finite(x):
        return NA
    return f"{100 * x:.{digits}f}%"


def delta(x: Any) -> str:
    """1e-05 -> "1e-5"; 2.5e-06 -> "2.5e-6"; values >= 0.01 as plain decimals."""
    if not finite(x):
        return NA
    if x == 0 or abs(x) >= 0.01:
        return f"{x:.2g}"
    mantissa, exponent = f"{x:.1e}".split("e")
    mantissa = mantissa.removesuffix(".0")
    return f"{mantissa}e{int(exponent)}"


def interval(ci: Any, digits: int = 3) -> str:
    """(lo, hi) -> "[0.512, 0.601]"; "n/a" when either end is missing."""
    try:
        lo, hi = ci
    except (TypeError, ValueError):
        return NA
    if not (finite(lo) and finite(hi)):
        return NA
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def value(x: Any) -> str:
    """Any config/environment value as short text (numbers compact, NaN "n/a")."""
    if x is None:
        return NA
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return f"{x:.6g}" if math.isfinite(x) else NA
    if isinstance(x, (list, tuple)):
        if len(x) > _MAX_LIST:  # e.g. the ids of every member: keep the page readable
            head = ", ".join(value(v) for v in x[:_LIST_HEAD])
            return f"{head}, … ({len(x)} values)"
        return ", ".join(value(v) for v in x) if x else "[]"
    return str(x)


def flatten(mapping: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Nested mappings as ("a.b.c", text) pairs, in their stored order."""
    if not isinstance(mapping, Mapping):
        return
    for key, item in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(item, Mapping) and item:
            yield from flatten(item, name + ".")
        else:
            yield name, value(item)


def tpr_at(tpr_at_fpr: Mapping[str, float], fpr: float) -> float:
    """The TPR stored for `fpr`, whatever the key spelling ("0.01", "0.010", "1e-2")."""
    for key, tpr in tpr_at_fpr.items():
        try:
            if math.isclose(float(key), fpr, rel_tol=1e-9):
                return tpr
        except (TypeError, ValueError):
            continue
    return math.nan
