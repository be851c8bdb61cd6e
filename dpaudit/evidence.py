"""When does an empirical epsilon lower bound contradict the accountant? One rule, used by
the CLI's end-of-run message, the gate's `dp_consistency` check and the report.

An (epsilon, delta)-DP mechanism bounds every membership test (Kairouz, Oh & Viswanath,
ICML 2015), so a lower bound that holds with confidence c and exceeds the theoretical
epsilon is impossible for a correct implementation and accountant (Jagielski, Ullman &
Oprea, NeurIPS 2020; Nasr et al., IEEE S&P 2021). The comparison is sound only when the
bound was computed at a delta no smaller than the accountant's: an (eps, delta)-DP
mechanism is (eps, delta')-DP only for delta' >= delta. A bound at a smaller delta is
"not comparable", never a contradiction. No TensorFlow here.

The rule's false-alarm rate. A bound at confidence c exceeds the true epsilon with
probability at most 1 - c, so an audit whose k bounds are each held at 95% would call a
correct implementation broken up to k in 20 times. The rule therefore uses each attack's
bound at the stricter `RULE_CONFIDENCE` (stored as `rule_epsilon_lower_bound`, computed by
the attack at ``rule_confidence(k)``: Bonferroni over the k bounds one audit checks), so
the rule fires on correct code at most once in 1 / (1 - RULE_CONFIDENCE) = 1,000 audits,
while reports and summaries still show the 95% figures. Results without the stricter
bound (older files, attacks that do not compute it) are judged on their stated bound.

Estimates never fire it: an attack marked ``is_estimate`` (e.g. a Gaussian-DP value from
scores that are not Gaussian by construction) is `Status.ESTIMATE`, shown, never a bug.

Conclusiveness: an attack whose `ceiling` (the largest epsilon its design can prove at
the rule's confidence) is at or below the claimed epsilon could never contradict it; an
arm none of whose bounds can is *inconclusive* (`arm_conclusive`), said in words by the
CLI, the gate and the report.

Example:
    >>> classify(theoretical_epsilon=1.0, delta=1e-5, lower_bound=2.0, bound_delta=1e-5)
    'violation'
    >>> classify(theoretical_epsilon=1.0, delta=1e-5, lower_bound=2.0, bound_delta=1e-7)
    'not_comparable'
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dpaudit.results import ArmResult, AttackSummary, AuditResult

__all__ = ["RULE_CONFIDENCE", "Contradiction", "Status", "arm_conclusive", "classify",
           "classify_attack", "contradictions", "rule_bound", "rule_confidence",
           "rule_reading", "rule_status"]

# Relative slack so that a bound equal to epsilon up to float rounding is not called a bug.
REL_TOL = 1e-9
# The contradiction rule's confidence per audit: at most 1 false alarm in 1,000 audits
# of correct code (module docstring).
RULE_CONFIDENCE = 0.999


def rule_confidence(num_bounds: int = 1) -> float:
    """The confidence each of `num_bounds` bounds of one audit is computed at for the rule
    (Bonferroni: together they hold with `RULE_CONFIDENCE`)."""
    return 1.0 - (1.0 - RULE_CONFIDENCE) / max(1, int(num_bounds))


class Status:
    """The outcome of comparing one lower bound with the theoretical epsilon."""

    VIOLATION = "violation"            # lower bound > theoretical epsilon: DP bug
    NOT_COMPARABLE = "not_comparable"  # above epsilon but computed at a smaller delta
    CONSISTENT = "consistent"          # 0 < lower bound <= epsilon
    NO_EVIDENCE = "no_evidence"        # lower bound 0: the attack certifies nothing
    NO_GUARANTEE = "no_guarantee"      # arm without a DP guarantee (baseline)
    UNAVAILABLE = "unavailable"        # no lower bound computed
    ESTIMATE = "estimate"              # a model-based estimate: shown, never a bug


def classify(*, theoretical_epsilon: float | None, delta: float | None, lower_bound: float,
             bound_delta: float | None) -> str:
    """The `Status` of one lower bound against one guarantee (a bound without a recorded
    delta is taken to be at the accountant's)."""
    if lower_bound is None or not math.isfinite(lower_bound):
        return Status.UNAVAILABLE
    if theoretical_epsilon is None:
        return Status.NO_GUARANTEE
    if lower_bound > theoretical_epsilon * (1 + REL_TOL):
        if (bound_delta is not None and delta is not None
                and bound_delta < delta * (1 - REL_TOL)):
            return Status.NOT_COMPARABLE
        return Status.VIOLATION
    if lower_bound <= 0:
        return Status.NO_EVIDENCE
    return Status.CONSISTENT


def rule_bound(attack: AttackSummary) -> tuple[float, float]:
    """(bound, confidence) the rule judges `attack` by: its stricter bound when stored."""
    if attack.rule_epsilon_lower_bound is not None and attack.rule_confidence is not None:
        return attack.rule_epsilon_lower_bound, attack.rule_confidence
    return attack.epsilon_lower_bound, attack.confidence


def rule_status(*, theoretical_epsilon: float | None, delta: float | None,
                attack: AttackSummary) -> str:
    """THE rule for one attack against one guarantee: `classify` of its `rule_bound`,
    except that an estimate is `Status.ESTIMATE` (never a violation)."""
    bound, _ = rule_bound(attack)
    status = classify(theoretical_epsilon=theoretical_epsilon, delta=delta,
                      lower_bound=bound, bound_delta=attack.delta)
    if attack.is_estimate and status not in (Status.UNAVAILABLE, Status.NO_GUARANTEE):
        return Status.ESTIMATE
    return status


def classify_attack(arm: ArmResult, attack: AttackSummary) -> str:
    """`rule_status` for one attack stored on `arm`."""
    return rule_status(theoretical_epsilon=arm.epsilon,
                       delta=arm.privacy.delta if arm.privacy is not None else None,
                       attack=attack)


def arm_conclusive(arm: ArmResult) -> bool | None:
    """False when no bound on `arm` could have contradicted its epsilon (every assessed
    non-estimate attack has conclusive False); None when none was assessed."""
    assessed = [a.conclusive for a in arm.attacks
                if a.conclusive is not None and not a.is_estimate]
    return any(assessed) if assessed else None


def rule_reading(status: str, attack: AttackSummary, theoretical_epsilon: float | None) -> str:
    """Words for the report when the rule's verdict differs from the 95% figure's reading,
    and for inconclusive audits."""
    bound, confidence = rule_bound(attack)
    lines = []
    if status == Status.ESTIMATE:
        lines.append(f"ESTIMATE, not a bound: {attack.epsilon_lower_bound:.3g} comes from a "
                     "model of the scores that need not hold here, so it never counts as "
                     "evidence of a bug.")
    elif (status in (Status.CONSISTENT, Status.NO_EVIDENCE) and theoretical_epsilon is not None
          and attack.epsilon_lower_bound > theoretical_epsilon):
        lines.append(f"The {attack.confidence:.0%} figure {attack.epsilon_lower_bound:.3g} is "
                     f"above the theoretical epsilon, but at the contradiction rule's "
                     f"{confidence:.4g} confidence the bound is {bound:.3g}, which does not "
                     "exceed it: not evidence of a bug.")
    if attack.conclusive is False and attack.ceiling is not None:
        lines.append(f"INCONCLUSIVE: this audit's design cannot prove epsilon above "
                     f"{attack.ceiling:.3g} (its ceiling at {confidence:.4g} confidence), "
                     f"so it could not have contradicted epsilon = "
                     f"{theoretical_epsilon:.3g} whatever the training does.")
    return " ".join(lines)


@dataclass(frozen=True)
class Contradiction:
    """An attack whose lower bound (at the rule's confidence) exceeds its arm's epsilon."""

    arm: str
    attack: str
    lower_bound: float
    confidence: float
    theoretical_epsilon: float

    def __str__(self) -> str:
        confidence = (f"confidence {self.confidence:g}" if math.isfinite(self.confidence)
                      else "unstated confidence")
        return (f"arm {self.arm!r}: attack {self.attack!r} proves epsilon >= "
                f"{self.lower_bound:.3g} ({confidence}) but the accountant claims epsilon = "
                f"{self.theoretical_epsilon:.3g}: the DP training or its accounting is broken")


def contradictions(result: AuditResult) -> list[Contradiction]:
    """Every (arm, attack) whose bound contradicts the arm's guarantee (`Status.VIOLATION`)."""
    return [Contradiction(arm.name, attack.name, *rule_bound(attack),
                          arm.epsilon)  # type: ignore[arg-type]
            for arm in result.arms for attack in arm.attacks
            if classify_attack(arm, attack) == Status.VIOLATION]
