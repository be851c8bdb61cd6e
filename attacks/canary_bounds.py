"""Epsilon lower bounds from canary audits: one training run, or many.

A canary audit plants m canaries, includes each one in training independently with
probability 1/2, scores every canary after training (higher = "more likely included")
and turns how well the scores separate included from excluded canaries into an
epsilon that the training algorithm provably cannot be below (with a stated
confidence). Three estimators, all numpy/scipy only:

* `one_run_audit` -- Steinke, Nasr, Jagielski, "Privacy Auditing with One (1) Training
  Run", NeurIPS 2023 (https://arxiv.org/abs/2305.08846). The auditor guesses "in" for
  the k+ highest scores, "out" for the k- lowest and abstains on the rest. Under
  epsilon-DP the number of correct guesses among the r = k+ + k- guesses is dominated by
  Binomial(r, e^eps / (1 + e^eps)); under (epsilon, delta)-DP their Theorem 5.2 adds
  2 * m * delta * max_i P[v - i <= Binomial < v] / i to the tail probability of v
  correct guesses (`one_run_p_value`). The lower bound is the largest epsilon whose
  p-value stays below 1 - confidence, found by bisection. It needs ONE training run
  because the m canaries' inclusion bits are the independent coins.
* `multi_run_audit` -- Jagielski, Ullman, Oprea, "Auditing Differentially Private
  Machine Learning: How Private is Private SGD?", NeurIPS 2020
  (https://arxiv.org/abs/2006.07709): a threshold on the score is a membership test;
  one-sided Clopper-Pearson upper bounds on its false-positive and false-negative rates
  bound epsilon (`attacks.metrics.epsilon_from_error_counts`). The threshold is chosen
  on held-out runs so that the counts it is scored on stay independent of it.
* `gdp_audit` -- Nasr, Hayes, Steinke, Balle, Tramer, Jagielski, Carlini, Terzis,
  "Tight Auditing of Differentially Private Machine Learning", USENIX Security 2023
  (https://arxiv.org/abs/2302.07956): model the scores of included and excluded
  canaries as two Gaussians with a common variance, so the mechanism looks mu-GDP with
  mu = (mean_in - mean_out) / pooled std; an exact noncentral-t confidence bound on mu
  is converted to epsilon at delta (`attacks.metrics.gdp_mu_to_epsilon`). This is an
  *estimate*: it is a valid bound only as far as the Gaussian model of the scores holds
  (exactly so for white-box Dirac canaries in full-batch DP-SGD).

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> included = rng.random(2000) < 0.5
    >>> scores = rng.normal(size=2000) + 3.0 * included  # a leaky mechanism
    >>> audit = one_run_audit(scores, included, delta=1e-5, confidence=0.95)
    >>> audit.epsilon_lower_bound > 1.0
    True
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special, stats

from ._validation import (_real, as_membership, as_scores, check_int, check_probability,
                          check_same_length, check_seed)

__all__ = [
    "OneRunAudit",
    "MultiRunAudit",
    "GDPAudit",
    "one_run_p_value",
    "one_run_epsilon_lower_bound",
    "default_guess_counts",
    "one_run_audit",
    "multi_run_audit",
    "gdp_audit",
]

logger = logging.getLogger(__name__)

# Bisection stops when the bracket is this narrow; the lower end is returned, so the
# bound is conservative by at most this much.
_EPS_TOLERANCE = 1e-6
# Beyond this epsilon, e^eps / (1 + e^eps) == 1.0 in float64: every p-value is 1.
_EPS_CEILING = 64.0
# Fractions of m guessed (half "in", half "out") when the caller names no guess counts.
# Few candidates, because each costs Bonferroni confidence; small fractions suit many
# canaries with moderate separation, large ones strong separation (a broken mechanism).
_DEFAULT_GUESS_FRACTIONS = (0.02, 0.1, 0.4)


@dataclass(frozen=True)
class OneRunAudit:
    """Result of a one-run audit (Steinke, Nasr, Jagielski 2023).

    Attributes:
      epsilon_lower_bound: the best bound over the guess counts tried; each was computed
        at confidence 1 - (1 - confidence) / num_candidates (Bonferroni), so the maximum
        holds with probability `confidence`.
      num_canaries: m, the canaries whose inclusion was a fair coin.
      k_plus, k_minus: the guess counts ("in" for the top k_plus scores, "out" for the
        bottom k_minus) that gave the bound.
      num_guesses, num_correct: r = k_plus + k_minus and how many of them were right.
      num_candidates: how many (k_plus, k_minus) pairs were tried.
      confidence, delta: as requested.
    """

    epsilon_lower_bound: float
    num_canaries: int
    k_plus: int
    k_minus: int
    num_guesses: int
    num_correct: int
    num_candidates: int
    confidence: float
    delta: float


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


@dataclass(frozen=True)
class GDPAudit:
    """Gaussian-DP estimate of the privacy of a mechanism from canary scores (Nasr et al.).

    Attributes:
      mu: point estimate (mean_in - mean_out) / pooled standard deviation.
      mu_interval: two-sided `confidence` interval for mu (noncentral t).
      mu_lower: one-sided lower `confidence` bound on mu (>= 0).
      epsilon: gdp_mu_to_epsilon(mu, delta), the point estimate of epsilon.
      epsilon_lower_bound: gdp_mu_to_epsilon(mu_lower, delta).
      std_ratio: std of included / std of excluded scores; far from 1 means the
        equal-variance Gaussian model does not fit and the estimate is rough.
      n_members, n_nonmembers: observations of included / excluded canaries.
      confidence, delta: as requested.
    """

    mu: float
    mu_interval: tuple[float, float]
    mu_lower: float
    epsilon: float
    epsilon_lower_bound: float
    std_ratio: float
    n_members: int
    n_nonmembers: int
    confidence: float
    delta: float


# --------------------------------------------------------------------------- one run


def _non_negative(name: str, value: object) -> float:
    value = _real(name, value)
    if value < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return value


def _check_counts(num_canaries: object, num_guesses: object,
                  num_correct: object) -> tuple[int, int, int]:
    m = check_int("num_canaries", num_canaries, minimum=1)
    r = check_int("num_guesses", num_guesses, minimum=0)
    v = check_int("num_correct", num_correct, minimum=0)
    if r > m:
        raise ValueError(f"num_guesses must be <= num_canaries ({m}), got {r}")
    if v > r:
        raise ValueError(f"num_correct must be <= num_guesses ({r}), got {v}")
    return m, r, v


def _p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """Theorem 5.2 of Steinke et al. (2023); arguments already validated."""
    q = float(special.expit(epsilon))  # accuracy of epsilon-DP randomized response
    beta = float(stats.binom.sf(v - 1, r, q))  # P[Binomial(r, q) >= v]
    if delta == 0 or v == 0:
        return min(beta, 1.0)
    # cdf[j] = P[Binomial <= j - 1] for j = 0..v, so P[v - i <= B <= v - 1] is
    # cdf[v] - cdf[v - i] for i = 1..v. Larger i only divide the same (full) mass by
    # more, so i <= v suffices.
    cdf = stats.binom.cdf(np.arange(-1, v), r, q)
    i = np.arange(1, v + 1)
    alpha = float(np.max((cdf[v] - cdf[v - i]) / i))
    return min(beta + 2.0 * m * delta * alpha, 1.0)


def one_run_p_value(*, num_canaries: int, num_guesses: int, num_correct: int,
                    epsilon: float, delta: float) -> float:
    """Probability of >= num_correct correct guesses under (epsilon, delta)-DP.

    Theorem 5.2 of Steinke, Nasr, Jagielski (NeurIPS 2023): with m canaries each
    included independently with probability 1/2 and r guesses, the number W of correct
    guesses of an (epsilon, delta)-DP algorithm satisfies
    P[W >= v] <= f(v) + 2 m delta max_{i >= 1} (f(v - i) - f(v)) / i, with
    f(v) = P[Binomial(r, e^eps / (1 + e^eps)) >= v].

    Args:
      num_canaries: m, the canaries with a fair inclusion coin.
      num_guesses: r <= m, guesses made (abstentions excluded).
      num_correct: v <= r, correct guesses.
      epsilon: >= 0, the null hypothesis' epsilon.
      delta: in [0, 1], the null hypothesis' delta.

    Returns:
      The p-value in [0, 1].

    Example:
        >>> round(one_run_p_value(num_canaries=100, num_guesses=10, num_correct=10,
        ...                       epsilon=0.0, delta=0.0), 6)
        0.000977
    """
    m, r, v = _check_counts(num_canaries, num_guesses, num_correct)
    epsilon = _non_negative("epsilon", epsilon)
    delta = check_probability("delta", delta)
    return _p_value(m, r, v, epsilon, delta)


def one_run_epsilon_lower_bound(*, num_canaries: int, num_guesses: int, num_correct: int,
                                delta: float, confidence: float = 0.95) -> float:
    """The largest epsilon that `num_correct` of `num_guesses` correct guesses refutes.

    Bisection on epsilon for the p-value of `one_run_p_value` (Algorithm 2 of Steinke,
    Nasr, Jagielski 2023): returns an epsilon whose p-value is below 1 - confidence
    (0 when even epsilon 0 is not refuted). The p-value grows with epsilon, so the
    bound is below the true epsilon with probability >= confidence.

    Args:
      num_canaries, num_guesses, num_correct: m, r, v as in `one_run_p_value`.
      delta: in [0, 1].
      confidence: in (0, 1).

    Returns:
      epsilon >= 0, within 1e-6 below the exact crossing.

    Example:
        >>> eps = one_run_epsilon_lower_bound(num_canaries=1000, num_guesses=100,
        ...                                   num_correct=95, delta=1e-5)
        >>> 2.0 < eps < 3.0
        True
    """
    m, r, v = _check_counts(num_canaries, num_guesses, num_correct)
    delta = check_probability("delta", delta)
    confidence = check_probability("confidence", confidence, low_open=True,
                                   high_open=True)
    return _epsilon_lower_bound(m, r, v, delta, 1.0 - confidence)


def _epsilon_lower_bound(m: int, r: int, v: int, delta: float, alpha: float) -> float:
    if _p_value(m, r, v, 0.0, delta) >= alpha:
        return 0.0
    low, high = 0.0, 1.0  # invariant: p(low) < alpha <= p(high)
    while _p_value(m, r, v, high, delta) < alpha:
        low, high = high, 2.0 * high
        if high > _EPS_CEILING:  # p(eps) -> 1 as eps grows; cannot get here for r >= 1
            return low
    while high - low > _EPS_TOLERANCE:
        middle = 0.5 * (low + high)
        if _p_value(m, r, v, middle, delta) < alpha:
            low = middle
        else:
            high = middle
    return low


def default_guess_counts(num_canaries: int) -> tuple[tuple[int, int], ...]:
    """Default (k_plus, k_minus) pairs: 2, 10 and 40% of m guessed, split evenly.

    At least 5 guesses each way, at most m in total; duplicates removed.
    """
    m = check_int("num_canaries", num_canaries, minimum=1)
    pairs: list[tuple[int, int]] = []
    for fraction in _DEFAULT_GUESS_FRACTIONS:
        k = max(5, int(round(fraction * m / 2)))
        k = min(k, m // 2)
        pair = (k, k) if k > 0 else (min(m, 1), 0)
        if pair not in pairs:
            pairs.append(pair)
    return tuple(pairs)


def one_run_audit(scores: ArrayLike, is_member: ArrayLike, *, delta: float = 1e-5,
                  confidence: float = 0.95,
                  guess_counts: Sequence[tuple[int, int]] | None = None,
                  seed: int = 0) -> OneRunAudit:
    """One-run epsilon lower bound from m canary scores (Steinke, Nasr, Jagielski 2023).

    Each canary must have been included in the run independently with probability 1/2
    (`is_member`), and the scores must not depend on the inclusion coins other than
    through the trained model. Guesses: "in" for the k_plus highest scores, "out" for
    the k_minus lowest; ties are broken by a seeded random order so the guesses depend
    on the scores only. Several (k_plus, k_minus) pairs may be tried: each is evaluated
    at a Bonferroni-corrected confidence, so the best of them is still sound.

    Args:
      scores: (m,) canary scores, higher = more likely included.
      is_member: (m,) whether each canary was included.
      delta: the delta of the (epsilon, delta) claim to refute.
      confidence: probability that the bound is below the true epsilon.
      guess_counts: (k_plus, k_minus) pairs to try; `default_guess_counts(m)` if None.
        Choose them before looking at the outcome.
      seed: tie-breaking seed.

    Returns:
      OneRunAudit.

    Raises:
      ValueError / TypeError: on malformed input, naming the argument.
    """
    scores = as_scores("scores", scores)
    is_member = as_membership("is_member", is_member)
    m = check_same_length(scores=scores, is_member=is_member)
    if m == 0:
        raise ValueError("scores must hold at least one canary, got none")
    delta = check_probability("delta", delta)
    confidence = check_probability("confidence", confidence, low_open=True,
                                   high_open=True)
    seed = check_seed("seed", seed)
    pairs = _check_guess_counts(guess_counts, m)

    # Random tie-breaking: a seeded permutation first, then a stable sort by score.
    permutation = np.random.default_rng(seed).permutation(m)
    order = permutation[np.argsort(-scores[permutation], kind="stable")]
    ranked_in = is_member[order]
    correct_in = np.concatenate([[0], np.cumsum(ranked_in)])            # top k
    correct_out = np.concatenate([[0], np.cumsum(~ranked_in[::-1])])    # bottom k

    alpha = (1.0 - confidence) / len(pairs)
    best: OneRunAudit | None = None
    for k_plus, k_minus in pairs:
        r = k_plus + k_minus
        v = int(correct_in[k_plus] + correct_out[k_minus])
        epsilon = _epsilon_lower_bound(m, r, v, delta, alpha)
        logger.debug("one-run audit: k+=%d k-=%d correct=%d/%d eps>=%.4f",
                     k_plus, k_minus, v, r, epsilon)
        if best is None or epsilon > best.epsilon_lower_bound:
            best = OneRunAudit(epsilon_lower_bound=epsilon, num_canaries=m, k_plus=k_plus,
                               k_minus=k_minus, num_guesses=r, num_correct=v,
                               num_candidates=len(pairs), confidence=confidence,
                               delta=delta)
    assert best is not None
    return best


def _check_guess_counts(guess_counts: Sequence[tuple[int, int]] | None,
                        m: int) -> tuple[tuple[int, int], ...]:
    if guess_counts is None:
        return default_guess_counts(m)
    pairs = []
    for index, pair in enumerate(guess_counts):
        try:
            k_plus, k_minus = pair
        except (TypeError, ValueError):
            raise ValueError(f"guess_counts[{index}] must be a (k_plus, k_minus) pair, "
                             f"got {pair!r}") from None
        k_plus = check_int(f"guess_counts[{index}] k_plus", k_plus, minimum=0)
        k_minus = check_int(f"guess_counts[{index}] k_minus", k_minus, minimum=0)
        if not 1 <= k_plus + k_minus <= m:
            raise ValueError(f"guess_counts[{index}] must make between 1 and {m} guesses "
                             f"(the number of canaries), got {k_plus} + {k_minus}")
        pairs.append((k_plus, k_minus))
    if not pairs:
        raise ValueError("guess_counts must hold at least one (k_plus, k_minus) pair")
    return tuple(pairs)


# ------------------------------------------------------------------------- many runs


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


def gdp_audit(scores: ArrayLike, is_member: ArrayLike, *, delta: float = 1e-5,
              confidence: float = 0.95) -> GDPAudit:
    """Gaussian-DP estimate of epsilon from canary scores (Nasr et al., USENIX Sec. 2023).

    Models the scores as N(mean_out, s^2) for excluded and N(mean_in, s^2) for included
    canaries: the mechanism then looks mu-GDP with mu = (mean_in - mean_out) / s. With
    n1 included and n0 excluded observations, t = mu_hat / sqrt(1/n1 + 1/n0) follows a
    noncentral t distribution (n1 + n0 - 2 degrees of freedom, noncentrality
    mu / sqrt(1/n1 + 1/n0)), which gives exact confidence bounds on mu under the model.
    `epsilon_lower_bound` = gdp_mu_to_epsilon(lower bound on mu, delta).

    Valid only as far as the Gaussian equal-variance model holds; `std_ratio` reports
    how unequal the two spreads are.

    Args:
      scores: (n,) observation scores, higher = more likely included.
      is_member: (n,) whether the canary was included.
      delta, confidence: of the estimate.

    Returns:
      GDPAudit.
    """
    from .metrics import gdp_mu_to_epsilon

    scores = as_scores("scores", scores)
    is_member = as_membership("is_member", is_member)
    check_same_length(scores=scores, is_member=is_member)
    delta = check_probability("delta", delta)
    confidence = check_probability("confidence", confidence, low_open=True,
                                   high_open=True)
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite for the Gaussian-DP estimate")
    inside, outside = scores[is_member], scores[~is_member]
    n1, n0 = len(inside), len(outside)
    if n1 < 2 or n0 < 2:
        raise ValueError("gdp_audit needs at least 2 included and 2 excluded "
                         f"observations, got {n1} included and {n0} excluded")
    df = n1 + n0 - 2
    pooled = math.sqrt((np.sum((inside - inside.mean()) ** 2)
                        + np.sum((outside - outside.mean()) ** 2)) / df)
    if pooled == 0:
        raise ValueError("scores have zero spread within included and excluded "
                         "observations; the Gaussian-DP estimate is undefined")
    mu = float((inside.mean() - outside.mean()) / pooled)
    scale = math.sqrt(1.0 / n1 + 1.0 / n0)
    t_observed = mu / scale
    alpha = 1.0 - confidence
    lower = max(0.0, _noncentrality_bound(t_observed, df, alpha) * scale)
    interval = (_noncentrality_bound(t_observed, df, alpha / 2) * scale,
                _noncentrality_bound(t_observed, df, 1 - alpha / 2) * scale)
    std_out = float(np.std(outside, ddof=1))
    std_ratio = float(np.std(inside, ddof=1) / std_out) if std_out > 0 else math.inf
    return GDPAudit(mu=mu, mu_interval=interval, mu_lower=lower,
                    epsilon=gdp_mu_to_epsilon(max(mu, 0.0), delta),
                    epsilon_lower_bound=gdp_mu_to_epsilon(lower, delta),
                    std_ratio=std_ratio, n_members=n1, n_nonmembers=n0,
                    confidence=confidence, delta=delta)


def _noncentrality_bound(t_observed: float, df: int, tail: float) -> float:
    """The noncentrality nc with P[T >= t_observed | nc] = tail (T ~ noncentral t).

    P[T >= t | nc] increases with nc, so this nc is a lower confidence bound at level
    1 - tail (and an upper bound for tail close to 1).
    """
    def excess(nc: float) -> float:
        return float(stats.nct.sf(t_observed, df, nc)) - tail

    # The root lies within a few standard errors of t_observed; widen until bracketed.
    width = 10.0 * (1.0 + abs(t_observed) / math.sqrt(df))
    low, high = t_observed - width, t_observed + width
    for _ in range(20):
        if excess(low) < 0 < excess(high):
            return float(optimize.brentq(excess, low, high, xtol=1e-10))
        low, high = low - width, high + width
    # Numerically out of reach of scipy's nct: normal approximation of the estimator.
    standard_error = math.sqrt(1.0 + t_observed ** 2 / (2.0 * df))
    return float(t_observed - stats.norm.isf(tail) * standard_error)
