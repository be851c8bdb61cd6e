"""When does an empirical epsilon lower bound contradict the accountant? One rule, used by
the CLI's end-of-run message, the gate's `dp_consistency` check and the report.

An (epsilon, delta)-DP mechanism bounds every membership test (Kairouz, Oh & Viswanath,
ICML 2015), so a lower bound that holds with confidence c and exceeds the theoretical
epsilon is impossible for a correct implementation and accountant (Jagielski, Ullman &
Oprea, NeurIPS 2020; Nasr et al., IEEE S&P 2021). The comparison is sound only when the
bound was computed at a delta no smaller than the accountant's: an (eps, delta)-DP
mechanism is (eps, delta')-DP only for delta' >= delta. A bound at a smaller delta is
"not comparable", never a contradiction. No TensorFlow here.

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

__all__ = ["Contradiction", "Status", "classify", "classify_attack", "contradictions"]

# Relative slack so that a bound equal to epsilon up to float rounding is not called a bug.
REL_TOL = 1e-9


class Status:
    """The outcome of comparing one lower bound with the theoretical epsilon."""

    VIOLATION = "violation"            # lower bound > theoretical epsilon: DP bug
    NOT_COMPARABLE = "not_comparable"  # above epsilon but computed at a smaller delta
    CONSISTENT = "consistent"          # 0 < lower bound <= epsilon
    NO_EVIDENCE = "no_evidence"        # lower bound 0: the attack certifies nothing
    NO_GUARANTEE = "no_guarantee"      # arm without a DP guarantee (baseline)
    UNAVAILABLE = "unavailable"        # no lower bound computed


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


def classify_attack(arm: ArmResult, attack: AttackSummary) -> str:
    """`classify` for one attack stored on `arm`."""
    return classify(theoretical_epsilon=arm.epsilon,
                    delta=arm.privacy.delta if arm.privacy is not None else None,
                    lower_bound=attack.epsilon_lower_bound, bound_delta=attack.delta)


@dataclass(frozen=True)
class Contradiction:
    """An attack whose lower bound exceeds its arm's theoretical epsilon."""

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
    return [Contradiction(arm.name, attack.name, attack.epsilon_lower_bound, attack.confidence,
                          arm.epsilon)  # type: ignore[arg-type]
            for arm in result.arms for attack in arm.attacks
            if classify_attack(arm, attack) == Status.VIOLATION]
