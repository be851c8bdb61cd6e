"""The release gate: a policy applied to an AuditResult gives a Verdict with reasons.

No TensorFlow here. `dpaudit gate` and `dpaudit train-and-attack --policy` call
`evaluate_gate`; the verdict is stored as results.json "verdict" (`Verdict.to_dict`),
printed (`Verdict.format_text`) and optionally written as JUnit XML (`write_junit`).

How rules are measured (one outcome per arm and rule):
  * Attack rules (`max_auc`, `max_tpr_at_fpr[L]`, `max_empirical_epsilon`) take the worst
    attack on the arm, and the outcome names it.
  * `max_epsilon` compares the arm's theoretical epsilon (`ArmResult.epsilon`: the tighter
    of the RDP and PLD accountants). It applies to arms that claim DP (trained with noise,
    or carrying an epsilon). From `[all]` or a command-line option without `--arm`, it
    skips arms that make no DP claim (e.g. the non-DP baseline) and says so in a note;
    set for an arm by name, it fails on an arm without a guarantee; and if no arm at
    all claims DP it fails rather than pass with nothing checked.
  * `min_test_accuracy` compares the arm's test accuracy.
  * Missing evidence fails closed: a value that could not be measured (NaN, e.g. TPR at
    FPR 0.001 with fewer than 10000 non-members; an arm without attacks or accuracy) makes
    the rule FAIL with "could not be measured". A gate must not pass for lack of evidence.

Always on: the DP consistency check (`dp_consistency`). An empirical epsilon lower bound
holds with probability `confidence` (Jagielski et al. 2020, "Auditing Differentially
Private Machine Learning: How Private is Private SGD?", https://arxiv.org/abs/2006.07709;
Nasr et al. 2021, "Adversary Instantiation: Lower Bounds for Differentially Private
Machine Learning", https://arxiv.org/abs/2101.04535). If it exceeds the epsilon the
accountant claims, the mechanism as trained is not what the accountant priced: an
implementation or accounting bug. A bound computed at a smaller delta than the
accountant's is not comparable (an (eps, delta)-DP mechanism is guaranteed to be
(eps, delta')-DP only for delta' >= delta) and is skipped with a note; a bound that
states no delta is taken to be at the accountant's. With k attacks on an arm, the chance
of a false alarm on a correct mechanism is at most k * (1 - confidence) (union bound).
The check can be turned off (`allow_contradiction` in the policy, `--allow-contradiction`,
or `check_contradiction=False`); the verdict then says so, and still reports in a note
any contradiction it would have failed on.
"""

from __future__ import annotations

import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from dpaudit._io import atomic_write_bytes
from dpaudit._policy import RULE_KEYS, Limit, Policy, PolicyLayer, RuleSet, load_policy
from dpaudit.errors import InputError
from dpaudit.results import ArmResult, AttackSummary, AuditResult

__all__ = ["CONSISTENCY_RULE", "CONTRADICTION_MESSAGE", "Policy", "PolicyLayer", "RuleSet",
           "RuleOutcome", "Verdict", "load_policy", "evaluate_gate", "format_text",
           "write_junit"]

CONSISTENCY_RULE = "dp_consistency"
CONTRADICTION_MESSAGE = ("DP guarantee contradicted by evidence — "
                         "implementation or accounting bug")
_ALWAYS_ON = "always on"
_MISSING = "a gate does not pass on missing evidence"


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
        return ">=" if self.rule.startswith("min_") else "<="

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "arm": self.arm, "attack": self.attack,
                "measured": _json_float(self.measured), "limit": _json_float(self.limit),
                "comparison": self.comparison, "passed": self.passed,
                "message": self.message, "origin": self.origin}


@dataclass(frozen=True)
class Verdict:
    """The gate's decision with one RuleOutcome per rule and arm.

    Attributes:
      passed: True when every outcome passed.
      rules: the outcomes, arm by arm, in a fixed rule order.
      notes: what the reader must know beyond the rules (check turned off, rules not
        applied to an arm, bounds not comparable).
      contradiction_check: whether the always-on DP consistency check was enforced.
      policy: the policy's source, for the record.
    """

    passed: bool
    rules: tuple[RuleOutcome, ...]
    notes: tuple[str, ...] = ()
    contradiction_check: bool = True
    policy: str = ""

    @property
    def failures(self) -> tuple[RuleOutcome, ...]:
        return tuple(o for o in self.rules if not o.passed)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form, stored as results.json "verdict" and rendered by the report."""
        return {"passed": self.passed, "n_rules": len(self.rules),
                "n_failed": len(self.failures),
                "contradiction_check": self.contradiction_check, "policy": self.policy,
                "notes": list(self.notes), "rules": [o.to_dict() for o in self.rules]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "verdict") -> "Verdict":
        """Reads `to_dict` output back (e.g. from a results.json)."""
        try:
            rules = tuple(RuleOutcome(
                rule=str(r["rule"]), arm=str(r["arm"]),
                attack=None if r.get("attack") is None else str(r["attack"]),
                measured=_from_json_float(r.get("measured")),
                limit=_from_json_float(r.get("limit")), passed=bool(r["passed"]),
                message=str(r.get("message") or ""), origin=str(r.get("origin") or ""))
                for r in raw["rules"])
            return cls(passed=bool(raw["passed"]), rules=rules,
                       notes=tuple(str(n) for n in raw.get("notes") or ()),
                       contradiction_check=bool(raw.get("contradiction_check", True)),
                       policy=str(raw.get("policy") or ""))
        except (KeyError, TypeError, ValueError) as e:
            raise InputError(f"{source}: not a dpaudit gate verdict "
                             f"({type(e).__name__}: {e})") from None

    def format_text(self) -> str:
        """The verdict as printed by `dpaudit gate`: one line per rule plus its reason."""
        lines = [f"dpaudit gate — policy: {self.policy or 'none'}"]
        if not self.contradiction_check:
            lines.append("WARNING: the DP consistency check is OFF for this run")
        arm_width = max((len(o.arm) for o in self.rules), default=0)
        rule_width = max((len(o.rule) for o in self.rules), default=0)
        for o in self.rules:
            status = "PASS" if o.passed else "FAIL"
            limit = "" if math.isnan(o.limit) else f"{o.comparison} {_fmt(o.limit)}"
            lines.append(f"  {status}  {o.arm:<{arm_width}}  {o.rule:<{rule_width}}  "
                         f"measured {_fmt(o.measured):>8}  limit {limit}".rstrip())
            origin = (f" (limit from {o.origin})" if o.origin and o.origin != _ALWAYS_ON
                      else "")
            lines.append(f"        {o.message}{origin}")
        lines.extend(f"note: {note}" for note in self.notes)
        failed = self.failures
        if failed:
            names = ", ".join(f"{o.arm}/{o.rule}" for o in failed)
            lines.append(f"gate FAILED: {len(failed)} of {_count(len(self.rules))} failed "
                         f"({names})")
        else:
            lines.append(f"gate PASSED: {_count(len(self.rules))} checked, none failed")
        return "\n".join(lines)


def format_text(verdict: Verdict) -> str:
    """Same as `verdict.format_text()`."""
    return verdict.format_text()


def evaluate_gate(result: AuditResult, policy: Policy | None = None, *,
                  check_contradiction: bool = True) -> Verdict:
    """Checks `result` against `policy` and the always-on DP consistency check.

    Args:
      result: the audit to judge.
      policy: the rules; None checks only DP consistency.
      check_contradiction: False turns the consistency check off (so does the policy's
        `allow_contradiction`); the verdict then says it was off.

    Returns:
      The Verdict; `verdict.passed` decides exit code 0 or 1.

    Raises:
      InputError: the results have no arms, or the policy names an arm they lack.

    Example:
      >>> verdict = evaluate_gate(result, Policy.from_options(max_auc=0.6))  # doctest: +SKIP
      >>> print(verdict.format_text())  # doctest: +SKIP
    """
    policy = policy or Policy()
    if not result.arms:
        raise InputError("the results contain no arms, so there is nothing to gate")
    names = [arm.name for arm in result.arms]
    for name, origin in policy.named_arms().items():
        if name not in names:
            raise InputError(f"{origin}: no arm named {name!r} in the results "
                             f"(arms: {', '.join(names)})")
    enforce = check_contradiction and not policy.allow_contradiction
    notes: list[str] = []
    if not enforce:
        how = (f"allow_contradiction = true in {policy.source}" if policy.allow_contradiction
               else "--allow-contradiction")
        notes.append(f"the DP consistency check is turned off ({how}): an empirical epsilon "
                     "above the theoretical epsilon does NOT fail this gate")
    if policy.is_empty:
        notes.append("no policy rules were given: only the always-on DP consistency check ran"
                     if enforce else "no policy rules were given and the DP consistency "
                     "check is off: nothing was checked")
    any_dp = any(_claims_dp(arm) for arm in result.arms)
    if enforce and not any(arm.epsilon is not None or _claims_dp(arm) for arm in result.arms):
        notes.append("no arm claims DP, so the DP consistency check had nothing to compare")

    outcomes: list[RuleOutcome] = []
    for arm in result.arms:
        consistency, arm_notes = _consistency(arm)
        notes.extend(arm_notes)
        if consistency is not None:
            if enforce:
                outcomes.append(consistency)
            elif not consistency.passed:
                notes.append(f"NOT ENFORCED on arm {arm.name!r}: {consistency.message}")
        limits = policy.limits_for(arm.name)
        for key in RULE_KEYS:
            limit = limits.get(key)
            if limit is None:
                continue
            if key == "max_epsilon" and not _claims_dp(arm) and not limit.named and any_dp:
                notes.append(f"max_epsilon ({limit.origin}) is not applied to arm "
                             f"{arm.name!r}: it makes no DP claim")
                continue
            outcomes.append(_check_rule(key, limit, arm))
    return Verdict(passed=all(o.passed for o in outcomes), rules=tuple(outcomes),
                   notes=tuple(notes), contradiction_check=enforce, policy=policy.source)


def write_junit(verdict: Verdict, path: str | os.PathLike) -> Path:
    """Writes the verdict as JUnit XML (one testcase per rule), atomically.

    CI systems (GitLab `reports: junit`, Jenkins, GitHub test-report actions) then list
    each rule, with the failure message on failed ones. Notes go to the suite's
    system-out. Returns the path.
    """
    path = Path(path)
    n, failed = len(verdict.rules), len(verdict.failures)
    counts = {"tests": str(n), "failures": str(failed), "errors": "0", "skipped": "0"}
    root = ET.Element("testsuites", {"name": "dpaudit gate", **counts})
    suite = ET.SubElement(root, "testsuite", {"name": "dpaudit gate", **counts, "time": "0"})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "policy", "value": verdict.policy})
    ET.SubElement(props, "property", {"name": "contradiction_check",
                                      "value": str(verdict.contradiction_check).lower()})
    for o in verdict.rules:
        case = ET.SubElement(suite, "testcase", {"classname": f"dpaudit.gate.{o.arm}",
                                                 "name": o.rule, "time": "0"})
        detail = (f"measured {_fmt(o.measured)}, limit {o.comparison} {_fmt(o.limit)}"
                  f"{', attack ' + o.attack if o.attack else ''}"
                  f"{', limit from ' + o.origin if o.origin not in ('', _ALWAYS_ON) else ''}")
        if o.passed:
            ET.SubElement(case, "system-out").text = f"{o.message}\n{detail}"
        else:
            failure = ET.SubElement(case, "failure", {"message": o.message,
                                                      "type": "GateRuleFailed"})
            failure.text = detail
    ET.SubElement(suite, "system-out").text = "\n".join(verdict.notes)
    ET.indent(root)
    atomic_write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")
    return path


# --- rules ---------------------------------------------------------------------------

def _claims_dp(arm: ArmResult) -> bool:
    """An arm claims DP when it was trained with noise or carries a theoretical epsilon."""
    if arm.privacy is None:
        return False
    return arm.epsilon is not None or arm.privacy.noise_multiplier > 0


def _epsilon_text(arm: ArmResult) -> str:
    p = arm.privacy
    parts = [f"{name} {_fmt(v)}" for name, v in (("RDP", p.epsilon_rdp), ("PLD", p.epsilon_pld))
             if v is not None and not math.isnan(v)]
    delta = f" at delta={p.delta:g}" if p.delta is not None else ""
    return f"theoretical epsilon {_fmt(arm.epsilon)} ({' / '.join(parts)}{delta})"


def _missing_accounting(arm: ArmResult) -> str:
    return (f"arm {arm.name!r} was trained with noise (noise_multiplier="
            f"{arm.privacy.noise_multiplier:g}) but has no theoretical epsilon: the "
            "accounting is missing")


def _consistency(arm: ArmResult) -> tuple[RuleOutcome | None, list[str]]:
    """The always-on check: no attack's epsilon lower bound above the theoretical epsilon."""
    epsilon = arm.epsilon
    if epsilon is None:
        if not _claims_dp(arm):
            return None, []
        return RuleOutcome(CONSISTENCY_RULE, arm.name, None, math.nan, math.nan, False,
                           f"{_missing_accounting(arm)}, so the attacks' evidence cannot be "
                           "checked against a guarantee", _ALWAYS_ON), []
    arm_delta = arm.privacy.delta
    notes: list[str] = []
    comparable: list[AttackSummary] = []
    for attack in arm.attacks:
        if math.isnan(attack.epsilon_lower_bound):
            continue
        if (attack.delta is not None and arm_delta is not None
                and attack.delta < arm_delta * (1 - 1e-9)):
            notes.append(f"attack {attack.name!r} on arm {arm.name!r}: its epsilon lower bound "
                         f"is at delta={attack.delta:g}, below the accountant's delta="
                         f"{arm_delta:g}, so it is not compared with the guarantee")
            continue
        comparable.append(attack)
    if not comparable:
        return RuleOutcome(CONSISTENCY_RULE, arm.name, None, math.nan, epsilon, True,
                           "no attack produced an epsilon lower bound comparable with the "
                           f"{_epsilon_text(arm)}; nothing contradicts it", _ALWAYS_ON), notes
    worst = max(comparable, key=lambda a: a.epsilon_lower_bound)
    bound = worst.epsilon_lower_bound
    confidence = (f"{worst.confidence:.0%} confidence" if not math.isnan(worst.confidence)
                  else "unstated confidence")
    if bound > epsilon:
        message = (f"{CONTRADICTION_MESSAGE}: attack {worst.name!r} shows epsilon >= "
                   f"{_fmt(bound)} ({confidence}), but the accountant claims "
                   f"{_epsilon_text(arm)}")
    else:
        message = (f"attack {worst.name!r}: empirical epsilon lower bound {_fmt(bound)} "
                   f"({confidence}) does not exceed the {_epsilon_text(arm)}")
    return RuleOutcome(CONSISTENCY_RULE, arm.name, worst.name, bound, epsilon,
                       bound <= epsilon, message, _ALWAYS_ON), notes


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


def _check_rule(key: str, limit: Limit, arm: ArmResult) -> RuleOutcome:
    if key == "max_epsilon":
        return _check_max_epsilon(limit, arm)
    if key == "min_test_accuracy":
        accuracy = arm.utility.test_accuracy if arm.utility is not None else math.nan
        if math.isnan(accuracy):
            message = f"test accuracy could not be measured on arm {arm.name!r}; {_MISSING}"
        elif accuracy < limit.value:
            message = f"test accuracy {_fmt(accuracy)} is below the minimum {_fmt(limit.value)}"
        else:
            message = f"test accuracy {_fmt(accuracy)} >= {_fmt(limit.value)}"
        return RuleOutcome(key, arm.name, None, accuracy, limit.value,
                           not math.isnan(accuracy) and accuracy >= limit.value, message,
                           limit.origin)
    if key == "max_auc":
        return _check_attack_max(key, limit, arm, "AUC", lambda a: a.auc, _no_reason)
    if key == "max_empirical_epsilon":
        return _check_attack_max(key, limit, arm, "empirical epsilon lower bound",
                                 lambda a: a.epsilon_lower_bound, _no_reason)
    level = key[len("max_tpr_at_fpr["):-1]
    return _check_attack_max(key, limit, arm, f"TPR at FPR {level}", _tpr_getter(level),
                             _tpr_missing_reason(level))


def _check_max_epsilon(limit: Limit, arm: ArmResult) -> RuleOutcome:
    epsilon = arm.epsilon
    if epsilon is None:
        if _claims_dp(arm):
            message = f"{_missing_accounting(arm)}; {_MISSING}"
        elif limit.named:
            message = (f"arm {arm.name!r} makes no DP claim (no theoretical epsilon), but "
                       "max_epsilon was set for it by name")
        else:
            message = (f"no arm in the results claims DP (arm {arm.name!r} has no "
                       f"theoretical epsilon), so max_epsilon cannot be checked; {_MISSING}")
        return RuleOutcome("max_epsilon", arm.name, None, math.nan, limit.value, False,
                           message, limit.origin)
    passed = epsilon <= limit.value
    verb = "<=" if passed else "exceeds the limit"
    return RuleOutcome("max_epsilon", arm.name, None, epsilon, limit.value, passed,
                       f"{_epsilon_text(arm)} {verb} {_fmt(limit.value)}", limit.origin)


def _check_attack_max(key: str, limit: Limit, arm: ArmResult, label: str,
                      value_of: Callable[[AttackSummary], float],
                      missing_reason: Callable[[AttackSummary], str]) -> RuleOutcome:
    """Worst attack against a maximum; an unmeasurable value on any attack fails closed."""
    if not arm.attacks:
        return RuleOutcome(key, arm.name, None, math.nan, limit.value, False,
                           f"arm {arm.name!r} has no attack results, so {label} could not "
                           f"be measured; {_MISSING}", limit.origin)
    values = [(attack, value_of(attack)) for attack in arm.attacks]
    measured = [(a, v) for a, v in values if not math.isnan(v)]
    missing = [a for a, v in values if math.isnan(v)]
    worst = max(measured, key=lambda av: av[1]) if measured else None
    if worst is not None and worst[1] > limit.value:
        attack, value = worst
        return RuleOutcome(key, arm.name, attack.name, value, limit.value, False,
                           f"attack {attack.name!r}: {label} = {_fmt(value)} exceeds the limit "
                           f"{_fmt(limit.value)}", limit.origin)
    if missing:
        attack = missing[0]
        return RuleOutcome(key, arm.name, attack.name, math.nan, limit.value, False,
                           f"{label} could not be measured for attack {attack.name!r}"
                           f"{missing_reason(attack)}; {_MISSING}", limit.origin)
    attack, value = worst
    others = f" (worst of {len(values)} attacks)" if len(values) > 1 else ""
    return RuleOutcome(key, arm.name, attack.name, value, limit.value, True,
                       f"attack {attack.name!r}{others}: {label} = {_fmt(value)} <= "
                       f"{_fmt(limit.value)}", limit.origin)


# --- formatting ----------------------------------------------------------------------

def _fmt(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.4g}"


def _count(n: int) -> str:
    return f"{n} rule" if n == 1 else f"{n} rules"


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _from_json_float(value: Any) -> float:
    return math.nan if value is None else float(value)
