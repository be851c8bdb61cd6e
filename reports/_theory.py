"""The highest ROC a DP guarantee allows, and the measured ROC points that break it.

An (epsilon, delta)-DP mechanism limits every membership test (Kairouz, Oh & Viswanath,
"The composition theorem for differential privacy", ICML 2015,
https://arxiv.org/abs/1311.0776, Theorem 2.1):

    TPR <= min(1, e^eps * FPR + delta, 1 - e^-eps * (1 - delta - FPR)).

A mechanism is (epsilon(delta), delta)-DP for every delta of its accountant's curve, so
the ceiling is the minimum of that bound over the curve's pairs.

A measured ROC point contradicts the guarantee when, with the stated confidence, its TPR
is above the ceiling at its FPR. The points of an ROC curve sit at thresholds chosen from
the data, so a per-point interval would not hold; the check uses the DKW band, which holds
for all thresholds at once (Dvoretzky, Kiefer & Wolfowitz 1956, with Massart's constant,
Ann. Probab. 1990): with probability >= 1 - a, every empirical rate is within
sqrt(ln(2 / a) / (2 n)) of the true one. Each of the two bands (members, non-members)
gets a = (1 - confidence) / 2, so a correct mechanism is flagged with probability at most
1 - confidence per curve.

The ceiling itself is `dpaudit.attacks.theory.dp_tpr_ceiling`; this module adds the band
that makes the check hold for a whole curve.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..attacks.theory import dp_tpr_ceiling

__all__ = ["roc_ceiling", "contradicting_points", "dkw_margin"]


def roc_ceiling(fpr: Any, epsilons: Sequence[float], deltas: Sequence[float]) -> np.ndarray:
    """The highest TPR any attack can reach at each `fpr` under all (eps, delta) pairs
    (`dpaudit.attacks.theory.dp_tpr_ceiling`), as an array over `fpr`."""
    fpr = np.clip(np.asarray(fpr, dtype=float), 0.0, 1.0)
    if len(epsilons) == 0 or len(epsilons) != len(deltas):
        raise ValueError("epsilons and deltas must be non-empty and of the same length")
    return np.asarray(dp_tpr_ceiling(fpr, epsilons, deltas), dtype=float)


def dkw_margin(n: int, alpha: float) -> float:
    """Half-width of the DKW band on an empirical rate from `n` samples, level 1 - alpha."""
    if n <= 0:
        return math.inf
    return math.sqrt(math.log(2.0 / alpha) / (2.0 * n))


def contradicting_points(roc: Mapping[str, Sequence[float]], curve: Mapping[str, Sequence[float]],
                         *, n_members: int, n_nonmembers: int,
                         confidence: float = 0.95) -> list[tuple[float, float]]:
    """The ROC points whose TPR is, with `confidence`, above the guarantee's ceiling.

    A point (fpr, tpr) is flagged when tpr - m_pos > ceiling(fpr + m_neg), where m_pos and
    m_neg are the DKW margins for the member and non-member counts (module docstring).

    Args:
      roc: {"fpr": [...], "tpr": [...]}, the measured curve.
      curve: {"delta": [...], "epsilon": [...]}, the accountant's (epsilon, delta) curve.
      n_members, n_nonmembers: how many examples the rates were measured on.
      confidence: the probability that a correct mechanism is not flagged.

    Returns:
      The flagged (fpr, tpr) points; [] when none or when inputs are missing.
    """
    fpr = np.asarray(roc.get("fpr") or (), dtype=float)
    tpr = np.asarray(roc.get("tpr") or (), dtype=float)
    eps = np.asarray(curve.get("epsilon") or (), dtype=float)
    deltas = np.asarray(curve.get("delta") or (), dtype=float)
    ok = np.isfinite(eps) & np.isfinite(deltas)
    if fpr.size == 0 or fpr.shape != tpr.shape or not ok.any() or eps.shape != deltas.shape:
        return []
    alpha = (1.0 - confidence) / 2.0
    tpr_low = tpr - dkw_margin(n_members, alpha)
    fpr_high = np.minimum(fpr + dkw_margin(n_nonmembers, alpha), 1.0)
    ceiling = roc_ceiling(fpr_high, eps[ok], deltas[ok])
    finite = np.isfinite(fpr) & np.isfinite(tpr)
    flagged = finite & (tpr_low > ceiling)
    return [(float(f), float(t)) for f, t in zip(fpr[flagged], tpr[flagged])]
