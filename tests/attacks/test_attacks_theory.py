"""The (epsilon, delta) ROC ceiling (Kairouz, Oh, Viswanath 2015) and points above it."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from dpaudit.attacks import (default_fpr_grid, dp_roc_ceiling, dp_tpr_ceiling,
                             epsilon_from_error_counts, roc_point_exceeds_ceiling)
from dpaudit.attacks.gdp import gdp_delta

GRID = np.linspace(0, 1, 1001)


def test_epsilon_zero_delta_zero_is_the_diagonal():
    np.testing.assert_allclose(dp_tpr_ceiling(GRID, 0.0, 0.0), GRID, atol=1e-15)
    fpr, tpr = dp_roc_ceiling(0.0, 0.0)
    np.testing.assert_allclose(tpr, fpr, atol=1e-15)
    assert fpr[0] == 0.0 and fpr[-1] == 1.0


@pytest.mark.parametrize("fpr, epsilon, delta, expected", [
    (0.25, math.log(2), 0.0, 0.5),        # e^eps * fpr binds
    (0.6, math.log(2), 0.0, 0.8),         # 1 - e^-eps (1 - fpr) binds
    (0.0, 3.0, 0.01, 0.01),               # at FPR 0 only delta is reachable
    (0.2, 0.0, 0.1, 0.3),                 # eps 0: the diagonal lifted by delta
    (0.5, math.log(3), 0.0, 1 - 0.5 / 3),  # kink at fpr = 1 / (1 + e^eps) = 0.25 passed
    (0.01, 2.0, 1e-5, math.exp(2) * 0.01 + 1e-5),
    (0.3, 5.0, 0.0, 1 - 0.7 * math.exp(-5)),
    (1.0, 5.0, 0.0, 1.0),                 # capped at 1
    (0.1, math.inf, 0.0, 1.0),            # infinite epsilon bounds nothing
    (0.0, math.inf, 0.0, 1.0),
])
def test_ceiling_hand_values(fpr, epsilon, delta, expected):
    assert dp_tpr_ceiling(fpr, epsilon, delta) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("epsilon, delta", [(0.5, 0.0), (1.0, 1e-5), (4.0, 0.01), (8.4, 1e-5)])
def test_ceiling_is_monotone_concave_and_between_diagonal_and_one(epsilon, delta):
    tpr = dp_tpr_ceiling(GRID, epsilon, delta)
    assert (np.diff(tpr) >= -1e-15).all()
    assert (np.diff(tpr, 2) <= 1e-12).all()  # concave on the even grid
    assert (tpr >= GRID - 1e-15).all() and (tpr <= 1).all()
    # More epsilon or more delta never lowers the ceiling.
    assert (dp_tpr_ceiling(GRID, epsilon + 0.5, delta) >= tpr).all()
    assert (dp_tpr_ceiling(GRID, epsilon, delta + 1e-3) >= tpr).all()


def test_a_curve_of_pairs_takes_the_minimum_of_each_pairs_ceiling():
    eps = np.array([0.5, 1.0, 2.0, 4.0])
    dlt = np.array([0.2, 0.05, 1e-3, 1e-6])
    per_pair = np.stack([dp_tpr_ceiling(GRID, e, d) for e, d in zip(eps, dlt)])
    np.testing.assert_array_equal(dp_tpr_ceiling(GRID, eps, dlt), per_pair.min(axis=0))
    _, tpr = dp_roc_ceiling(eps, dlt, fpr=GRID)
    np.testing.assert_array_equal(tpr, per_pair.min(axis=0))


def test_gaussian_mechanism_lies_under_its_own_curve_and_the_curve_is_tight():
    # mu-GDP's exact trade-off: TPR = Phi(Phi^-1(FPR) + mu) (Dong, Roth, Su 2022). Its
    # (epsilon, delta(epsilon)) curve must give a ceiling on or above it (soundness) and,
    # with many pairs, close to it (the envelope; tightness).
    mu = 1.0
    eps = np.linspace(0, 8, 400)
    dlt = np.array([gdp_delta(mu, e) for e in eps])
    fpr = default_fpr_grid()
    exact = special.ndtr(special.ndtri(fpr) + mu)
    ceiling = dp_tpr_ceiling(fpr, eps, dlt)
    assert (ceiling >= exact - 1e-12).all()
    assert np.max(ceiling - exact) < 5e-3
    # Any one pair alone is sound but loose.
    single = dp_tpr_ceiling(fpr, eps[50], dlt[50])
    assert (single >= ceiling - 1e-12).all() and np.max(single - exact) > 0.05


def test_a_point_above_the_ceiling_beyond_sampling_error_is_flagged():
    # 1.0-DP allows TPR <= e * 1% + 1e-5 ~ 2.7% at 1% FPR: 600/1000 is far above.
    check = roc_point_exceeds_ceiling(600, 1000, 10, 1000, epsilon=1.0, delta=1e-5)
    assert check.exceeds is True and check.tpr_lower > check.ceiling
    # Exactly on the ceiling (and below it) is never a contradiction.
    on = roc_point_exceeds_ceiling(272, 10000, 100, 10000, epsilon=1.0, delta=0.0)
    assert on.exceeds is False
    # Few trials: the interval is wide, nothing is proved.
    few = roc_point_exceeds_ceiling(3, 5, 0, 5, epsilon=0.5, delta=0.0)
    assert few.exceeds is False


def test_ceiling_check_limits_are_clopper_pearson_and_vectorised():
    tp = np.array([50, 400, 700])
    fp = np.array([1, 20, 500])
    check = roc_point_exceeds_ceiling(tp, 1000, fp, 1000, epsilon=[0.5, 2.0],
                                      delta=[1e-3, 1e-6], confidence=0.9)
    np.testing.assert_allclose(check.tpr_lower, stats.beta.ppf(0.05, tp, 1000 - tp + 1))
    np.testing.assert_allclose(check.fpr_upper, stats.beta.ppf(0.95, fp + 1, 1000 - fp))
    np.testing.assert_allclose(check.ceiling,
                               dp_tpr_ceiling(check.fpr_upper, [0.5, 2.0], [1e-3, 1e-6]))
    assert check.exceeds.tolist() == (check.tpr_lower > check.ceiling).tolist()
    assert check.exceeds.tolist() == [True, True, False]


@pytest.mark.parametrize("call, message", [
    (lambda: dp_tpr_ceiling(0.1, -1.0, 0.0), "epsilon must be >= 0"),
    (lambda: dp_tpr_ceiling(0.1, 1.0, 1.5), r"delta must be in \[0, 1\]"),
    (lambda: dp_tpr_ceiling(1.1, 1.0, 0.0), "fpr must be"),
    (lambda: dp_tpr_ceiling(0.1, [1.0, 2.0, 3.0], [0.1, 0.2]), "pair up one to one"),
    (lambda: dp_tpr_ceiling(0.1, [], 0.0), "at least one"),
])
def test_bad_input_names_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_ceiling_is_the_boundary_of_the_epsilon_bound_from_error_counts():
    # attacks.bounds inverts the same two inequalities: a point on the ceiling, measured
    # with huge counts (Clopper-Pearson limits ~ the rates), proves epsilon back.
    n = 10 ** 9
    for epsilon, delta, fpr in [(2.0, 1e-5, 0.01), (1.0, 0.0, 0.3), (0.5, 1e-3, 0.6)]:
        tpr = float(dp_tpr_ceiling(fpr, epsilon, delta))
        assert tpr < 1
        proved = epsilon_from_error_counts(round(fpr * n), n, round((1 - tpr) * n), n,
                                           delta=delta, confidence=0.95)
        assert proved == pytest.approx(epsilon, abs=2e-3)


@pytest.mark.parametrize("true_mu, flagged", [(1.0, False), (3.0, True)])
def test_a_gaussian_mechanism_is_flagged_only_when_it_leaks_more_than_claimed(true_mu, flagged):
    # The claim: mu = 1 GDP, as its (epsilon, delta(epsilon)) curve. Scores N(0, 1) for
    # non-members and N(true_mu, 1) for members; threshold fixed in advance at 1.5.
    # Sound: the honest mechanism is never flagged at 95% (a false alarm has probability
    # <= 5% over seeds). Power: mu = 3 reaches TPR 0.93 at FPR 0.067, where mu = 1 allows
    # 0.31, so it is flagged with near certainty at these counts.
    rng = np.random.default_rng(7)
    n = 20_000
    claimed_eps = np.linspace(0, 8, 200)
    claimed_delta = np.array([gdp_delta(1.0, e) for e in claimed_eps])
    members = rng.normal(true_mu, 1, n)
    nonmembers = rng.normal(0, 1, n)
    check = roc_point_exceeds_ceiling(int((members >= 1.5).sum()), n,
                                      int((nonmembers >= 1.5).sum()), n, claimed_eps,
                                      claimed_delta)
    assert check.exceeds is flagged
