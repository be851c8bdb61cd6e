"""The highest ROC that an (epsilon, delta)-DP guarantee allows, and points above it.

Kairouz, Oh, Viswanath, "The Composition Theorem for Differential Privacy", ICML 2015
(https://arxiv.org/abs/1311.0776), Theorem 2.1: if a mechanism is (epsilon, delta)-DP,
every test that tells a dataset from its neighbour -- here "this example was trained on"
from "it was not" -- has FPR + e^eps FNR >= 1 - delta and FNR + e^eps FPR >= 1 - delta.
With TPR = 1 - FNR that is

    TPR <= min(1, e^eps FPR + delta, 1 - e^-eps (1 - delta - FPR)).

An accountant gives many (epsilon, delta) pairs (a curve); the mechanism satisfies all
of them, so the ceiling is the minimum over the pairs. The more pairs from the curve, the
closer this comes to the mechanism's exact trade-off function (Dong, Roth, Su, "Gaussian
Differential Privacy", JRSS-B 2022, Proposition 2.12: the trade-off curve is the
envelope of the pairs' lines). A ceiling from a few pairs is valid, only looser.

It also bounds a membership attack's ROC over many examples: each example's test obeys
the ceiling, the ceiling is concave (a minimum of affine functions), so the average over
examples at a shared threshold -- the attack's empirical ROC in expectation -- does too.

A measured point contradicts the guarantee when even its pessimistic end does: the
one-sided Clopper-Pearson lower limit on its TPR lies above the ceiling at the upper
limit on its FPR (each at 1 - (1 - confidence)/2, so both hold together with probability
>= confidence; the ceiling rises with FPR, so that corner is the point's most
favourable to the guarantee). As for `attacks.bounds`, this holds for a point whose
threshold was fixed before its counts were drawn; testing every vertex of a curve needs
confidence 1 - (1 - c)/#points (Bonferroni) to keep c.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._validation import check_probability
from .bounds import clopper_pearson_interval

__all__ = [
    "CeilingCheck",
    "default_fpr_grid",
    "dp_roc_ceiling",
    "dp_tpr_ceiling",
    "roc_point_exceeds_ceiling",
]


def default_fpr_grid(points: int = 241, smallest: float = 1e-6) -> np.ndarray:
    """0, then `points` FPRs log-spaced from `smallest` to 1 (low FPRs matter most)."""
    return np.r_[0.0, np.logspace(np.log10(smallest), 0.0, points)]


def _pairs(epsilon: ArrayLike, delta: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    eps = np.atleast_1d(np.asarray(epsilon, dtype=np.float64))
    dlt = np.atleast_1d(np.asarray(delta, dtype=np.float64))
    if eps.ndim != 1 or dlt.ndim != 1:
        raise ValueError(f"epsilon and delta must be numbers or 1-D arrays of pairs, got "
                         f"shapes {eps.shape} and {dlt.shape}")
    if len(eps) == 0:
        raise ValueError("epsilon must hold at least one value")
    eps, dlt = np.broadcast_arrays(eps, dlt) if len(dlt) == 1 or len(eps) == 1 else (eps, dlt)
    if eps.shape != dlt.shape:
        raise ValueError(f"epsilon and delta must pair up one to one, got {len(eps)} "
                         f"epsilons and {len(dlt)} deltas")
    if np.isnan(eps).any() or (eps < 0).any():
        raise ValueError(f"epsilon must be >= 0 (inf allowed), got {eps.tolist()}")
    if np.isnan(dlt).any() or (dlt < 0).any() or (dlt > 1).any():
        raise ValueError(f"delta must be in [0, 1], got {dlt.tolist()}")
    return eps, dlt


def _fprs(fpr: ArrayLike) -> np.ndarray:
    rates = np.asarray(fpr, dtype=np.float64)
    if np.isnan(rates).any() or (rates < 0).any() or (rates > 1).any():
        raise ValueError("fpr must be false-positive rates in [0, 1]")
    return rates


def _ceiling(rates: np.ndarray, eps: np.ndarray, dlt: np.ndarray) -> np.ndarray:
    """Minimum over pairs (last axis of eps/dlt) at each rate; shape of `rates`."""
    x = rates[..., None]
    with np.errstate(over="ignore", invalid="ignore"):
        through_origin = np.exp(eps) * x + dlt
        # e^eps * 0 with eps = inf is NaN; an infinite epsilon bounds nothing.
        through_origin = np.where(np.isinf(eps), 1.0, through_origin)
        through_corner = 1 - np.exp(-eps) * (1 - dlt - x)
    per_pair = np.minimum(1.0, np.minimum(through_origin, through_corner))
    return per_pair.min(axis=-1)


def dp_tpr_ceiling(fpr: ArrayLike, epsilon: ArrayLike, delta: ArrayLike) -> np.ndarray:
    """Highest TPR at `fpr` that (epsilon, delta)-DP allows, for one pair or a curve.

    Args:
      fpr: false-positive rates in [0, 1], any shape.
      epsilon: one epsilon >= 0 (inf allowed), or a 1-D array of them.
      delta: the matching delta(s) in [0, 1]; one delta is shared by every epsilon.

    Returns:
      array of the shape of `fpr`: min over the pairs of
      min(1, e^eps fpr + delta, 1 - e^-eps (1 - delta - fpr)).

    Example:
      >>> import math
      >>> dp_tpr_ceiling([0.0, 0.25, 0.6], math.log(2), 0.0).tolist()
      [0.0, 0.5, 0.8]
      >>> dp_tpr_ceiling(0.1, [1.0, 2.0], [0.1, 1e-5]).round(4).tolist()
      0.3718
    """
    eps, dlt = _pairs(epsilon, delta)
    return _ceiling(_fprs(fpr), eps, dlt)


def dp_roc_ceiling(epsilon: ArrayLike, delta: ArrayLike,
                   fpr: ArrayLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ceiling ROC on an FPR grid, for plotting under an attack's ROC.

    Args:
      epsilon, delta: as for `dp_tpr_ceiling` (typically an accountant's curve).
      fpr: the grid; default `default_fpr_grid()` (0 and 241 log-spaced points to 1).

    Returns:
      (fpr, tpr) arrays.

    Example:
      >>> fpr, tpr = dp_roc_ceiling(0.0, 0.0, fpr=[0.0, 0.5, 1.0])
      >>> tpr.tolist()
      [0.0, 0.5, 1.0]
    """
    rates = default_fpr_grid() if fpr is None else _fprs(fpr)
    return rates, dp_tpr_ceiling(rates, epsilon, delta)


@dataclass(frozen=True)
class CeilingCheck:
    """Whether measured ROC points lie above the DP ceiling, beyond sampling error.

    Attributes:
      exceeds: True where tpr_lower > ceiling (the guarantee is contradicted).
      tpr_lower: one-sided Clopper-Pearson lower limit on each point's TPR.
      fpr_upper: one-sided Clopper-Pearson upper limit on each point's FPR.
      ceiling: the DP ceiling at fpr_upper.
      confidence: probability that both limits hold for a point (fixed in advance).
      method: one line for reports.
    """

    exceeds: np.ndarray | bool
    tpr_lower: np.ndarray | float
    fpr_upper: np.ndarray | float
    ceiling: np.ndarray | float
    confidence: float
    method: str


def roc_point_exceeds_ceiling(true_pos: ArrayLike, n_pos: ArrayLike, false_pos: ArrayLike,
                              n_neg: ArrayLike, epsilon: ArrayLike, delta: ArrayLike, *,
                              confidence: float = 0.95) -> CeilingCheck:
    """Do measured ROC points lie above the (epsilon, delta) ceiling beyond chance?

    Args:
      true_pos, n_pos: members flagged, and members tested (counts; arrays allowed).
      false_pos, n_neg: non-members flagged, and non-members tested.
      epsilon, delta: the guarantee, as for `dp_tpr_ceiling`.
      confidence: in (0, 1); see the module docstring for when it holds.

    Returns:
      CeilingCheck; scalars for scalar counts, arrays otherwise.

    Example:
      >>> check = roc_point_exceeds_ceiling(600, 1000, 10, 1000, epsilon=1.0, delta=1e-5)
      >>> bool(check.exceeds), round(check.tpr_lower, 3), round(check.ceiling, 3)
      (True, 0.569, 0.05)
    """
    confidence = check_probability("confidence", confidence, low_open=True, high_open=True)
    eps, dlt = _pairs(epsilon, delta)
    level = 1 - (1 - confidence) / 2
    tpr_lower, _ = clopper_pearson_interval(true_pos, n_pos, level, side="lower")
    _, fpr_upper = clopper_pearson_interval(false_pos, n_neg, level, side="upper")
    ceiling = _ceiling(np.asarray(fpr_upper, dtype=np.float64), eps, dlt)
    exceeds = np.asarray(tpr_lower) > ceiling
    method = (f"Clopper-Pearson lower limit on TPR above the (epsilon, delta) ceiling at the "
              f"upper limit on FPR ({level:.4g} each, {confidence:.4g} jointly; "
              f"{len(eps)} (epsilon, delta) pairs)")
    if np.ndim(tpr_lower) == 0 and np.ndim(fpr_upper) == 0:
        return CeilingCheck(bool(exceeds), float(tpr_lower), float(fpr_upper),
                            float(ceiling), confidence, method)
    return CeilingCheck(exceeds, np.asarray(tpr_lower), np.asarray(fpr_upper), ceiling,
                        confidence, method)
