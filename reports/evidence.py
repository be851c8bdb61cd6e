"""Theory vs evidence: the accountant's epsilon beside each attack's empirical lower bound.

An (epsilon, delta)-DP mechanism bounds every membership test: TPR <= e^eps * FPR + delta
and the symmetric form, so an attack whose error rates are, with confidence `c`, better
than that trade-off certifies a lower bound on epsilon (Kairouz, Oh & Viswanath, 2015,
"The composition theorem for differential privacy", https://arxiv.org/abs/1311.0776;
Jagielski, Ullman & Oprea, 2020, "Auditing differentially private machine learning: how
private is private SGD?", https://arxiv.org/abs/2006.07709). A lower bound above the
theoretical epsilon is therefore impossible for a correct implementation and accountant:
the report calls it a DP bug.

Which pairs contradict the guarantee is decided by `dpaudit.evidence.classify`, the one
rule the CLI and the gate use too; this module words it for the report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dpaudit.evidence import Status, classify, rule_reading, rule_status
from dpaudit.results import ArmResult, AttackSummary

__all__ = ["Status", "EvidenceRow", "compare_arm", "format_confidence"]

@dataclass(frozen=True)
class EvidenceRow:
    """One (arm, attack) pair of the "Theory vs evidence" section.

    Attributes:
      arm, attack: names as in the results file.
      theoretical_epsilon: the tighter of the RDP and PLD epsilons, None without DP.
      delta: the accountant's delta (None without DP).
      lower_bound: the attack's empirical epsilon lower bound (NaN when not computed).
      bound_delta: the delta the bound was computed at (None when not recorded).
      confidence: probability with which the lower bound holds (NaN when not recorded).
      method: how the bound was computed, as recorded by the attack.
      status: one of the `Status` values.
      reading: the comparison in plain words.
    """

    arm: str
    attack: str
    theoretical_epsilon: float | None
    delta: float | None
    lower_bound: float
    bound_delta: float | None
    confidence: float
    method: str
    status: str
    reading: str

    @property
    def is_bug(self) -> bool:
        return self.status == Status.VIOLATION

    @property
    def fraction(self) -> float:
        """lower_bound / theoretical_epsilon, NaN when either is missing or epsilon is 0."""
        eps = self.theoretical_epsilon
        if eps is None or eps <= 0 or not _finite(self.lower_bound):
            return math.nan
        return self.lower_bound / eps


def compare_arm(arm: ArmResult) -> list[EvidenceRow]:
    """Compares every attack on `arm` with the arm's theoretical epsilon.

    Args:
      arm: one audited model from an AuditResult.

    Returns:
      One EvidenceRow per attack, in the order the attacks were stored.

    Example:
      >>> rows = compare_arm(result.arm("dp"))  # doctest: +SKIP
      >>> any(r.is_bug for r in rows)           # doctest: +SKIP
      False
    """
    eps = arm.epsilon
    delta = arm.privacy.delta if arm.privacy is not None else None
    return [_compare(arm.name, eps, delta, attack) for attack in arm.attacks]


def format_confidence(confidence: float) -> str:
    """0.95 -> "95%"; NaN -> "unstated confidence"."""
    if not _finite(confidence):
        return "unstated confidence"
    return f"{100 * confidence:.4g}%"


def _compare(arm: str, eps: float | None, delta: float | None,
             attack: AttackSummary) -> EvidenceRow:
    lb = attack.epsilon_lower_bound
    conf = format_confidence(attack.confidence)
    status, reading = _read(eps, delta, lb, attack.delta, conf)
    # The ONE rule decides the status (stricter confidence, estimates never a bug); the
    # 95% figures stay; inconclusive audits and estimates are said in words.
    ruled = rule_status(theoretical_epsilon=eps, delta=delta, attack=attack)
    if ruled != status and not {ruled, status} <= {Status.CONSISTENT, Status.NO_EVIDENCE}:
        status, reading = ruled, rule_reading(ruled, attack, eps)
    elif attack.conclusive is False:
        reading = f"{reading} {rule_reading(status, attack, eps)}"
    return EvidenceRow(arm=arm, attack=attack.name, theoretical_epsilon=eps, delta=delta,
                       lower_bound=lb, bound_delta=attack.delta,
                       confidence=attack.confidence,
                       method=attack.epsilon_lower_bound_method, status=status,
                       reading=reading)


def _read(eps: float | None, delta: float | None, lb: float, bound_delta: float | None,
          conf: str) -> tuple[str, str]:
    status = classify(theoretical_epsilon=eps, delta=delta, lower_bound=lb,
                      bound_delta=bound_delta)
    if status == Status.UNAVAILABLE:
        return Status.UNAVAILABLE, "No empirical lower bound was computed for this attack."
    if status == Status.NO_GUARANTEE:
        if lb > 0:
            return Status.NO_GUARANTEE, (
                f"No DP guarantee for this model. The attack proves epsilon >= {lb:.3g} "
                f"with {conf} confidence: the model measurably leaks membership.")
        return Status.NO_GUARANTEE, (
            "No DP guarantee for this model. This attack found no statistically "
            "significant leakage, which does not mean that there is none.")
    if status == Status.NOT_COMPARABLE:
        return Status.NOT_COMPARABLE, (
            f"The lower bound {lb:.3g} exceeds the theoretical epsilon {eps:.3g}, but it "
            f"was computed at delta = {bound_delta:.2g}, smaller than the accountant's "
            f"delta = {delta:.2g}, so the two are not directly comparable. Recompute the "
            f"bound at delta = {delta:.2g} before drawing a conclusion.")
    if status == Status.VIOLATION:
        return Status.VIOLATION, (
            f"DP BUG: the attack proves epsilon >= {lb:.3g} with {conf} confidence, above "
            f"the theoretical epsilon {eps:.3g}. A correct DP-SGD run cannot do this. Check "
            "that the batch sampling, clipping and noise actually used match what the "
            "accountant was told, and do not rely on the stated guarantee until it is fixed.")
    if status == Status.NO_EVIDENCE:
        return Status.NO_EVIDENCE, (
            f"The attack certifies no leakage (lower bound 0). That is consistent with "
            f"epsilon = {eps:.3g} but says nothing about how tight the guarantee is.")
    fraction = lb / eps if eps > 0 else math.inf
    reading = (f"The attack proves epsilon >= {lb:.3g} with {conf} confidence, "
               f"{100 * fraction:.0f}% of the theoretical {eps:.3g}: consistent with the "
               "guarantee. ")
    if fraction < 0.25:
        reading += ("A large gap is typical for attacks on the final model (see \"The gap\" "
                    "in How to read this report); it does not show that the guarantee is loose.")
    elif fraction < 0.75:
        reading += "The attack recovers a sizeable part of the privacy budget."
    else:
        reading += ("The guarantee is nearly tight here: the attack comes close to the worst "
                    "case that the accountant allows.")
    return Status.CONSISTENT, reading


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)
