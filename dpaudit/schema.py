"""Validation of a results.json against its schema, before any field is read.

`dpaudit gate` and `dpaudit report` read results through `dpaudit.results.load_results`,
which calls `validate_results` first: a corrupted or hand-edited file (an AUC of -5, a
number written as a string, a test accuracy of 3.0, `schema_version: true`, an integer
too large for a float) is refused with an InputError naming the field, e.g.
``results.json: field 'arms[1].attacks[0].auc' must be a number in [0, 1] or null, got -5``,
so a gate never passes on evidence it could not have read correctly.

What is accepted:
  * Missing optional fields (the old minimal layout: an arm with only `name` and `attacks`,
    an attack with only `name` and `auc`) and `null` for any metric (not measured).
  * Numbers: JSON numbers only (never strings or booleans), finite, inside the field's range.
  * Theoretical epsilons (`epsilon_rdp`, `epsilon_pld`, `epsilon_per_epoch`) and empirical
    `epsilon_lower_bound`: also +infinity, written either as the string "Infinity" or as the
    non-standard JSON token `Infinity`; `null` still means "no DP" / "not computed".
    "-Infinity" and "NaN" (string or token) are refused everywhere.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from dpaudit.errors import InputError

__all__ = ["validate_results", "INFINITY_STRINGS"]

# How a positive infinity may be spelled in results.json besides the token `Infinity`.
INFINITY_STRINGS = frozenset({"Infinity", "inf", "+Infinity"})
# Counts beyond this are not exactly representable as floats: no real audit has them.
_MAX_COUNT = 2 ** 53
_SAMPLINGS = ("poisson", "shuffle")

_Check = Callable[[Any, str], None]


def validate_results(raw: Mapping[str, Any], source: str,
                     known_versions: tuple[int, ...]) -> None:
    """Raises InputError naming `source` and the first bad field of `raw`.

    Args:
      raw: the parsed JSON object.
      source: the file name, for messages.
      known_versions: the schema versions this dpaudit can read.
    """
    if "arms" not in raw:
        raise InputError(f"{source}: not a dpaudit results file (field 'arms' is required)")
    try:
        _validate(raw, known_versions)
    except _Bad as e:
        raise InputError(f"{source}: field {e.field!r} {e.expected}, got {_show(e.value)}") \
            from None


class _Bad(Exception):
    def __init__(self, field: str, expected: str, value: Any) -> None:
        super().__init__(field)
        self.field, self.expected, self.value = field, expected, value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validate(raw: Mapping[str, Any], known_versions: tuple[int, ...]) -> None:
    version = raw.get("schema_version")
    if isinstance(version, bool) or not isinstance(version, int) \
            or version not in known_versions:
        raise _Bad("schema_version", f"must be one of {list(known_versions)}", version)
    for key in ("config", "environment", "data", "timings"):
        _optional(raw.get(key), key, _object)
    if "timings" in raw and isinstance(raw.get("timings"), Mapping):
        for name, value in raw["timings"].items():
            _number(value, f"timings.{name}", low=0.0)
    verdict = raw.get("verdict")
    _optional(verdict, "verdict", _object)
    arms = raw["arms"]
    _list(arms, "arms")
    for i, arm in enumerate(arms):
        _arm(arm, f"arms[{i}]")


def _arm(arm: Any, where: str) -> None:
    _object(arm, where)
    _string(arm.get("name"), f"{where}.name")
    utility = arm.get("utility")
    _optional(utility, f"{where}.utility", _object)
    if utility is not None:
        for key in ("train_accuracy", "test_accuracy"):
            _number(utility.get(key), f"{where}.utility.{key}", low=0.0, high=1.0)
        for key in ("train_loss", "test_loss"):
            _number(utility.get(key), f"{where}.utility.{key}", low=0.0)
    privacy = arm.get("privacy")
    _optional(privacy, f"{where}.privacy", _object)
    if privacy is not None:
        _privacy(privacy, f"{where}.privacy")
    attacks = arm.get("attacks")
    _optional(attacks, f"{where}.attacks", _list)
    for j, attack in enumerate(attacks or ()):
        _attack(attack, f"{where}.attacks[{j}]")
    history = arm.get("history")
    _optional(history, f"{where}.history", _object)
    for key, values in (history or {}).items():
        _numbers(values, f"{where}.history.{key}")


def _privacy(p: Mapping[str, Any], where: str) -> None:
    _number(p.get("noise_multiplier"), f"{where}.noise_multiplier", low=0.0)
    _number(p.get("l2_norm_clip"), f"{where}.l2_norm_clip", low=0.0, low_open=True)
    _count(p.get("num_microbatches"), f"{where}.num_microbatches", low=1)
    if "batch_size" not in p:
        raise _Bad(f"{where}.batch_size", "is required (a whole number >= 1)", None)
    _count(p["batch_size"], f"{where}.batch_size", low=1, nullable=False)
    sampling = p.get("sampling")
    if sampling is not None and sampling not in _SAMPLINGS:
        raise _Bad(f"{where}.sampling", f"must be one of {list(_SAMPLINGS)}", sampling)
    _count(p.get("steps"), f"{where}.steps", low=0)
    _number(p.get("epochs"), f"{where}.epochs", low=0.0)
    _count(p.get("dataset_size"), f"{where}.dataset_size", low=0)
    _number(p.get("delta"), f"{where}.delta", low=0.0, high=1.0, low_open=True)
    for key in ("epsilon_rdp", "epsilon_pld"):
        _number(p.get(key), f"{where}.{key}", low=0.0, infinite=True)
    _numbers(p.get("epsilon_per_epoch"), f"{where}.epsilon_per_epoch", low=0.0, infinite=True)
    _optional(p.get("accounting_note"), f"{where}.accounting_note", _string)


def _attack(a: Any, where: str) -> None:
    _object(a, where)
    _string(a.get("name"), f"{where}.name")
    if "auc" not in a:
        raise _Bad(f"{where}.auc", "is required (a number in [0, 1] or null)", None)
    _number(a["auc"], f"{where}.auc", low=0.0, high=1.0)
    ci = a.get("auc_ci")
    if ci is not None:
        if not isinstance(ci, list) or len(ci) != 2:
            raise _Bad(f"{where}.auc_ci", "must be a [low, high] pair", ci)
        for k, value in enumerate(ci):
            _number(value, f"{where}.auc_ci[{k}]", low=0.0, high=1.0)
    _number(a.get("advantage"), f"{where}.advantage", low=-1.0, high=1.0)
    tpr = a.get("tpr_at_fpr")
    _optional(tpr, f"{where}.tpr_at_fpr", _object)
    for level, value in (tpr or {}).items():
        _number(value, f"{where}.tpr_at_fpr.{level}", low=0.0, high=1.0)
    _number(a.get("epsilon_lower_bound"), f"{where}.epsilon_lower_bound", infinite=True)
    _number(a.get("confidence"), f"{where}.confidence", low=0.0, high=1.0)
    _count(a.get("n_members"), f"{where}.n_members", low=0)
    _count(a.get("n_nonmembers"), f"{where}.n_nonmembers", low=0)
    _number(a.get("delta"), f"{where}.delta", low=0.0, high=1.0)
    roc = a.get("roc")
    _optional(roc, f"{where}.roc", _object)
    for key, values in (roc or {}).items():
        _numbers(values, f"{where}.roc.{key}", low=0.0, high=1.0)
    per_class = a.get("per_class_auc")
    _optional(per_class, f"{where}.per_class_auc", _object)
    for label, value in (per_class or {}).items():
        _number(value, f"{where}.per_class_auc.{label}", low=0.0, high=1.0)
    _optional(a.get("top_exposed"), f"{where}.top_exposed", _list)
    histogram = a.get("score_histogram")
    _optional(histogram, f"{where}.score_histogram", _object)
    for key, values in (histogram or {}).items():
        _numbers(values, f"{where}.score_histogram.{key}")
    _optional(a.get("details"), f"{where}.details", _object)
    _optional(a.get("epsilon_lower_bound_method"), f"{where}.epsilon_lower_bound_method",
              _string)


# --- leaf checks --------------------------------------------------------------------

def _optional(value: Any, where: str, check: _Check) -> None:
    if value is not None:
        check(value, where)


def _object(value: Any, where: str) -> None:
    if not isinstance(value, Mapping):
        raise _Bad(where, "must be a JSON object", value)


def _list(value: Any, where: str) -> None:
    if not isinstance(value, list):
        raise _Bad(where, "must be a JSON list", value)


def _string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _Bad(where, "must be a string", value)


def _number(value: Any, where: str, *, low: float = -math.inf, high: float = math.inf,
            low_open: bool = False, infinite: bool = False) -> None:
    """`value` is null, or a finite JSON number in range (or +inf where `infinite`)."""
    if value is None:
        return
    expected = _range_text(low, high, low_open, infinite)
    if infinite and isinstance(value, str) and value in INFINITY_STRINGS:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad(where, expected, value)
    try:
        number = float(value)
    except OverflowError:
        raise _Bad(where, expected, value) from None
    if math.isnan(number):
        raise _Bad(where, expected, value)
    if math.isinf(number):
        if infinite and number > 0:
            return
        raise _Bad(where, expected, value)
    if number < low or number > high or (low_open and number == low):
        raise _Bad(where, expected, value)


def _range_text(low: float, high: float, low_open: bool, infinite: bool) -> str:
    if math.isinf(low) and math.isinf(high):
        what = "a finite number"
    elif math.isinf(high):
        what = f"a number {'>' if low_open else '>='} {low:g}"
    else:
        what = f"a number in {'(' if low_open else '['}{low:g}, {high:g}]"
    extra = ', "Infinity"' if infinite else ""
    return f"must be {what}{extra} or null"


def _numbers(values: Any, where: str, **limits: Any) -> None:
    if values is None:
        return
    _list(values, where)
    for k, value in enumerate(values):
        _number(value, f"{where}[{k}]", **limits)


def _count(value: Any, where: str, *, low: int, nullable: bool = True) -> None:
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= _MAX_COUNT:
        # JSON writers may emit 64.0 for a count; accept whole floats, nothing else.
        if isinstance(value, float) and value.is_integer() and low <= value <= _MAX_COUNT:
            return
        raise _Bad(where, f"must be a whole number >= {low}", value)
