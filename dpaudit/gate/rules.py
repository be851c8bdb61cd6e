"""The gate's rules, each checked on one arm: a RuleOutcome with the measured value.

How each rule is measured is described in `dpaudit.gate.verdict`.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

from dpaudit.evidence import Status, arm_conclusive, classify_attack, rule_bound
from dpaudit.gate.policy import Limit
from dpaudit.results import ArmResult, AttackSummary

__all__ = ["ALWAYS_ON", "CONCLUSIVE_RULE", "CONSISTENCY_RULE", "CONTRADICTION_MESSAGE", "MISSING", "RuleOutcome",
           "check_conclusive", "check_consistency", "check_rule", "inconclusive_note", "claims_dp", "count_rules", "format_value",
           "from_json_float", "json_float"]

CONSISTENCY_RULE = "dp_consistency"
CONCLUSIVE_RULE = "conclusive_audit"
CONTRADICTION_MESSAGE = ("DP guarantee contradicted by evidence — "
                         "implementation or accounting bug")
ALWAYS_ON = "always on"
MISSING = "a gate does not pass on missing evidence"


@dataclass(frozen=True)
class RuleOutcome:
    """One rule checked on one arm.

    Attributes:
      rule: rule key, e.g. "max_auc", "max_tpr_at_fpr[0.01]", "dp_consistency".
      arm: the arm it was checked on.
      attack: the attack that decided it (the worst, or the unmeasurable one), if any.
      measured: the value compared with the limit; NaN when it could not be measured.
      limit: the limit (for dp_consistency: the theoretical epsilon).
      passed: whether the rule holds.
      message: one line saying what was measured, on which attack, against what.
      origin: where the limit came from ("policy.toml [arms.dp]", "command line").
    """

    rule: str
    arm: str
    attack: str | None
    measured: float
    limit: float
    passed: bool
    message: str
    origin: str = ""

    @property
    def comparison(self) -> str:
        """"<=" or ">=": how `measured` must relate to `limit` to pass."""
        return ">=" if self.rule.startswith("min_") or self.rule == CONCLUSIVE_RULE else "<="

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "arm": self.arm, "attack": self.attack,
                "measured": json_float(self.measured), "limit": json_float(self.limit),
                "comparison": self.comparison, "passed": self.passed,
                "message": self.message, "origin": self.origin}


def claims_dp(arm: ArmResult) -> bool:
    """An arm claims DP when it was trained with noise or carries a theoretical epsilon."""
    if arm.privacy is None:
        return False
    return arm.epsilon is not None or arm.privacy.noise_multiplier > 0


def _epsilon_text(arm: ArmResult) -> str:
    p = arm.privacy
    parts = [f"{name} {format_value(v)}" for name, v in (("RDP", p.epsilon_rdp), ("PLD", p.epsilon_pld))
             if v is not None and not math.isnan(v)]
    delta = f" at delta={p.delta:g}" if p.delta is not None else ""
    return f"theoretical epsilon {format_value(arm.epsilon)} ({' / '.join(parts)}{delta})"


def _missing_accounting(arm: ArmResult) -> str:
    return (f"arm {arm.name!r} was trained with noise (noise_multiplier="
            f"{arm.privacy.noise_multiplier:g}) but has no theoretical epsilon: the "
            "accounting is missing")


def check_consistency(arm: ArmResult) -> tuple[RuleOutcome | None, list[str]]:
    """The always-on check: no attack's epsilon lower bound above the theoretical epsilon."""
    epsilon = arm.epsilon
    if epsilon is None:
        if not claims_dp(arm):
            return None, []
        return RuleOutcome(CONSISTENCY_RULE, arm.name, None, math.nan, math.nan, False,
                           f"{_missing_accounting(arm)}, so the attacks' evidence cannot be "
                           "checked against a guarantee", ALWAYS_ON), []
    arm_delta = arm.privacy.delta
    notes: list[str] = []
    comparable: list[AttackSummary] = []
    for attack in arm.attacks:
        status = classify_attack(arm, attack)
        if status == Status.UNAVAILABLE:
            continue
        if status == Status.NOT_COMPARABLE:
            notes.append(f"attack {attack.name!r} on arm {arm.name!r}: its epsilon lower bound "
                         f"is at delta={attack.delta:g}, below the accountant's delta="
                         f"{arm_delta:g}, so it is not compared with the guarantee")
            continue
        if status == Status.ESTIMATE:
            notes.append(f"attack {attack.name!r} on arm {arm.name!r}: its epsilon "
                         f"{format_value(attack.epsilon_lower_bound)} is an ESTIMATE, not a "
                         "bound, so it is never held against the guarantee")
            continue
        comparable.append(attack)
    if not comparable:
        return RuleOutcome(CONSISTENCY_RULE, arm.name, None, math.nan, epsilon, True,
                           "no attack produced an epsilon lower bound comparable with the "
                           f"{_epsilon_text(arm)}; nothing contradicts it", ALWAYS_ON), notes
    worst = max(comparable, key=lambda a: rule_bound(a)[0])
    bound, level = rule_bound(worst)
    confidence = (f"{100 * level:.4g}% confidence" if not math.isnan(level)
                  else "unstated confidence")
    violated = classify_attack(arm, worst) == Status.VIOLATION
    if violated:
        message = (f"{CONTRADICTION_MESSAGE}: attack {worst.name!r} shows epsilon >= "
                   f"{format_value(bound)} ({confidence}), but the accountant claims "
                   f"{_epsilon_text(arm)}")
    else:
        message = (f"attack {worst.name!r}: empirical epsilon lower bound {format_value(bound)} "
                   f"({confidence}) does not exceed the {_epsilon_text(arm)}")
    return RuleOutcome(CONSISTENCY_RULE, arm.name, worst.name, bound, epsilon,
                       not violated, message, ALWAYS_ON), notes


def inconclusive_note(arm: ArmResult) -> str | None:
    """Words for an arm whose audit could not have contradicted its epsilon, or None."""
    if arm_conclusive(arm) is not False:
        return None
    ceilings = [a.ceiling for a in arm.attacks if a.ceiling is not None and not a.is_estimate]
    ceiling = max(ceilings) if ceilings else math.nan
    return (f"INCONCLUSIVE on arm {arm.name!r}: the audit's design cannot prove epsilon above "
            f"{format_value(ceiling)} (its ceiling), and the accountant claims "
            f"{_epsilon_text(arm)}, so a pass here is not evidence that the DP training is "
            "correct; audit at settings with a smaller epsilon (canary-audit --trainer with "
            "a trainer taking dp=) or more canaries/runs")


def check_conclusive(arm: ArmResult) -> RuleOutcome | None:
    """The `require_conclusive` policy rule: fails when `inconclusive_note` has words."""
    conclusive = arm_conclusive(arm)
    if conclusive is None:
        return None
    ceilings = [a.ceiling for a in arm.attacks if a.ceiling is not None and not a.is_estimate]
    ceiling = max(ceilings) if ceilings else math.nan
    message = (inconclusive_note(arm) if not conclusive else
               f"the audit can prove epsilon up to {format_value(ceiling)}, above the "
               f"{_epsilon_text(arm)}: it could have contradicted it")
    return RuleOutcome(CONCLUSIVE_RULE, arm.name, None, ceiling,
                       arm.epsilon if arm.epsilon is not None else math.nan, conclusive,
                       message or "", "require_conclusive")


def _tpr_getter(level: str) -> Callable[[AttackSummary], float]:
    def get(attack: AttackSummary) -> float:
        for key, value in attack.tpr_at_fpr.items():
            try:
                if math.isclose(float(key), float(level), rel_tol=1e-9):
                    return value
            except ValueError:
                continue
        return math.nan
    return get


def _tpr_missing_reason(level: str) -> Callable[[AttackSummary], str]:
    # attacks.evaluate leaves TPR at FPR f undefined below 10 / f non-members (ten
    # expected false positives); say so, as the usual fix is a larger audit.
    need = math.ceil(10 / float(level) - 1e-9)

    def reason(attack: AttackSummary) -> str:
        if 0 < attack.n_nonmembers < need:
            return (f" (only {attack.n_nonmembers} non-members: resolving FPR {level} "
                    f"takes at least {need})")
        return ""
    return reason


def _no_reason(attack: AttackSummary) -> str:
    return ""


def check_rule(key: str, limit: Limit, arm: ArmResult) -> RuleOutcome:
    if key == "max_epsilon":
        return _check_max_epsilon(limit, arm)
    if key == "min_test_accuracy":
        accuracy = arm.utility.test_accuracy if arm.utility is not None else math.nan
        if math.isnan(accuracy):
            message = f"test accuracy could not be measured on arm {arm.name!r}; {MISSING}"
        elif accuracy < limit.value:
            message = f"test accuracy {format_value(accuracy)} is below the minimum {format_value(limit.value)}"
        else:
            message = f"test accuracy {format_value(accuracy)} >= {format_value(limit.value)}"
        return RuleOutcome(key, arm.name, None, accuracy, limit.value,
                           not math.isnan(accuracy) and accuracy >= limit.value, message,
                           limit.origin)
    if key == "max_auc":
        return _check_attack_max(key, limit, arm, "AUC", lambda a: a.auc, _no_reason)
    if key == "max_empirical_epsilon":
        # Estimates (e.g. pooled reference-attack values) are not lower bounds.
        bounds = dataclasses.replace(arm, attacks=[a for a in arm.attacks if not a.is_estimate])
        return _check_attack_max(key, limit, bounds, "empirical epsilon lower bound",
                                 lambda a: a.epsilon_lower_bound, _no_reason)
    level = key[len("max_tpr_at_fpr["):-1]
    return _check_attack_max(key, limit, arm, f"TPR at FPR {level}", _tpr_getter(level),
                             _tpr_missing_reason(level))


def _check_max_epsilon(limit: Limit, arm: ArmResult) -> RuleOutcome:
    epsilon = arm.epsilon
    if epsilon is None:
        if claims_dp(arm):
            message = f"{_missing_accounting(arm)}; {MISSING}"
        elif limit.named:
            message = (f"arm {arm.name!r} makes no DP claim (no theoretical epsilon), but "
                       "max_epsilon was set for it by name")
        else:
            message = (f"no arm in the results claims DP (arm {arm.name!r} has no "
                       f"theoretical epsilon), so max_epsilon cannot be checked; {MISSING}")
        return RuleOutcome("max_epsilon", arm.name, None, math.nan, limit.value, False,
                           message, limit.origin)
    passed = epsilon <= limit.value
    verb = "<=" if passed else "exceeds the limit"
    return RuleOutcome("max_epsilon", arm.name, None, epsilon, limit.value, passed,
                       f"{_epsilon_text(arm)} {verb} {format_value(limit.value)}", limit.origin)


def _check_attack_max(key: str, limit: Limit, arm: ArmResult, label: str,
                      value_of: Callable[[AttackSummary], float],
                      missing_reason: Callable[[AttackSummary], str]) -> RuleOutcome:
    """Worst attack against a maximum; an unmeasurable value on any attack fails closed."""
    if not arm.attacks:
        return RuleOutcome(key, arm.name, None, math.nan, limit.value, False,
                           f"arm {arm.name!r} has no attack results, so {label} could not "
                           f"be measured; {MISSING}", limit.origin)
    values = [(attack, value_of(attack)) for attack in arm.attacks]
    measured = [(a, v) for a, v in values if not math.isnan(v)]
    missing = [a for a, v in values if math.isnan(v)]
    worst = max(measured, key=lambda av: av[1]) if measured else None
    if worst is not None and worst[1] > limit.value:
        attack, value = worst
        return RuleOutcome(key, arm.name, attack.name, value, limit.value, False,
                           f"attack {attack.name!r}: {label} = {format_value(value)} exceeds the limit "
                           f"{format_value(limit.value)}", limit.origin)
    if missing:
        attack = missing[0]
        return RuleOutcome(key, arm.name, attack.name, math.nan, limit.value, False,
                           f"{label} could not be measured for attack {attack.name!r}"
                           f"{missing_reason(attack)}; {MISSING}", limit.origin)
    attack, value = worst
    others = f" (worst of {len(values)} attacks)" if len(values) > 1 else ""
    return RuleOutcome(key, arm.name, attack.name, value, limit.value, True,
                       f"attack {attack.name!r}{others}: {label} = {format_value(value)} <= "
                       f"{format_value(limit.value)}", limit.origin)


# --- formatting ----------------------------------------------------------------------

def format_value(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.4g}"


def count_rules(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"


def json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def from_json_float(value: Any) -> float:
    return math.nan if value is None else float(value)
