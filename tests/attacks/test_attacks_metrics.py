"""Unit and reference tests of attacks.metrics (deterministic; no statistical tolerance)."""

from __future__ import annotations

import dataclasses
import math
import warnings

import numpy as np
import pytest
from scipy import special
from sklearn import metrics as skm

from dpaudit import attacks
from dpaudit.attacks.metrics import (AttackMetrics, MetricWarning, evaluate, per_class_auc,
                             roc_curve, score_histogram)

# Small inputs cannot resolve every FPR level; that warning has its own tests.
pytestmark = pytest.mark.filterwarnings("ignore::attacks.metrics.MetricWarning")


def _quantile_scores(mu: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """N(mu,1) members vs N(0,1) non-members from normal quantiles: no RNG."""
    grid = special.ndtri((np.arange(n) + 0.5) / n)
    return np.r_[grid + mu, grid], np.arange(2 * n) < n


# --- reference: AUC and ROC against scikit-learn ---------------------------------------

@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("levels", [3, 20, None])  # few distinct values = many ties
def test_auc_equals_sklearn_including_ties(seed, levels):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    scores = rng.normal(size=n) if levels is None else rng.integers(0, levels, n) * 1.0
    is_member = rng.random(n) < rng.uniform(0.2, 0.8)
    is_member[:2] = [True, False]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(scores, is_member)
    assert result.auc == pytest.approx(skm.roc_auc_score(is_member, scores), abs=1e-12)
    fpr, tpr, thresholds = skm.roc_curve(is_member, scores, drop_intermediate=False)
    np.testing.assert_allclose(result.fpr, fpr)
    np.testing.assert_allclose(result.tpr, tpr)
    np.testing.assert_array_equal(result.thresholds[1:], thresholds[1:])
    assert result.advantage == pytest.approx(np.max(tpr - fpr))


def test_delong_variance_matches_naive_pairwise_reference():
    # Naive O(n^2) structural components of DeLong et al. (1988), psi = 1, 1/2, 0.
    rng = np.random.default_rng(3)
    members = rng.integers(0, 6, 40) * 1.0 + 0.5
    nonmembers = rng.integers(0, 6, 55) * 1.0
    psi = (members[:, None] > nonmembers[None, :]) + 0.5 * (members[:, None] == nonmembers)
    v10, v01 = psi.mean(axis=1), psi.mean(axis=0)
    variance = v10.var(ddof=1) / len(members) + v01.var(ddof=1) / len(nonmembers)
    auc = psi.mean()
    # The interval is normal on the logit scale: logit(AUC) +- z * SE / (AUC (1 - AUC)).
    half = special.ndtri(0.975) * math.sqrt(variance) / (auc * (1 - auc))
    logit = math.log(auc / (1 - auc))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(np.r_[members, nonmembers], np.arange(95) < 40)
    assert result.auc == pytest.approx(auc)
    assert result.auc_ci == pytest.approx((1 / (1 + math.exp(-(logit - half))),
                                           1 / (1 + math.exp(-(logit + half)))))
    assert result.auc_ci_method.startswith("DeLong")


def test_auc_of_quantile_gaussians_is_phi_mu_over_root2():
    scores, is_member = _quantile_scores(1.0, 4000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(scores, is_member)
    # Quantile grids have no sampling error; the remaining discretisation is O(1/n).
    assert result.auc == pytest.approx(special.ndtr(1 / math.sqrt(2)), abs=2e-3)
    assert result.gdp_mu == pytest.approx(1.0, abs=0.01)
    assert result.epsilon_gdp == pytest.approx(attacks.gdp_mu_to_epsilon(1.0, 1e-5),
                                               rel=0.01)


# --- unit: hand-computed values ---------------------------------------------------------

def test_hand_computed_example():
    # members 4, 3, 1; non-members 2, 0 -> pairs won: 4>2,4>0,3>2,3>0,1>0 = 5 of 6.
    result = evaluate([4, 3, 1, 2, 0], [1, 1, 1, 0, 0], seed=0)
    assert result.auc == pytest.approx(5 / 6)
    np.testing.assert_allclose(result.tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1])
    np.testing.assert_allclose(result.fpr, [0, 0, 0, 0.5, 0.5, 1])
    assert result.advantage == pytest.approx(2 / 3 + 0.5 - 0.5)
    assert (result.n_members, result.n_nonmembers) == (3, 2)


def test_tpr_at_fpr_uses_the_largest_threshold_within_the_fpr():
    # 100 non-members at 0..99, members all at 98.5: flagging >= 98.5 gives FPR 0.01.
    scores = np.r_[np.arange(100.0), np.full(100, 98.5)]
    is_member = np.arange(200) >= 100
    with pytest.warns(MetricWarning, match="0.001 .needs 10000.*0.01 .needs 1000"):
        result = evaluate(scores, is_member)
    assert math.isnan(result.tpr_at_fpr[0.001]) and math.isnan(result.tpr_at_fpr[0.01])
    assert result.tpr_at_fpr[0.1] == 1.0


def test_tpr_at_fpr_resolved_with_enough_nonmembers():
    scores, is_member = _quantile_scores(2.0, 10000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", MetricWarning)  # nothing unresolved here
        result = evaluate(scores, is_member)
    members, nonmembers = scores[is_member], scores[~is_member]
    for level in attacks.FPR_LEVELS:
        # Naive reference: best TPR over thresholds whose FPR is within the level.
        # (Thresholds below the 89th non-member percentile have FPR > 0.1: skipped.)
        candidates = np.unique(scores[scores >= np.quantile(nonmembers, 0.89)])
        naive = max(np.mean(members >= t) for t in candidates
                    if np.mean(nonmembers >= t) <= level)
        assert result.tpr_at_fpr[level] == naive
        # And the population value Phi(mu - Phi^-1(1 - f)), up to the grid's resolution.
        expected = special.ndtr(2.0 - special.ndtri(1 - level))
        assert result.tpr_at_fpr[level] == pytest.approx(expected, abs=5e-3)
    assert set(result.tpr_at_fpr) == {0.001, 0.01, 0.1}


def test_perfect_separation_gives_a_nondegenerate_interval_and_finite_estimate():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(np.r_[np.ones(500), np.zeros(500)], np.arange(1000) < 500)
    assert result.auc == 1.0
    low, high = result.auc_ci
    # DKW bands at 1 - 0.05/2 each, 500 per class: e = sqrt(ln(2/0.025)/1000);
    # lower = (1 - e)^2 = 0.872 at the threshold between the two groups.
    assert low == pytest.approx((1 - math.sqrt(math.log(80) / 1000)) ** 2)
    assert high == 1.0
    assert "DKW" in result.auc_ci_method
    assert math.isfinite(result.epsilon_gdp) and result.epsilon_gdp > 10
    assert result.epsilon_lower_bound > 3


def test_constant_scores_carry_no_evidence():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        result = evaluate(np.zeros(200), np.arange(200) < 100)
    assert result.auc == 0.5
    assert result.advantage == 0.0
    assert result.epsilon_lower_bound == 0.0
    assert result.epsilon_gdp == 0.0
    assert result.auc_ci[0] <= 0.5 <= result.auc_ci[1]


def test_infinite_scores_rank_correctly():
    result = evaluate([np.inf, 5.0, -np.inf, 1.0], [1, 1, 0, 0])
    assert result.auc == 1.0


def test_result_is_frozen_and_arrays_read_only():
    result = evaluate([3, 2, 1, 0], [1, 0, 1, 0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.auc = 0.9
    with pytest.raises(ValueError):
        result.fpr[0] = 1.0
    assert isinstance(result, AttackMetrics)
    assert result.roc[0] is result.fpr
    assert ", fpr=" not in repr(result)  # arrays stay out of the repr


def test_same_seed_same_result_and_seed_moves_the_split():
    rng = np.random.default_rng(0)
    scores = np.r_[rng.normal(1, 1, 300), rng.normal(0, 1, 300)]
    is_member = np.arange(600) < 300
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetricWarning)
        a, b = evaluate(scores, is_member, seed=7), evaluate(scores, is_member, seed=7)
        others = {evaluate(scores, is_member, seed=s).epsilon_lower_bound for s in range(5)}
    assert a.epsilon_lower_bound == b.epsilon_lower_bound
    assert a.bound == b.bound
    assert len(others) > 1
    assert "seed 7" in a.epsilon_lower_bound_method


# --- undefined and bad input ------------------------------------------------------------

@pytest.mark.parametrize("flags, only", [([1, 1, 1], "members"), ([0, 0], "non-members")])
def test_single_class_gives_nan_and_warns(flags, only):
    with pytest.warns(MetricWarning, match=f"only {only}"):
        result = evaluate(np.arange(len(flags)), flags)
    for value in (result.auc, *result.auc_ci, result.advantage, result.epsilon_lower_bound,
                  result.epsilon_gdp, *result.tpr_at_fpr.values()):
        assert math.isnan(value)
    assert result.fpr.size == 0


@pytest.mark.parametrize("scores, is_member, message", [
    ([1.0, 2.0], [1, 0, 1], r"scores and is_member must have the same length.*"
                            r"scores has 2, is_member has 3"),
    ([1.0, float("nan"), 2.0], [1, 0, 1], r"scores contains 1 NaN.*index 1"),
    ([1.0, 2.0], [1, 2], r"is_member must hold booleans or 0/1, got 2 at index 1"),
    ([1.0, 2.0], [0.5, 1], r"is_member must hold booleans or 0/1"),
    ([[1.0, 2.0]], [1], r"scores must be one-dimensional.*\(1, 2\)"),
    ([], [], r"scores must not be empty"),
])
def test_bad_input_names_the_argument(scores, is_member, message):
    with pytest.raises(ValueError, match=message):
        evaluate(scores, is_member)


@pytest.mark.parametrize("kwargs, message", [
    ({"delta": 1.0}, r"delta must be in \[0, 1\)"),
    ({"delta": -0.1}, r"delta must be in"),
    ({"confidence": 1.0}, r"confidence must be in \(0, 1\)"),
    ({"confidence": 0.0}, r"confidence must be in"),
    ({"seed": -1}, r"seed must be >= 0"),
])
def test_bad_options_name_the_option(kwargs, message):
    with pytest.raises(ValueError, match=message):
        evaluate([1.0, 0.0], [1, 0], **kwargs)


def test_non_numeric_scores_rejected():
    with pytest.raises(TypeError, match="scores must be an array of numbers"):
        evaluate(["a", "b"], [1, 0])
    with pytest.raises(TypeError, match="seed must be an integer"):
        evaluate([1.0, 0.0], [1, 0], seed=1.5)


# --- per-class AUC and histogram ----------------------------------------------------------

def test_per_class_auc_matches_sklearn_per_class():
    rng = np.random.default_rng(5)
    scores = rng.normal(size=600)
    is_member = rng.random(600) < 0.5
    labels = rng.integers(0, 4, 600)
    scores[is_member & (labels == 2)] += 1.0
    result = per_class_auc(scores, is_member, labels)
    assert list(result) == [0, 1, 2, 3] and all(type(k) is int for k in result)
    for label, auc in result.items():
        rows = labels == label
        assert auc == pytest.approx(skm.roc_auc_score(is_member[rows], scores[rows]))
    assert result[2] > 0.7


def test_per_class_auc_nan_for_single_class_labels():
    with pytest.warns(MetricWarning, match="classes b"):
        result = per_class_auc([1, 0, 2, 3], [1, 0, 1, 1], ["a", "a", "b", "b"])
    assert result["a"] == 1.0 and math.isnan(result["b"])
    with pytest.raises(ValueError, match="labels must have the same length|same length"):
        per_class_auc([1, 0], [1, 0], [0, 1, 2])


def test_score_histogram_counts_every_example_once():
    scores = np.r_[np.linspace(-1, 1, 50), np.inf, -np.inf]
    is_member = np.arange(52) % 2 == 0
    hist = score_histogram(scores, is_member, bins=7)
    assert len(hist["edges"]) == 8 and hist["edges"][0] == -1 and hist["edges"][-1] == 1
    assert sum(hist["members"]) == is_member.sum()
    assert sum(hist["nonmembers"]) == (~is_member).sum()
    assert all(isinstance(v, float) for v in hist["edges"])
    constant = score_histogram([2.0, 2.0], [1, 0], bins=3)
    assert constant["members"] == [0, 1, 0] and constant["nonmembers"] == [0, 1, 0]
    with pytest.raises(ValueError, match="bins must be >= 1"):
        score_histogram([1.0], [1], bins=0)


def test_roc_curve_needs_both_classes():
    with pytest.raises(ValueError, match="both members and non-members"):
        roc_curve([1.0, 2.0], [1, 1])
