"""Empirical epsilon lower bounds from an attack's error counts.

An (epsilon, delta)-DP mechanism limits every test that tells "x was in the training
set" from "x was not": its false-positive rate FPR and false-negative rate FNR satisfy

    FPR + exp(epsilon) * FNR >= 1 - delta   and   FNR + exp(epsilon) * FPR >= 1 - delta

(Kairouz, Oh, Viswanath, ICML 2015). Turning this around, an attack that reaches
(FPR, FNR) proves epsilon >= ln((1 - delta - FPR) / FNR) and the symmetric form. With
finitely many trials we only see estimates, so the bound plugs in one-sided
Clopper-Pearson upper bounds on FPR and FNR, as in Jagielski, Ullman, Oprea, "Auditing
Differentially Private Machine Learning: How Private is Private SGD?" (NeurIPS 2020,
https://arxiv.org/abs/2006.07709) and Nasr, Song, Thakurta, Papernot, Carlini,
"Adversary Instantiation: Lower Bounds for Differentially Private Machine Learning"
(IEEE S&P 2021, https://arxiv.org/abs/2101.04535).

Confidence. Each Clopper-Pearson bound holds at 1 - (1 - confidence)/2, so both hold
together with probability >= `confidence` (union bound), and then both symmetric forms
hold: the reported maximum of the two is a lower bound with probability >= `confidence`.
That is only true for a threshold fixed before the counts are seen. `epsilon_lower_bound`
therefore picks the threshold on a seeded random half of the members and of the
non-members and counts errors on the other half. A caller that instead maximises
`epsilon_from_error_counts` over K thresholds on the same data must use confidence
1 - (1 - c)/K to keep confidence c (Bonferroni).

Independence. Clopper-Pearson treats the counted examples as independent trials. That
holds exactly when each score comes from its own training run (Jagielski et al. 2020);
for many examples scored from one run it is the usual approximation (see Steinke, Nasr,
Jagielski, "Privacy Auditing with One (1) Training Run", NeurIPS 2023, for when it is
sound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._validation import (as_membership, as_scores, check_probability, check_same_length,
                          check_seed)

__all__ = ["EpsilonBound", "clopper_pearson_interval", "epsilon_from_error_counts",
           "epsilon_lower_bound"]

_SIDES = ("two-sided", "upper", "lower")
# The threshold is selected with stricter Clopper-Pearson bounds than the final ones:
# this steers away from thresholds whose bound rests on a handful of errors that the
# evaluation half will not reproduce (over 30 seeded Gaussian trials it raised the worst
# bound from 0.57 to 0.72 of the true epsilon at delta=1e-2, n=20000 per class). Any
# selection rule is valid, because the evaluation half is untouched.
_SELECTION_LEVEL = 0.999


def _as_counts(name: str, value: ArrayLike) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.number):
        raise TypeError(f"{name} must be a count (integer), got {value!r}")
    if not np.all(np.isfinite(array)) or np.any(array != np.round(array)) or np.any(array < 0):
        raise ValueError(f"{name} must be a non-negative integer count, got {value!r}")
    return array.astype(np.float64)


def _cp_upper(k: np.ndarray, n: np.ndarray, level: float) -> np.ndarray:
    """One-sided Clopper-Pearson upper bound on p from k successes in n trials."""
    with np.errstate(invalid="ignore", divide="ignore"):
        upper = stats.beta.ppf(level, k + 1, n - k)
    return np.where(k >= n, 1.0, upper)


def _cp_lower(k: np.ndarray, n: np.ndarray, level: float) -> np.ndarray:
    """One-sided Clopper-Pearson lower bound on p from k successes in n trials."""
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = stats.beta.ppf(1 - level, k, n - k + 1)
    return np.where(k <= 0, 0.0, lower)


def clopper_pearson_interval(k: ArrayLike, n: ArrayLike, confidence: float = 0.95,
                             side: str = "two-sided") -> tuple:
    """Exact (Clopper-Pearson) confidence interval for a binomial proportion.

    Args:
      k: number of successes (e.g. false positives); integer, 0 <= k <= n. Arrays work.
      n: number of trials; integer >= 0. n = 0 gives the uninformative (0, 1).
      confidence: coverage probability of the interval, in (0, 1).
      side: "two-sided" (each tail gets (1 - confidence)/2), "upper" (the interval is
        [0, upper]) or "lower" (the interval is [lower, 1]).

    Returns:
      (lower, upper): floats, or arrays when k or n are arrays.

    Example:
      >>> lo, hi = clopper_pearson_interval(0, 100, 0.95, side="upper")
      >>> (lo, round(hi, 4))
      (0.0, 0.0295)
    """
    k_arr = _as_counts("k", k)
    n_arr = _as_counts("n", n)
    if np.any(k_arr > n_arr):
        raise ValueError(f"k must be <= n, got k={k!r}, n={n!r}")
    confidence = check_probability("confidence", confidence, low_open=True, high_open=True)
    if side not in _SIDES:
        raise ValueError(f"side must be one of {', '.join(_SIDES)}, got {side!r}")
    if side == "two-sided":
        level = 1 - (1 - confidence) / 2
        lower, upper = _cp_lower(k_arr, n_arr, level), _cp_upper(k_arr, n_arr, level)
    elif side == "upper":
        lower, upper = np.zeros_like(k_arr + n_arr), _cp_upper(k_arr, n_arr, confidence)
    else:
        lower, upper = _cp_lower(k_arr, n_arr, confidence), np.ones_like(k_arr + n_arr)
    if np.ndim(lower) == 0:
        return float(lower), float(upper)
    return lower, upper


def _epsilon_from_counts(false_pos, n_neg, false_neg, n_pos, delta: float,
                         level: float) -> np.ndarray:
    """Both symmetric forms with CP upper bounds at `level` each; vectorised; >= 0."""
    fpr_upper = _cp_upper(false_pos, n_neg, level)
    fnr_upper = _cp_upper(false_neg, n_pos, level)
    with np.errstate(divide="ignore", invalid="ignore"):
        first = np.log(np.maximum(1 - delta - fpr_upper, 0.0)) - np.log(fnr_upper)
        second = np.log(np.maximum(1 - delta - fnr_upper, 0.0)) - np.log(fpr_upper)
    best = np.fmax(first, second)
    return np.maximum(np.nan_to_num(best, nan=0.0, neginf=0.0), 0.0)


def epsilon_from_error_counts(false_pos: int, n_neg: int, false_neg: int, n_pos: int, *,
                              delta: float = 1e-5, confidence: float = 0.95) -> float:
    """Epsilon lower bound from one fixed test's error counts.

    Holds with probability >= `confidence` when the test (its threshold) was fixed
    before these counts were drawn; see the module docstring for the union bound over
    FPR and FNR, and for using it over several thresholds.

    Args:
      false_pos: non-members flagged as members.
      n_neg: non-members tested.
      false_neg: members not flagged.
      n_pos: members tested.
      delta: the DP delta the bound is for, in [0, 1).
      confidence: probability that the returned value is <= the true epsilon.

    Returns:
      max(0, ln((1 - delta - FPR_u) / FNR_u), ln((1 - delta - FNR_u) / FPR_u)), where
      FPR_u, FNR_u are one-sided Clopper-Pearson upper bounds at 1 - (1 - confidence)/2.

    Example:
      >>> round(epsilon_from_error_counts(5, 1000, 400, 1000, delta=1e-5), 3)
      3.89
    """
    fp, nn = _as_counts("false_pos", false_pos), _as_counts("n_neg", n_neg)
    fn, npos = _as_counts("false_neg", false_neg), _as_counts("n_pos", n_pos)
    if np.any(fp > nn):
        raise ValueError(f"false_pos must be <= n_neg, got {false_pos} > {n_neg}")
    if np.any(fn > npos):
        raise ValueError(f"false_neg must be <= n_pos, got {false_neg} > {n_pos}")
    delta = check_probability("delta", delta, high_open=True)
    confidence = check_probability("confidence", confidence, low_open=True, high_open=True)
    result = _epsilon_from_counts(fp, nn, fn, npos, delta, 1 - (1 - confidence) / 2)
    return float(result) if np.ndim(result) == 0 else result


@dataclass(frozen=True)
class EpsilonBound:
    """An epsilon lower bound and how it was obtained.

    Attributes:
      epsilon: the bound (>= 0); holds with probability >= `confidence`.
      delta, confidence: what it is a bound for, and how sure.
      threshold: scores >= threshold were flagged "member" (chosen on the selection half;
        nan when there were too few examples to split).
      false_pos, n_neg, false_neg, n_pos: the error counts on the evaluation half.
      method: one line for reports.
    """

    epsilon: float
    delta: float
    confidence: float
    threshold: float
    false_pos: int
    n_neg: int
    false_neg: int
    n_pos: int
    method: str


def _errors_at(thresholds: np.ndarray, member_sorted: np.ndarray,
               nonmember_sorted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(false positives, false negatives) when scores >= threshold are flagged."""
    false_neg = np.searchsorted(member_sorted, thresholds, side="left")
    false_pos = len(nonmember_sorted) - np.searchsorted(nonmember_sorted, thresholds,
                                                        side="left")
    return false_pos.astype(np.float64), false_neg.astype(np.float64)


def epsilon_lower_bound(scores: ArrayLike, is_member: ArrayLike, *, delta: float = 1e-5,
                        confidence: float = 0.95, seed: int = 0) -> EpsilonBound:
    """Epsilon lower bound from attack scores, threshold chosen on a held-out half.

    Members and non-members are each split in two halves at random (seeded). On the
    selection half, every distinct score is tried as the threshold and the one with the
    largest bound is kept (Clopper-Pearson at 0.999 there, to favour thresholds whose
    error counts are large enough to replicate; ties go to the larger TPR - FPR). On the
    evaluation half, that single threshold's error counts give the bound through
    `epsilon_from_error_counts`, so no correction for the thresholds tried is needed and
    the stated confidence holds (see the module docstring).

    Args:
      scores: one score per example, higher = more likely a member.
      is_member: one flag per example.
      delta: in [0, 1).
      confidence: in (0, 1).
      seed: seeds the split.

    Returns:
      EpsilonBound; epsilon is 0 (always a valid lower bound) when either class has
      fewer than 2 examples.

    The bound cannot exceed what the sample size can show: with no errors among n
    evaluation examples, the upper bound on an error rate is still about 3.7/n at
    confidence 0.95 (0.975 per rate),
    so epsilon above roughly ln(n/3.7) needs more examples, whatever the attack.

    Example:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> scores = np.concatenate([rng.normal(2, 1, 5000), rng.normal(0, 1, 5000)])
      >>> bound = epsilon_lower_bound(scores, np.arange(10000) < 5000, delta=1e-5)
      >>> round(bound.epsilon, 2), bound.n_pos, bound.n_neg
      (3.68, 2500, 2500)
    """
    scores = as_scores("scores", scores)
    is_member = as_membership("is_member", is_member)
    check_same_length(scores=scores, is_member=is_member)
    delta = check_probability("delta", delta, high_open=True)
    confidence = check_probability("confidence", confidence, low_open=True, high_open=True)
    seed = check_seed("seed", seed)
    level = 1 - (1 - confidence) / 2

    members, nonmembers = scores[is_member], scores[~is_member]
    if len(members) < 2 or len(nonmembers) < 2:
        return EpsilonBound(0.0, delta, confidence, math.nan, 0, len(nonmembers), 0,
                            len(members), "too few members or non-members to split "
                            "(need 2 of each); 0 is the only valid bound")
    rng = np.random.default_rng(seed)
    members, nonmembers = rng.permutation(members), rng.permutation(nonmembers)
    m_sel, m_eval = np.sort(members[: len(members) // 2]), np.sort(members[len(members) // 2:])
    n_sel = np.sort(nonmembers[: len(nonmembers) // 2])
    n_eval = np.sort(nonmembers[len(nonmembers) // 2:])

    candidates = np.unique(np.concatenate([m_sel, n_sel]))
    fp, fn = _errors_at(candidates, m_sel, n_sel)
    objective = _epsilon_from_counts(fp, len(n_sel), fn, len(m_sel), delta,
                                     max(level, _SELECTION_LEVEL))
    advantage = (1 - fn / len(m_sel)) - fp / len(n_sel)
    best = int(np.lexsort((-advantage, -objective))[0])
    threshold = float(candidates[best])

    fp_eval, fn_eval = _errors_at(np.array([threshold]), m_eval, n_eval)
    epsilon = float(_epsilon_from_counts(fp_eval, len(n_eval), fn_eval, len(m_eval), delta,
                                         level)[0])
    method = (f"Clopper-Pearson upper bounds on FPR and FNR ({level:.4g} each, "
              f"{confidence:.4g} jointly); threshold chosen on a random half "
              f"(seed {seed}), errors counted on the other half")
    return EpsilonBound(epsilon, delta, confidence, threshold, int(fp_eval[0]), len(n_eval),
                        int(fn_eval[0]), len(m_eval), method)
