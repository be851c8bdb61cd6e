"""Tests of attacks.canary_bounds: one-run, Clopper-Pearson and Gaussian-DP canary bounds.

Three tiers: deterministic unit tests; reference tests against independent
computations (a naive loop over the binomial pmf, exact binomial tails, a closed form);
statistical soundness/power tests on mechanisms whose true epsilon is known exactly
(randomized response on the inclusion bit is epsilon-DP; "inclusion + N(0, sigma^2)" is
(1/sigma)-GDP), with fixed seeds and the false-failure rate written next to each bound.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from dpaudit.attacks.canary_bounds import (default_guess_counts, gdp_audit, multi_run_audit,
                                           one_run_audit, one_run_epsilon_lower_bound,
                                           one_run_p_value)


def _needs_metrics():
    """multi_run_audit / gdp_audit reuse attacks.metrics (helper C's module)."""
    return pytest.importorskip("dpaudit.attacks.metrics")


def _randomized_response(epsilon: float, m: int, rng: np.random.Generator):
    """m canaries with fair inclusion coins, each reported through eps-DP randomized response."""
    included = rng.random(m) < 0.5
    flipped = rng.random(m) < 1.0 / (1.0 + math.exp(epsilon))
    return (included ^ flipped).astype(float), included


def _gaussian_canaries(mu: float, m: int, rng: np.random.Generator):
    """Scores N(mu * included, 1): the Gaussian mechanism on the inclusion bit, mu-GDP."""
    included = rng.random(m) < 0.5
    return rng.normal(size=m) + mu * included, included


def _naive_p_value(m, r, v, epsilon, delta):
    """Theorem 5.2 of Steinke et al. written out term by term with math.comb."""
    q = math.exp(epsilon) / (1.0 + math.exp(epsilon))

    def tail(k):  # P[Binomial(r, q) >= k]
        return sum(math.comb(r, j) * q ** j * (1 - q) ** (r - j)
                   for j in range(max(k, 0), r + 1))

    f_v = tail(v)
    alpha = max([(tail(v - i) - f_v) / i for i in range(1, m + 1)], default=0.0)
    return min(1.0, f_v + 2 * m * delta * alpha)


# ------------------------------------------------------------------ unit / reference


@pytest.mark.parametrize("m,r,v,epsilon,delta", [
    (10, 10, 10, 0.0, 0.0), (10, 10, 7, 1.0, 0.0), (50, 20, 18, 2.0, 1e-3),
    (30, 30, 25, 0.5, 1e-2), (100, 40, 20, 3.0, 1e-4), (5, 5, 0, 1.0, 0.1),
])
def test_p_value_matches_naive_formula(m, r, v, epsilon, delta):
    got = one_run_p_value(num_canaries=m, num_guesses=r, num_correct=v, epsilon=epsilon,
                          delta=delta)
    assert got == pytest.approx(_naive_p_value(m, r, v, epsilon, delta), rel=1e-9, abs=1e-12)


def test_p_value_without_delta_is_the_binomial_tail():
    got = one_run_p_value(num_canaries=500, num_guesses=100, num_correct=80, epsilon=1.5,
                          delta=0.0)
    q = math.exp(1.5) / (1 + math.exp(1.5))
    assert got == pytest.approx(float(stats.binom.sf(79, 100, q)), rel=1e-12)


def test_p_value_grows_with_epsilon_and_delta():
    kwargs = dict(num_canaries=1000, num_guesses=60, num_correct=55)
    by_eps = [one_run_p_value(**kwargs, epsilon=e, delta=1e-4) for e in np.linspace(0, 8, 81)]
    assert np.all(np.diff(by_eps) >= 0)
    by_delta = [one_run_p_value(**kwargs, epsilon=1.0, delta=d) for d in (0, 1e-6, 1e-4, 1e-2)]
    assert np.all(np.diff(by_delta) > 0)


def test_epsilon_bound_is_the_p_value_crossing():
    kwargs = dict(num_canaries=1000, num_guesses=100, num_correct=90)
    eps = one_run_epsilon_lower_bound(**kwargs, delta=1e-5, confidence=0.95)
    assert one_run_p_value(**kwargs, epsilon=eps, delta=1e-5) < 0.05
    assert one_run_p_value(**kwargs, epsilon=eps + 1e-5, delta=1e-5) >= 0.05


def test_all_correct_guesses_closed_form():
    # delta = 0, v = r: p = q^r, so the bound is eps with (e^eps/(1+e^eps))^r = 0.05.
    eps = one_run_epsilon_lower_bound(num_canaries=100, num_guesses=20, num_correct=20,
                                      delta=0.0, confidence=0.95)
    q = 0.05 ** (1 / 20)
    assert eps == pytest.approx(math.log(q / (1 - q)), abs=1e-5)


def test_delta_and_confidence_make_the_bound_smaller():
    kwargs = dict(num_canaries=2000, num_guesses=100, num_correct=92)
    base = one_run_epsilon_lower_bound(**kwargs, delta=0.0, confidence=0.95)
    assert one_run_epsilon_lower_bound(**kwargs, delta=1e-4, confidence=0.95) < base
    assert one_run_epsilon_lower_bound(**kwargs, delta=0.0, confidence=0.99) < base


def test_chance_level_guessing_gives_zero():
    assert one_run_epsilon_lower_bound(num_canaries=100, num_guesses=50, num_correct=25,
                                       delta=1e-5) == 0.0
    assert one_run_epsilon_lower_bound(num_canaries=100, num_guesses=0, num_correct=0,
                                       delta=1e-5) == 0.0


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_canaries=10, num_guesses=11, num_correct=1), "num_guesses must be <="),
    (dict(num_canaries=10, num_guesses=5, num_correct=6), "num_correct must be <="),
    (dict(num_canaries=0, num_guesses=0, num_correct=0), "num_canaries must be >= 1"),
])
def test_count_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        one_run_epsilon_lower_bound(**kwargs, delta=1e-5)


def test_argument_validation_names_the_argument():
    with pytest.raises(ValueError, match="delta must be in"):
        one_run_p_value(num_canaries=5, num_guesses=1, num_correct=1, epsilon=1.0, delta=2.0)
    with pytest.raises(ValueError, match="epsilon must be non-negative"):
        one_run_p_value(num_canaries=5, num_guesses=1, num_correct=1, epsilon=-1.0, delta=0.0)
    with pytest.raises(ValueError, match="confidence must be in"):
        one_run_epsilon_lower_bound(num_canaries=5, num_guesses=1, num_correct=1,
                                    delta=0.0, confidence=1.0)
    with pytest.raises(ValueError, match="is_member and scores|scores and is_member"):
        one_run_audit([1.0, 2.0], [True])
    with pytest.raises(ValueError, match=r"guess_counts\[0\] must make between 1 and 4"):
        one_run_audit([1.0, 2.0, 3.0, 4.0], [1, 0, 1, 0], guess_counts=[(3, 2)])
    with pytest.raises(ValueError, match="scores contains 1 NaN"):
        one_run_audit([1.0, float("nan")], [1, 0])


def test_one_run_audit_counts_guesses_from_the_ranking():
    # Scores 0..9; included canaries are 9, 8, 7, 1 and 0 -> top 3 all in (3 correct),
    # bottom 2 both included (0 correct "out" guesses).
    included = np.array([1, 1, 0, 0, 0, 0, 0, 1, 1, 1], dtype=bool)
    audit = one_run_audit(np.arange(10.0), included, delta=0.0, guess_counts=[(3, 2)])
    assert (audit.k_plus, audit.k_minus, audit.num_guesses, audit.num_correct) == (3, 2, 5, 3)
    assert audit.num_candidates == 1 and audit.num_canaries == 10
    # Flipping the scores swaps which guesses are right.
    audit = one_run_audit(-np.arange(10.0), included, delta=0.0, guess_counts=[(3, 2)])
    assert audit.num_correct == 2 + 0  # top 3 of -score: 0, 1 (in), 2 (out); bottom 2: 9, 8


def test_one_run_audit_uses_bonferroni_over_candidates():
    rng = np.random.default_rng(3)
    scores, included = _gaussian_canaries(3.0, 1000, rng)
    single = one_run_audit(scores, included, delta=1e-5, guess_counts=[(25, 25)])
    several = one_run_audit(scores, included, delta=1e-5,
                            guess_counts=[(25, 25), (26, 26), (27, 27), (28, 28)])
    at_corrected = one_run_epsilon_lower_bound(
        num_canaries=1000, num_guesses=50, num_correct=single.num_correct, delta=1e-5,
        confidence=1 - 0.05 / 4)
    assert several.num_candidates == 4
    assert several.epsilon_lower_bound >= at_corrected
    assert at_corrected < single.epsilon_lower_bound


def test_ties_are_broken_by_seed_not_by_label():
    # All scores equal: guesses are a random subset, so the bound is ~0 for any seed.
    included = np.arange(400) % 2 == 0
    for seed in range(5):
        audit = one_run_audit(np.zeros(400), included, delta=0.0, seed=seed)
        assert audit.epsilon_lower_bound < 0.5
    a = one_run_audit(np.zeros(400), included, delta=0.0, seed=7)
    b = one_run_audit(np.zeros(400), included, delta=0.0, seed=7)
    assert a == b


def test_default_guess_counts():
    assert default_guess_counts(1000) == ((10, 10), (50, 50), (200, 200))
    assert default_guess_counts(100) == ((5, 5), (20, 20))
    assert default_guess_counts(4) == ((2, 2),)
    assert default_guess_counts(1) == ((1, 0),)


# -------------------------------------------------------------- statistical (one run)

# Trials per soundness test. If the bound failed (exceeded the true epsilon) at exactly
# the nominal 5% rate, P[Binomial(400, 0.05) > 32] = 0.4%: that is the false-failure
# rate of each `failures <= 32` assertion below; the rates measured with these seeds are
# far lower (listed per test).
_TRIALS = 400
_MAX_FAILURES = 32


@pytest.mark.parametrize("epsilon", [1.0, 3.0])
def test_one_run_sound_on_randomized_response(epsilon):
    # eps-DP randomized response is the worst case of the theorem (W is exactly
    # Binomial). Measured with these seeds: 19/400 failures (4.75%) at eps 1, 5/400 at eps 3.
    rng = np.random.default_rng(20230508)
    failures = 0
    for trial in range(_TRIALS):
        scores, included = _randomized_response(epsilon, 1000, rng)
        bound = one_run_audit(scores, included, delta=0.0, seed=trial).epsilon_lower_bound
        failures += bound >= epsilon
    assert failures <= _MAX_FAILURES


def test_one_run_sound_on_gaussian_mechanism_with_delta():
    # mu = 2 GDP is (eps, 1e-5)-DP with eps = 10.0 (closed form of Dong, Roth, Su,
    # Cor. 2.13, recomputed here with scipy).
    mu, delta = 2.0, 1e-5

    def gdp_delta(eps):
        return (stats.norm.cdf(-eps / mu + mu / 2)
                - math.exp(eps) * stats.norm.cdf(-eps / mu - mu / 2))

    from scipy.optimize import brentq
    true_epsilon = brentq(lambda e: gdp_delta(e) - delta, 0.0, 50.0)
    rng = np.random.default_rng(7)
    bounds = []
    for trial in range(_TRIALS // 4):
        scores, included = _gaussian_canaries(mu, 1000, rng)
        bounds.append(one_run_audit(scores, included, delta=delta,
                                    seed=trial).epsilon_lower_bound)
    # Measured: max bound 3.45 vs true 10.0 -- no failure in 100 trials.
    assert max(bounds) < true_epsilon
    # Power: mu = 2 separates well; the median bound is 3.13 with these seeds.
    assert np.median(bounds) > 2.5


def test_one_run_delta_term_is_needed_for_approximate_dp():
    # (1, delta)-DP mechanism: with probability delta = 0.05 the canary's bit is revealed
    # (score +-inf), otherwise randomized response at eps = 1. The pure-DP analysis
    # (delta = 0) wrongly refutes eps = 1 in most trials; Theorem 5.2's delta term
    # keeps it sound. Measured with these seeds: the delta=0 bound exceeds 1 in 100/100
    # trials; the delta=0.05 bound exceeds it in 0/100.
    epsilon, delta, m = 1.0, 0.05, 1000
    rng = np.random.default_rng(11)
    naive_failures = sound_failures = 0
    for trial in range(100):
        scores, included = _randomized_response(epsilon, m, rng)
        revealed = rng.random(m) < delta
        scores[revealed] = np.where(included[revealed], np.inf, -np.inf)
        pairs = [(25, 25)]
        naive = one_run_audit(scores, included, delta=0.0, guess_counts=pairs, seed=trial)
        sound = one_run_audit(scores, included, delta=delta, guess_counts=pairs, seed=trial)
        naive_failures += naive.epsilon_lower_bound >= epsilon
        sound_failures += sound.epsilon_lower_bound >= epsilon
    assert naive_failures >= 50  # the test can fail: without the delta term it would
    assert sound_failures <= 10  # 10/100 at a nominal 5% rate: P[Bin(100,.05)>10] = 1.1%


def test_one_run_power_grows_with_canaries():
    # Randomized response at eps = 4: the bound approaches 4 as m grows. Medians over 40
    # trials with these seeds: 1.8 (m=200), 3.0 (m=1000), 3.5 (m=5000).
    rng = np.random.default_rng(5)
    medians = []
    for m in (200, 1000, 5000):
        medians.append(np.median([
            one_run_audit(*_randomized_response(4.0, m, rng), delta=0.0,
                          seed=t).epsilon_lower_bound for t in range(40)]))
    assert medians[0] < medians[1] < medians[2] < 4.0
    assert medians[2] > 3.0


# ------------------------------------------------------------------------- many runs


def test_multi_run_fixed_threshold_matches_error_counts():
    metrics = _needs_metrics()
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.9, 0.2, 0.7, 0.05])
    included = np.array([0, 0, 1, 1, 1, 0, 1, 0], dtype=bool)
    audit = multi_run_audit(scores, included, delta=1e-5, threshold=0.38)
    # >= 0.38 flags 0.4 (out: one false positive), 0.8, 0.9, 0.7; misses 0.35 (in).
    assert (audit.false_positives, audit.n_negatives) == (1, 4)
    assert (audit.false_negatives, audit.n_positives) == (1, 4)
    assert audit.n_calibration == 0
    assert audit.epsilon_lower_bound == metrics.epsilon_from_error_counts(
        1, 4, 1, 4, delta=1e-5, confidence=0.95)


def test_multi_run_splits_by_run():
    _needs_metrics()
    rng = np.random.default_rng(0)
    scores, included = _gaussian_canaries(2.0, 2000, rng)
    runs = np.repeat(np.arange(20), 100)
    audit = multi_run_audit(scores, included, run_ids=runs, seed=1)
    # Whole runs go to calibration: 10 of 20 runs of 100 observations.
    assert audit.n_calibration == 1000
    assert audit.n_negatives + audit.n_positives == 1000
    with pytest.raises(ValueError, match="at least 2 runs"):
        multi_run_audit(scores, included, run_ids=np.zeros(2000))
    with pytest.raises(ValueError, match="run_ids must have one entry per score"):
        multi_run_audit(scores, included, run_ids=np.zeros(5))


def test_multi_run_sound_and_powerful_on_randomized_response():
    # Each observation is an independent eps-DP randomized response. Failures with these
    # seeds: 5/400 (the nominal rate is 5%; P[Bin(400, 0.05) > 32] = 0.4% is the
    # false-failure rate of the assertion).
    _needs_metrics()
    epsilon = 2.0
    rng = np.random.default_rng(99)
    bounds = []
    for trial in range(_TRIALS):
        scores, included = _randomized_response(epsilon, 2000, rng)
        bounds.append(multi_run_audit(scores, included, seed=trial).epsilon_lower_bound)
    bounds = np.array(bounds)
    assert np.sum(bounds >= epsilon) <= _MAX_FAILURES
    # Power: with 1000 evaluation observations, the median bound is 1.77 (seeds above).
    assert np.median(bounds) > 1.3


# ---------------------------------------------------------------------- Gaussian DP


def test_gdp_audit_point_estimate_is_cohens_d():
    _needs_metrics()
    inside = np.array([1.0, 2.0, 3.0, 4.0])
    outside = np.array([0.0, 1.0, 2.0])
    scores = np.concatenate([inside, outside])
    included = np.arange(7) < 4
    pooled = math.sqrt((np.var(inside) * 4 + np.var(outside) * 3) / 5)
    audit = gdp_audit(scores, included, delta=1e-5)
    assert audit.mu == pytest.approx((2.5 - 1.0) / pooled)
    lo, hi = audit.mu_interval
    assert lo < audit.mu_lower < audit.mu < hi
    assert audit.epsilon >= audit.epsilon_lower_bound >= 0.0
    assert (audit.n_members, audit.n_nonmembers) == (4, 3)


def test_gdp_interval_matches_large_sample_normal_approximation():
    # Reference: for large n, mu_hat ~ N(mu, (1/n1 + 1/n0) (1 + mu^2 / (2 (n1 + n0)))
    # approximately (Hedges & Olkin 1985); the exact noncentral-t bound must agree.
    _needs_metrics()
    rng = np.random.default_rng(1)
    scores, included = _gaussian_canaries(1.0, 40000, rng)
    audit = gdp_audit(scores, included, delta=1e-5, confidence=0.95)
    n1, n0 = int(included.sum()), int((~included).sum())
    se = math.sqrt((n1 + n0) / (n1 * n0) + audit.mu ** 2 / (2 * (n1 + n0)))
    assert audit.mu_lower == pytest.approx(audit.mu - 1.6449 * se, abs=2e-3)
    assert audit.mu_interval[1] == pytest.approx(audit.mu + 1.96 * se, abs=2e-3)


def test_gdp_lower_bound_covers_true_mu():
    # Coverage of the one-sided 95% bound on mu for exactly Gaussian scores. Measured
    # with these seeds: mu_lower > mu in 16/400 trials (4%); P[Bin(400, .05) > 32] =
    # 0.4% is the false-failure rate of the assertion.
    metrics = _needs_metrics()
    mu = 0.9
    rng = np.random.default_rng(2024)
    failures = 0
    for _ in range(_TRIALS):
        scores, included = _gaussian_canaries(mu, 300, rng)
        audit = gdp_audit(scores, included, delta=1e-5)
        failures += audit.mu_lower > mu
        assert audit.epsilon_lower_bound == pytest.approx(
            metrics.gdp_mu_to_epsilon(audit.mu_lower, 1e-5))
    assert failures <= _MAX_FAILURES


def test_gdp_audit_input_errors():
    _needs_metrics()
    with pytest.raises(ValueError, match="at least 2 included and 2 excluded"):
        gdp_audit([1.0, 2.0, 3.0], [1, 0, 0])
    with pytest.raises(ValueError, match="zero spread"):
        gdp_audit([1.0, 1.0, 0.0, 0.0], [1, 1, 0, 0])
    with pytest.raises(ValueError, match="finite"):
        gdp_audit([np.inf, 1.0, 0.0, 0.0], [1, 1, 0, 0])


# ------------------------------------------------------------------ design ceilings


def test_one_run_ceiling_matches_the_issue_figures():
    from dpaudit.attacks.canary_bounds import one_run_ceiling

    # Issue 12: 100 black-box canaries cannot prove more than 2.33 (4.5 at 1,000), at 95%.
    assert one_run_ceiling(num_canaries=100, delta=1e-5) == pytest.approx(2.33, abs=0.01)
    assert one_run_ceiling(num_canaries=1000, delta=1e-5) == pytest.approx(4.53, abs=0.01)
    stricter = one_run_ceiling(num_canaries=1000, delta=1e-5, confidence=0.999)
    assert stricter < one_run_ceiling(num_canaries=1000, delta=1e-5)


def test_one_run_ceiling_reference_closed_form():
    """delta = 0, one guess count of r guesses all right: p(eps) = expit(eps)^r, so the
    ceiling is logit(alpha^(1/r)) (independent computation)."""
    from scipy import special

    from dpaudit.attacks.canary_bounds import one_run_ceiling

    for r, confidence in [(10, 0.95), (100, 0.999), (400, 0.95)]:
        expected = float(special.logit((1 - confidence) ** (1 / r)))
        got = one_run_ceiling(num_canaries=1000, delta=0.0, confidence=confidence,
                              guess_counts=[(r // 2, r - r // 2)])
        assert got == pytest.approx(expected, abs=1e-5)


def test_no_audit_exceeds_its_ceiling_and_perfect_separation_reaches_it():
    from dpaudit.attacks.canary_bounds import multi_run_ceiling, one_run_ceiling

    rng = np.random.default_rng(3)
    included = rng.random(600) < 0.5
    perfect = included.astype(float) + 1e-3 * rng.random(600)
    for confidence in (0.95, 0.999):
        audit = one_run_audit(perfect, included, delta=1e-5, confidence=confidence)
        ceiling = one_run_ceiling(num_canaries=600, delta=1e-5, confidence=confidence)
        assert audit.epsilon_lower_bound == pytest.approx(ceiling, abs=1e-5)
        leaky = rng.normal(size=600) + 2.0 * included
        assert one_run_audit(leaky, included, delta=1e-5,
                             confidence=confidence).epsilon_lower_bound <= ceiling
    _needs_metrics()
    multi = multi_run_audit(perfect, included, delta=1e-5, threshold=0.5)
    assert multi.epsilon_lower_bound == pytest.approx(multi_run_ceiling(
        n_positives=multi.n_positives, n_negatives=multi.n_negatives, delta=1e-5),
        abs=1e-9)


def test_ceilings_reject_bad_input():
    from dpaudit.attacks.canary_bounds import multi_run_ceiling, one_run_ceiling

    with pytest.raises(ValueError, match="num_canaries"):
        one_run_ceiling(num_canaries=0, delta=1e-5)
    with pytest.raises(ValueError, match="n_negatives"):
        multi_run_ceiling(n_positives=5, n_negatives=0, delta=1e-5)
