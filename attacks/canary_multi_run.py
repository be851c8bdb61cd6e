"""Multi-run epsilon lower bound from canaries: Clopper-Pearson on a held-out threshold.

Jagielski, Ullman, Oprea, "Auditing Differentially Private Machine Learning: How Private
is Private SGD?", NeurIPS 2020 (https://arxiv.org/abs/2006.07709): a threshold on the
score is a membership test; one-sided Clopper-Pearson upper bounds on its false-positive
and false-negative rates bound epsilon (`attacks.metrics.epsilon_from_error_counts`). The
threshold is chosen on held-out runs so that the counts it is scored on stay independent
of it. `multi_run_ceiling` is the largest bound the design can give (no errors at all).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._validation import (as_membership, as_scores, check_int, check_probability, check_same_length,
                          check_seed)

__all__ = ["MultiRunAudit", "multi_run_audit", "multi_run_ceiling"]

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class MultiRunAudit:
    """Result of a multi-run Clopper-Pearson audit (Jagielski et al. 2020).

    Attributes:
      epsilon_lower_bound: holds with probability `confidence`.
      threshold: score at or above which an observation is guessed "in".
      false_positives, n_negatives, false_negatives, n_positives: the error counts on
        the evaluation observations (those not used to choose the threshold).
      n_calibration: observations used to choose the threshold (0 when it was given).
      confidence, delta: as requested.
    """

    epsilon_lower_bound: float
    threshold: float
    false_positives: int
    n_negatives: int
    false_negatives: int
    n_positives: int
    n_calibration: int
    confidence: float
    delta: float


def multi_run_audit(scores: ArrayLike, is_member: ArrayLike, *, delta: float = 1e-5,
                    confidence: float = 0.95, run_ids: ArrayLike | None = None,
                    threshold: float | None = None, calibration_fraction: float = 0.5,
                    seed: int = 0) -> MultiRunAudit:
    """Clopper-Pearson epsilon lower bound from canary observations of many runs.

    Jagielski, Ullman, Oprea (NeurIPS 2020): the test "score >= threshold" has
    false-positive rate FPR and false-negative rate FNR; (epsilon, delta)-DP forces
    FPR + e^eps FNR >= 1 - delta and the symmetric form, so one-sided Clopper-Pearson
    upper bounds on both rates give a lower bound on epsilon
    (`attacks.metrics.epsilon_from_error_counts`). Each observation must come from an
    independent inclusion coin; observations of one run are split together when
    `run_ids` is given. Unless `threshold` is given, it is chosen on a random
    `calibration_fraction` of the runs (the one maximising the bound there) and the
    bound is computed on the rest only, so choosing it costs no confidence.

    Args:
      scores: (n,) observation scores, higher = more likely included.
      is_member: (n,) whether the canary was included in that run.
      delta, confidence: of the bound.
      run_ids: (n,) run of each observation (calibration/evaluation split by run);
        each observation is its own run if None.
      threshold: fixed threshold; then every observation is used for the bound.
      calibration_fraction: in (0, 1), share of runs used to choose the threshold.
      seed: seed of the split.

    Returns:
      MultiRunAudit.
    """
    from .metrics import epsilon_from_error_counts

    scores = as_scores("scores", scores)
    is_member = as_membership("is_member", is_member)
    n = check_same_length(scores=scores, is_member=is_member)
    delta = check_probability("delta", delta)
    confidence = check_probability("confidence", confidence, low_open=True,
                                   high_open=True)
    seed = check_seed("seed", seed)
    if threshold is not None:
        threshold = float(threshold)
        if math.isnan(threshold):
            raise ValueError("threshold must be a number, got nan")
        evaluate = np.ones(n, dtype=bool)
    else:
        calibration_fraction = check_probability("calibration_fraction",
                                                 calibration_fraction, low_open=True,
                                                 high_open=True)
        groups = (np.arange(n) if run_ids is None
                  else _as_groups(run_ids, n))
        unique = np.unique(groups)
        if len(unique) < 2:
            raise ValueError("multi_run_audit needs at least 2 runs to choose the "
                             f"threshold on held-out runs, got {len(unique)}; pass "
                             "threshold= to use a fixed one")
        rng = np.random.default_rng(seed)
        n_cal = min(len(unique) - 1, max(1, int(round(calibration_fraction * len(unique)))))
        calibration_runs = rng.permutation(unique)[:n_cal]
        evaluate = ~np.isin(groups, calibration_runs)
        threshold = _choose_threshold(scores[~evaluate], is_member[~evaluate],
                                      delta=delta, confidence=confidence)
    counts = _error_counts(scores[evaluate], is_member[evaluate], threshold)
    if counts[1] == 0 or counts[3] == 0:
        raise ValueError("multi_run_audit needs included and excluded observations among "
                         f"the evaluation runs, got {counts[3]} included and {counts[1]} "
                         "excluded")
    epsilon = float(epsilon_from_error_counts(*counts, delta=delta, confidence=confidence))
    return MultiRunAudit(epsilon_lower_bound=max(0.0, epsilon), threshold=float(threshold),
                         false_positives=counts[0], n_negatives=counts[1],
                         false_negatives=counts[2], n_positives=counts[3],
                         n_calibration=int((~evaluate).sum()), confidence=confidence,
                         delta=delta)


def _as_groups(run_ids: ArrayLike, n: int) -> np.ndarray:
    groups = np.asarray(run_ids)
    if groups.ndim != 1 or len(groups) != n:
        raise ValueError(f"run_ids must have one entry per score ({n}), got shape "
                         f"{groups.shape}")
    return groups


def _error_counts(scores: np.ndarray, is_member: np.ndarray,
                  threshold: float) -> tuple[int, int, int, int]:
    guess_in = scores >= threshold
    return (int(np.sum(guess_in & ~is_member)), int(np.sum(~is_member)),
            int(np.sum(~guess_in & is_member)), int(np.sum(is_member)))


def _choose_threshold(scores: np.ndarray, is_member: np.ndarray, *, delta: float,
                      confidence: float) -> float:
    """The score threshold with the best Clopper-Pearson bound on these observations.

    Every distinct score is a candidate; ties in the bound go to the larger TPR - FPR.
    """
    from .metrics import epsilon_from_error_counts

    n_pos, n_neg = int(is_member.sum()), int((~is_member).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("the calibration runs need included and excluded observations "
                         f"to choose a threshold, got {n_pos} included of {len(is_member)}")
    candidates = np.unique(scores)
    members, nonmembers = np.sort(scores[is_member]), np.sort(scores[~is_member])
    false_neg = np.searchsorted(members, candidates, side="left")
    false_pos = n_neg - np.searchsorted(nonmembers, candidates, side="left")
    objective = np.asarray(epsilon_from_error_counts(
        false_pos, np.full_like(false_pos, n_neg), false_neg,
        np.full_like(false_neg, n_pos), delta=delta, confidence=confidence))
    advantage = (1 - false_neg / n_pos) - false_pos / n_neg
    return float(candidates[np.lexsort((-advantage, -objective))[0]])


def multi_run_ceiling(*, n_positives: int, n_negatives: int, delta: float,
                      confidence: float = 0.95) -> float:
    """The bound of `multi_run_audit` with no error among the evaluation observations.

    Args:
      n_positives, n_negatives: included / excluded observations the bound is computed on
        (those not used to choose the threshold).
      delta, confidence: of the bound.

    Returns:
      The design's ceiling, >= 0.
    """
    from .metrics import epsilon_from_error_counts

    n_pos = check_int("n_positives", n_positives, minimum=1)
    n_neg = check_int("n_negatives", n_negatives, minimum=1)
    return max(0.0, float(epsilon_from_error_counts(0, n_neg, 0, n_pos, delta=delta,
                                                    confidence=confidence)))
