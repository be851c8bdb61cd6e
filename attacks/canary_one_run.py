"""One-run epsilon lower bound from canaries: Steinke, Nasr, Jagielski (NeurIPS 2023).

"Privacy Auditing with One (1) Training Run" (https://arxiv.org/abs/2305.08846). The
auditor guesses "in" for the k+ highest canary scores, "out" for the k- lowest and
abstains on the rest. Under epsilon-DP the number of correct guesses among the
r = k+ + k- guesses is dominated by Binomial(r, e^eps / (1 + e^eps)); under
(epsilon, delta)-DP their Theorem 5.2 adds 2 * m * delta * max_i P[v - i <= Binomial < v] / i
to the tail probability of v correct guesses (`one_run_p_value`). The lower bound is the
largest epsilon whose p-value stays below 1 - confidence, found by bisection. It needs ONE
training run because the m canaries' inclusion bits are the independent coins.
`one_run_ceiling` is the largest bound the design can ever give (every guess right).

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

from ._validation import (_real, as_membership, as_scores, check_int, check_probability,
                          check_same_length, check_seed)

__all__ = [
    "OneRunAudit",
    "default_guess_counts",
    "one_run_audit",
    "one_run_ceiling",
    "one_run_epsilon_lower_bound",
    "one_run_p_value",
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


def one_run_ceiling(*, num_canaries: int, delta: float, confidence: float = 0.95,
                    guess_counts: Sequence[tuple[int, int]] | None = None) -> float:
    """The largest bound `one_run_audit` can return for m canaries: every guess right.

    The design's ceiling: a claimed epsilon at or above it can never be refuted by this
    audit, whatever the trainer does (Steinke, Nasr, Jagielski 2023, Section 7 discuss
    it as the limit set by the number of canaries).

    Args:
      num_canaries: m (all runs pooled).
      delta, confidence: as for `one_run_audit` (Bonferroni over the guess counts).
      guess_counts: as for `one_run_audit`.

    Returns:
      The ceiling, >= 0.

    Example:
        >>> 2.0 < one_run_ceiling(num_canaries=100, delta=1e-5) < 2.5
        True
    """
    m = check_int("num_canaries", num_canaries, minimum=1)
    delta = check_probability("delta", delta)
    confidence = check_probability("confidence", confidence, low_open=True,
                                   high_open=True)
    pairs = _check_guess_counts(guess_counts, m)
    alpha = (1.0 - confidence) / len(pairs)
    return max(_epsilon_lower_bound(m, k_plus + k_minus, k_plus + k_minus, delta, alpha)
               for k_plus, k_minus in pairs)
