"""Gate policies: which limits apply to which arm, read from TOML or command-line options.

Private module; `dpaudit.gate.verdict` re-exports the public names. No TensorFlow here.

A policy file (see examples/policy.toml)::

    allow_contradiction = false   # optional; true turns the always-on DP consistency check off
    require_conclusive = true     # optional; fail when the audit could not have refuted
                                  # the claimed epsilon (its ceiling is at or below it)

    [all]                         # rules for every arm
    max_empirical_epsilon = 4.0

    [arms.dp]                     # rules for the arm named "dp"; they override [all]
    max_epsilon = 8.0
    max_auc = 0.6
    max_tpr_at_fpr = { "0.01" = 0.05 }
    min_test_accuracy = 0.8

A policy is a sequence of layers, each "these limits, for this arm (or every arm), from
here". Later layers override earlier ones rule by rule, so command-line options override
the file and `[arms.NAME]` overrides `[all]`. Keeping the layers (rather than merging them
once) lets the gate say where each limit came from and whether an arm was named
explicitly, which decides how `max_epsilon` treats an arm that makes no DP claim.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

from dpaudit.errors import InputError
from dpaudit.files import read_toml_input
from dpaudit.results import FPR_LEVELS

__all__ = ["RULES", "RULE_KEYS", "RuleSet", "PolicyLayer", "Limit", "Policy", "load_policy"]

# The rules a policy may set, in the order the gate reports them.
RULES = ("max_epsilon", "max_empirical_epsilon", "max_auc", "max_tpr_at_fpr",
         "min_test_accuracy")
# One key per reported outcome: max_tpr_at_fpr fans out into one rule per FPR level.
RULE_KEYS = ("max_epsilon", "max_empirical_epsilon", "max_auc",
             *(f"max_tpr_at_fpr[{level}]" for level in FPR_LEVELS), "min_test_accuracy")
# Rules whose limit is a probability or rate.
_UNIT_INTERVAL = {"max_auc", "max_tpr_at_fpr", "min_test_accuracy"}
_TOP_LEVEL = ("all", "arms", "allow_contradiction", "require_conclusive")


def _check_limit(rule: str, value: Any, where: str) -> float:
    """Returns `value` as a float if it is a valid limit for `rule`, else raises InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputError(f"{where} must be a number, got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{where} must be a finite number, got {value}")
    if rule in _UNIT_INTERVAL and not 0.0 <= value <= 1.0:
        raise InputError(f"{where} must be in [0, 1], got {value:g}")
    if value < 0.0:
        raise InputError(f"{where} must be non-negative, got {value:g}")
    return value


def canonical_fpr(key: Any, where: str) -> str:
    """Maps an FPR level ("0.01", "1e-2", 0.01) to its key in AttackSummary.tpr_at_fpr."""
    allowed = ", ".join(FPR_LEVELS)
    try:
        if isinstance(key, bool):
            raise ValueError
        value = float(key)
    except (TypeError, ValueError):
        raise InputError(f"{where}: FPR level {key!r} is not a number; "
                         f"use one of {allowed}") from None
    for level in FPR_LEVELS:
        if math.isclose(value, float(level), rel_tol=1e-9, abs_tol=0.0):
            return level
    raise InputError(f"{where}: dpaudit measures TPR only at FPR {allowed}, got {key!r}")


@dataclass(frozen=True)
class RuleSet:
    """Limits for one arm; None (or no entry) means the rule is not set.

    Attributes:
      max_epsilon: largest theoretical epsilon (the accountant's, `ArmResult.epsilon`).
        Applies to arms that claim DP; see `dpaudit.gate.verdict.evaluate_gate`.
      max_empirical_epsilon: largest empirical epsilon lower bound of any attack.
      max_auc: largest ROC AUC of any attack.
      max_tpr_at_fpr: {FPR level: largest TPR of any attack at that FPR}; levels are
        "0.001", "0.01", "0.1" (other spellings of the same numbers are normalised).
      min_test_accuracy: smallest accuracy on the held-out test set.
    """

    max_epsilon: float | None = None
    max_empirical_epsilon: float | None = None
    max_auc: float | None = None
    max_tpr_at_fpr: Mapping[str, float] = field(default_factory=dict)
    min_test_accuracy: float | None = None

    def __post_init__(self) -> None:
        for rule in ("max_epsilon", "max_empirical_epsilon", "max_auc", "min_test_accuracy"):
            value = getattr(self, rule)
            if value is not None:
                object.__setattr__(self, rule, _check_limit(rule, value, f"{rule!r}"))
        tpr = {canonical_fpr(level, "'max_tpr_at_fpr'"):
               _check_limit("max_tpr_at_fpr", limit, f"'max_tpr_at_fpr[{level}]'")
               for level, limit in dict(self.max_tpr_at_fpr).items()}
        object.__setattr__(self, "max_tpr_at_fpr", tpr)

    def items(self) -> Iterator[tuple[str, float]]:
        """Yields (rule key, limit) for every rule that is set, in RULE_KEYS order."""
        for key in RULE_KEYS:
            if key.startswith("max_tpr_at_fpr["):
                limit = self.max_tpr_at_fpr.get(key[len("max_tpr_at_fpr["):-1])
            else:
                limit = getattr(self, key)
            if limit is not None:
                yield key, limit

    @property
    def is_empty(self) -> bool:
        return next(self.items(), None) is None


@dataclass(frozen=True)
class PolicyLayer:
    """Limits for one arm (`arm`), or for every arm (`arm=None`), and where they came from."""

    arm: str | None
    rules: RuleSet
    origin: str


class Limit(NamedTuple):
    """A resolved limit: its value, where it came from, and whether the arm was named."""

    value: float
    origin: str
    named: bool


@dataclass(frozen=True)
class Policy:
    """What the gate checks. Build with `load_policy`, `Policy.from_mapping` or
    `Policy.from_options`; combine with `with_overrides`.

    Attributes:
      layers: rule layers in increasing precedence.
      allow_contradiction: True turns off the always-on check that no empirical epsilon
        lower bound exceeds its arm's theoretical epsilon. The verdict says so.
      require_conclusive: True fails an arm whose audit could not have contradicted its
        epsilon (rule "conclusive_audit"); without it the verdict says "inconclusive" in
        a note and does not fail.
      source: a human-readable name for messages ("policy.toml", "command line").

    Example:
      >>> policy = Policy.from_options(max_auc=0.6, arms=["dp"])
      >>> policy.limits_for("dp")["max_auc"].value
      0.6
    """

    layers: tuple[PolicyLayer, ...] = ()
    allow_contradiction: bool = False
    source: str = "none"
    require_conclusive: bool = False

    @classmethod
    def from_options(cls, *, max_epsilon: float | None = None,
                     max_empirical_epsilon: float | None = None,
                     max_auc: float | None = None,
                     max_tpr_at_fpr: Mapping[str | float, float] | None = None,
                     min_test_accuracy: float | None = None,
                     arms: Sequence[str] = (),
                     allow_contradiction: bool = False,
                     source: str = "command line",
                     require_conclusive: bool = False) -> "Policy":
        """A policy from command-line style options, applied to `arms` (default: every arm).

        Error messages name the option (`--max-auc`), as the user typed it.
        """
        values = {"max_epsilon": max_epsilon, "max_empirical_epsilon": max_empirical_epsilon,
                  "max_auc": max_auc, "min_test_accuracy": min_test_accuracy}
        checked: dict[str, Any] = {
            rule: _check_limit(rule, value, f"option --{rule.replace('_', '-')}")
            for rule, value in values.items() if value is not None}
        checked["max_tpr_at_fpr"] = {
            canonical_fpr(level, "option --max-tpr-at-fpr"):
            _check_limit("max_tpr_at_fpr", limit,
                         f"option --max-tpr-at-fpr {level}={limit}: the TPR limit")
            for level, limit in (max_tpr_at_fpr or {}).items()}
        rules = RuleSet(**checked)
        for arm in arms:
            _check_arm_name(arm, "option --arm")
        if arms:
            layers = tuple(PolicyLayer(arm, rules, f"{source} (--arm {arm})") for arm in arms)
        else:
            layers = (PolicyLayer(None, rules, source),) if not rules.is_empty else ()
        return cls(layers=layers, allow_contradiction=allow_contradiction, source=source,
                   require_conclusive=require_conclusive)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], *, source: str = "policy") -> "Policy":
        """A policy from parsed TOML (or any mapping of the same shape)."""
        if not isinstance(raw, Mapping):
            raise InputError(f"{source}: expected a table of policy fields, got "
                             f"{type(raw).__name__}")
        layers: list[PolicyLayer] = []
        allow = require = False
        for key, value in raw.items():
            if key == "require_conclusive":
                if not isinstance(value, bool):
                    raise InputError(f"{source}: field 'require_conclusive' must be true or "
                                     f"false, got {value!r}")
                require = value
            elif key == "allow_contradiction":
                if not isinstance(value, bool):
                    raise InputError(f"{source}: field 'allow_contradiction' must be true or "
                                     f"false, got {value!r}")
                allow = value
            elif key == "all":
                rules = _rules_from_table(value, "all", source)
                layers.insert(0, PolicyLayer(None, rules, f"{source} [all]"))
            elif key == "arms":
                if not isinstance(value, Mapping):
                    raise InputError(f"{source}: field 'arms' must be a table of "
                                     f"[arms.NAME] tables, got {value!r}")
                for arm, table in value.items():
                    _check_arm_name(arm, f"{source}: [arms]")
                    rules = _rules_from_table(table, f"arms.{arm}", source)
                    layers.append(PolicyLayer(arm, rules, f"{source} [arms.{arm}]"))
            elif key in RULES:
                raise InputError(f"{source}: field {key!r} is at the top level; put rules "
                                 f"under [all] (every arm) or [arms.NAME] (one arm)")
            else:
                raise InputError(f"{source}: unknown field {key!r}{_suggest(key, _TOP_LEVEL)}; "
                                 f"expected [all], [arms.NAME], allow_contradiction or "
                                 "require_conclusive")
        return cls(layers=tuple(layers), allow_contradiction=allow, source=source,
                   require_conclusive=require)

    def with_overrides(self, other: "Policy") -> "Policy":
        """`other`'s limits override this policy's, rule by rule; either may allow
        contradictions."""
        if (not other.layers and not other.allow_contradiction
                and not other.require_conclusive):
            return self
        source = other.source if not self.layers else f"{self.source} + {other.source}"
        return Policy(layers=self.layers + other.layers,
                      allow_contradiction=self.allow_contradiction or other.allow_contradiction,
                      source=source,
                      require_conclusive=self.require_conclusive or other.require_conclusive)

    def limits_for(self, arm: str) -> dict[str, Limit]:
        """The limits that apply to `arm`, keyed by rule key (see RULE_KEYS).

        `Limit.named` is True when some layer naming this arm set the rule, even if a
        later every-arm layer overrode its value.
        """
        limits: dict[str, Limit] = {}
        for layer in self.layers:
            if layer.arm is not None and layer.arm != arm:
                continue
            for key, value in layer.rules.items():
                named = layer.arm is not None or (key in limits and limits[key].named)
                limits[key] = Limit(value, layer.origin, named)
        return limits

    def named_arms(self) -> dict[str, str]:
        """{arm name: where it was first named} for every arm a layer names."""
        named: dict[str, str] = {}
        for layer in self.layers:
            if layer.arm is not None:
                named.setdefault(layer.arm, layer.origin)
        return named

    @property
    def is_empty(self) -> bool:
        """True when the policy sets no rule at all."""
        return all(layer.rules.is_empty for layer in self.layers)


def load_policy(path: str | os.PathLike) -> Policy:
    """Reads a policy TOML file; raises InputError naming the file and field on any problem.

    Example:
      >>> policy = load_policy("examples/policy.toml")  # doctest: +SKIP
    """
    return Policy.from_mapping(read_toml_input(path, "policy file"), source=str(path))


def as_policy(policy: "Policy | str | os.PathLike | None") -> "Policy | None":
    """A Policy as given, or loaded from its path; None stays None (no policy)."""
    if policy is None or isinstance(policy, Policy):
        return policy
    return load_policy(policy)


def _rules_from_table(table: Any, prefix: str, source: str) -> RuleSet:
    if not isinstance(table, Mapping):
        raise InputError(f"{source}: field {prefix!r} must be a table of rules "
                         f"([{prefix}]), got {table!r}")
    values: dict[str, Any] = {}
    for key, value in table.items():
        where = f"{source}: field '{prefix}.{key}'"
        if key == "max_tpr_at_fpr":
            values[key] = _tpr_limits(value, where)
        elif key in RULES:
            values[key] = _check_limit(key, value, where)
        else:
            raise InputError(f"{source}: unknown rule '{prefix}.{key}'{_suggest(key, RULES)}; "
                             f"known rules: {', '.join(RULES)}")
    return RuleSet(**values)


def _tpr_limits(value: Any, where: str) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise InputError(f"{where} must be a table of FPR level = TPR limit, e.g. "
                         f'{{ "0.01" = 0.05 }}, got {value!r}')
    limits: dict[str, float] = {}
    for key, limit in _flatten_dotted(value):
        level = canonical_fpr(key, where)
        limits[level] = _check_limit("max_tpr_at_fpr", limit, f'{where}."{key}"')
    return limits


def _flatten_dotted(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Undoes TOML's dotted keys: an unquoted `0.01 = 0.05` parses as {"0": {"01": 0.05}}."""
    for key, value in table.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _flatten_dotted(value, full)
        else:
            yield full, value


def _check_arm_name(arm: Any, where: str) -> None:
    if not isinstance(arm, str) or not arm.strip():
        raise InputError(f"{where}: arm name must be a non-empty string, got {arm!r}")


def _suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
