"""Tied scores in the ROC metrics: a tied block is wholly above a threshold or wholly below.

RMIA's score is a fraction over population points, so large blocks of exactly equal
scores are normal. The reported TPR at FPR f must be what the best threshold that the
scores allow gives, computed here by brute force over every threshold.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dpaudit import attacks
from dpaudit.attacks import evaluate, roc_curve


@pytest.fixture(autouse=True)
def _quiet_metric_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        yield


def _best_honest_tpr(scores: np.ndarray, is_member: np.ndarray, level: float) -> float:
    """Max TPR over thresholds t (flag scores >= t, every t in the data or +inf excl.)."""
    best = 0.0
    for t in np.unique(scores):
        flagged = scores >= t
        fpr = flagged[~is_member].mean()
        if fpr <= level:
            best = max(best, flagged[is_member].mean())
    return best


def _tied_scores(seed: int, n: int = 4000, levels: int = 7):
    # Few distinct values, so most ties straddle every FPR level; members sit higher.
    rng = np.random.default_rng(seed)
    is_member = rng.random(n) < 0.5
    scores = np.floor(rng.normal(is_member * 0.8, 1.0) * levels / 4) / levels
    return scores, is_member


@pytest.mark.parametrize("seed", range(5))
def test_tpr_at_fpr_equals_best_threshold_with_large_tied_blocks(seed):
    scores, is_member = _tied_scores(seed)
    assert len(np.unique(scores)) < 40  # blocks of ~100+ tied examples
    metrics = evaluate(scores, is_member, seed=seed)
    for level, tpr in metrics.tpr_at_fpr.items():
        if np.isnan(tpr):
            continue
        assert tpr == _best_honest_tpr(scores, is_member, level)


def test_tie_straddling_the_level_gives_the_lower_vertex_not_an_interpolation():
    # 2000 non-members, 2000 members. The top block holds 1000 members and 40 non-members
    # (FPR 2%); nothing scores between it and the rest. At FPR 1% the only honest
    # threshold flags nothing: TPR 0, never 0.5 * 1%/2% or 1000/2000.
    is_member = np.r_[np.ones(2000, bool), np.zeros(2000, bool)]
    scores = np.r_[np.ones(1000), np.zeros(1000), np.ones(40), np.zeros(1960)]
    metrics = evaluate(scores, is_member)
    assert metrics.tpr_at_fpr[0.01] == 0.0
    assert metrics.tpr_at_fpr[0.1] == 0.5
    fpr, tpr, _ = roc_curve(scores, is_member)
    assert fpr.tolist() == [0.0, 0.02, 1.0] and tpr.tolist() == [0.0, 0.5, 1.0]


@pytest.mark.parametrize("order", ["members_first", "nonmembers_first"])
def test_ties_at_infinity_are_not_split_by_input_order(order):
    # inf - inf is NaN: a diff-based run detection used to split this block by input
    # order and report TPR 0.5 at FPR 0 when members came first.
    members = np.array([np.inf, np.inf, 0.5, 0.2])
    nonmembers = np.array([np.inf, np.inf, 0.1, -np.inf, -np.inf])
    if order == "members_first":
        scores, is_member = np.r_[members, nonmembers], np.r_[np.ones(4), np.zeros(5)]
    else:
        scores, is_member = np.r_[nonmembers, members], np.r_[np.zeros(5), np.ones(4)]
    fpr, tpr, thresholds = roc_curve(scores, is_member)
    assert fpr.tolist() == [0.0, 0.4, 0.4, 0.4, 0.6, 1.0]
    assert tpr.tolist() == [0.0, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert thresholds.tolist() == [np.inf, np.inf, 0.5, 0.2, 0.1, -np.inf]


def test_ties_do_not_change_the_auc_from_mann_whitney_with_half_credit():
    scores, is_member = _tied_scores(11, n=600)
    pos, neg = scores[is_member], scores[~is_member]
    naive = ((pos[:, None] > neg[None, :]).sum()
             + 0.5 * (pos[:, None] == neg[None, :]).sum()) / (len(pos) * len(neg))
    metrics = evaluate(scores, is_member)
    assert metrics.auc == pytest.approx(naive, abs=1e-12)
    fpr, tpr, _ = roc_curve(scores, is_member)
    assert np.trapezoid(tpr, fpr) == pytest.approx(naive, abs=1e-12)

