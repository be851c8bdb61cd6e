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
from dataclasses import dataclass
from typing import Any, Mapping

from dpaudit.errors import InputError
from dpaudit.gate.policy import RULE_KEYS, Policy
from dpaudit.gate.rules import (ALWAYS_ON, RuleOutcome, check_conclusive, check_consistency,
                                check_rule, claims_dp, count_rules, format_value, from_json_float,
                                inconclusive_note)
from dpaudit.results import AuditResult

__all__ = ["Verdict", "evaluate_gate", "format_text"]

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

    @property
    def inconclusive(self) -> bool:
        """True when a note says an audit could not have refuted its arm's epsilon."""
        return any(note.startswith("INCONCLUSIVE") for note in self.notes)

    def to_dict(self) -> dict[str, Any]:
        """Strict-JSON form, stored as results.json "verdict" and rendered by the report."""
        return {"passed": self.passed, "n_rules": len(self.rules),
                "n_failed": len(self.failures), "inconclusive": self.inconclusive,
                "contradiction_check": self.contradiction_check, "policy": self.policy,
                "notes": list(self.notes), "rules": [o.to_dict() for o in self.rules]}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "verdict") -> "Verdict":
        """Reads `to_dict` output back (e.g. from a results.json)."""
        try:
            rules = tuple(RuleOutcome(
                rule=str(r["rule"]), arm=str(r["arm"]),
                attack=None if r.get("attack") is None else str(r["attack"]),
                measured=from_json_float(r.get("measured")),
                limit=from_json_float(r.get("limit")), passed=bool(r["passed"]),
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
            limit = "" if math.isnan(o.limit) else f"{o.comparison} {format_value(o.limit)}"
            lines.append(f"  {status}  {o.arm:<{arm_width}}  {o.rule:<{rule_width}}  "
                         f"measured {format_value(o.measured):>8}  limit {limit}".rstrip())
            origin = (f" (limit from {o.origin})" if o.origin and o.origin != ALWAYS_ON
                      else "")
            lines.append(f"        {o.message}{origin}")
        lines.extend(f"note: {note}" for note in self.notes)
        failed = self.failures
        if failed:
            names = ", ".join(f"{o.arm}/{o.rule}" for o in failed)
            lines.append(f"gate FAILED: {len(failed)} of {count_rules(len(self.rules))} failed "
                         f"({names})")
        elif self.inconclusive:
            lines.append(f"gate PASSED but INCONCLUSIVE: {count_rules(len(self.rules))} "
                         "checked, none failed, but the audit could not have contradicted the "
                         "claimed epsilon (see the note above)")
        else:
            lines.append(f"gate PASSED: {count_rules(len(self.rules))} checked, none failed")
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
      InputError: the results have no arms, the policy names an arm they lack, or no
        rule applies at all (a gate that checked nothing must not pass).

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
    any_dp = any(claims_dp(arm) for arm in result.arms)
    if enforce and not any(arm.epsilon is not None or claims_dp(arm) for arm in result.arms):
        notes.append("no arm claims DP, so the DP consistency check had nothing to compare")

    outcomes: list[RuleOutcome] = []
    for arm in result.arms:
        consistency, arm_notes = check_consistency(arm)
        notes.extend(arm_notes)
        # An audit that could not have refuted the claim says so in words; a policy with
        # require_conclusive makes that a failure.
        words = inconclusive_note(arm)
        if policy.require_conclusive:
            conclusive = check_conclusive(arm)
            if conclusive is not None:
                outcomes.append(conclusive)
            elif claims_dp(arm):
                notes.append(f"require_conclusive: arm {arm.name!r} has no audit with a "
                             "stated ceiling, so conclusiveness was not checked")
        elif words:
            notes.append(words)
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
            if key == "max_epsilon" and not claims_dp(arm) and not limit.named and any_dp:
                notes.append(f"max_epsilon ({limit.origin}) is not applied to arm "
                             f"{arm.name!r}: it makes no DP claim")
                continue
            outcomes.append(check_rule(key, limit, arm))
    if not outcomes:
        # all([]) is True: a verdict with no rule must not read as a pass.
        why = ("the DP consistency check is off" if not enforce
               else "no arm claims DP for the DP consistency check")
        raise InputError("nothing to check: the policy sets no rule that applies to the "
                         f"arms ({', '.join(names)}) and {why}; set a rule such as max_auc "
                         "in the policy's [all] table or with --max-auc"
                         + "".join(f"\nnote: {note}" for note in notes))
    return Verdict(passed=all(o.passed for o in outcomes), rules=tuple(outcomes),
                   notes=tuple(notes), contradiction_check=enforce, policy=policy.source)
