"""Robust membership inference, RMIA (Zarifzadeh, Liu, Shokri, ICML 2024).

Zarifzadeh, Liu, Shokri, "Low-Cost High-Power Membership Inference Attacks", ICML 2024
(https://arxiv.org/abs/2312.03262). For a target model theta, an example x and
population points z that no model trained on, with Pr(x | theta) the probability theta
gives x's true label and Pr(x) its average over reference models:

    LR(x, z) = (Pr(x | theta) / Pr(x)) / (Pr(z | theta) / Pr(z))
    score(x) = fraction of z with LR(x, z) >= gamma.

Pr(x), per example:
- online: (mean over IN models + mean over OUT models) / 2, the paper's average over
  reference models half of which trained on x (equal to their plain average when the split
  is balanced; weighting the sides equally keeps an unbalanced split from biasing it).
- offline (OUT models only): Pr(x) = ((1 + a) Pr_OUT(x) + (1 - a)) / 2, from the paper's
  linear approximation Pr_IN(x) ~ a Pr_OUT(x) + (1 - a). With `offline_a=None`, a is the
  value on a grid of 21 in [0, 1] that maximises the AUC of this attack run against one
  reference model (the first with both IN and OUT examples) with the others as its
  references, as the paper does; it needs >= 2 reference models, otherwise a = 1 (Pr(x) =
  Pr_OUT(x), no IN correction). `details` says which.
Pr(z): offline, the same formula on the z's reference means; online, their plain mean
(no model trained on z, so there is no IN side to average in).

Examples with no reference model on a side the estimate needs use what they have:
online, the mean of the side present; offline, the IN mean in place of Pr(x) (an
over-estimate, which lowers their score: never a false signal, since reference
membership is independent of the target's). `details` counts them.

The score is a step function of Pr(x | theta) / Pr(x), because the z's are the same for
every x; so it ranks examples like that ratio, up to ties. Those ties are many (the score
takes at most m + 1 values) and `attacks.evaluate` keeps tied examples together, so TPR
at low FPR is what a threshold on the score can honestly reach. Counting is sort-based,
O((n + m) log m), never an n x m matrix.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._reference import LeaveOneOut, SideStats, as_reference, side_stats
from ._validation import as_scores, check_probability
from .metrics import evaluate
from .results import AttackResult

__all__ = ["rmia_attack", "rmia_scores"]

logger = logging.getLogger(__name__)

# Floor inside logarithms: a probability of exactly 0 would make every ratio 0 or NaN.
_TINY = 1e-30
#: The values of `a` tried when `offline_a=None`.
A_GRID: np.ndarray = np.linspace(0.0, 1.0, 21)
# a when it cannot be chosen (one reference model): Pr(x) = Pr_OUT(x), no IN correction.
_DEFAULT_A = 1.0


def _as_probabilities(name: str, values: np.ndarray) -> np.ndarray:
    if ((values < 0) | (values > 1)).any():
        bad = np.argwhere((values < 0) | (values > 1))[0]
        raise ValueError(f"{name} must be probabilities of the true label in [0, 1] (not "
                         f"logits or log-probabilities), got {values[tuple(bad)]!r} at "
                         f"index {tuple(int(i) for i in bad)}")
    return values


def _log(values: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(values, _TINY))


def _offline_marginal(out_mean: np.ndarray, a: float) -> np.ndarray:
    return 0.5 * ((1 + a) * out_mean + (1 - a))


def _count_fraction(log_ratio_x: np.ndarray, log_ratio_z: np.ndarray,
                    gamma: float) -> np.ndarray:
    """Fraction of z with ratio_x / ratio_z >= gamma, by binary search in the sorted z."""
    return (np.searchsorted(np.sort(log_ratio_z), log_ratio_x - math.log(gamma),
                            side="right") / len(log_ratio_z))


def _marginal_x(side_in: SideStats, side_out: SideStats, online: bool,
                a: float) -> np.ndarray:
    """Pr(x) per example (module docstring), using the side present where one is missing."""
    has_in, has_out = side_in.count > 0, side_out.count > 0
    if online:
        return np.where(has_in & has_out, 0.5 * (side_in.mean + side_out.mean),
                        np.where(has_in, side_in.mean, side_out.mean))
    return np.where(has_out, _offline_marginal(side_out.mean, a), side_in.mean)


def _scores(target: np.ndarray, side_in: SideStats, side_out: SideStats,
            pop_target: np.ndarray, pop_mean: np.ndarray, *, online: bool, gamma: float,
            a: float) -> np.ndarray:
    marginal_z = pop_mean if online else _offline_marginal(pop_mean, a)
    return _count_fraction(_log(target) - _log(_marginal_x(side_in, side_out, online, a)),
                           _log(pop_target) - _log(marginal_z), gamma)


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    ranks = stats.rankdata(scores)
    n_pos = int(positive.sum())
    n_neg = len(scores) - n_pos
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _choose_a(reference, ref_in, pop_reference, gamma) -> tuple[float, str, list[float]]:
    """The grid value of a with the best AUC attacking one reference model with the rest."""
    k = reference.shape[0]
    usable = [j for j in range(k) if 0 < ref_in[j].sum() < ref_in.shape[1]]
    if k < 2 or not usable:
        reason = ("one reference model" if k < 2
                  else "no reference model has both IN and OUT examples")
        return _DEFAULT_A, f"default {_DEFAULT_A:g} ({reason}: cannot be chosen)", []
    j = usable[0]
    others = np.arange(k) != j
    side_in, side_out = side_stats(reference[others], ref_in[others]), side_stats(
        reference[others], ~ref_in[others])
    pop_mean = pop_reference[others].mean(axis=0)
    aucs = [_auc(_scores(reference[j], side_in, side_out, pop_reference[j], pop_mean,
                         online=False, gamma=gamma, a=a), ref_in[j]) for a in A_GRID]
    best = int(np.argmax(aucs))
    source = (f"chosen: best AUC ({aucs[best]:.4f}) attacking reference model {j} with the "
              f"other {k - 1}")
    return float(A_GRID[best]), source, aucs


def scores_from_stats(target: np.ndarray, side_in: SideStats, side_out: SideStats,
                      pop_target: np.ndarray, pop_mean: np.ndarray, *, online: bool,
                      gamma: float, a: float | None, a_source: str = "given",
                      n_reference: int) -> tuple[np.ndarray, dict[str, Any]]:
    """RMIA scores from validated inputs and the references' per-example statistics.

    `pop_mean` is the references' mean p(y|z) per population point; `a` is None online.
    """
    scores = _scores(target, side_in, side_out, pop_target, pop_mean, online=online,
                     gamma=gamma, a=_DEFAULT_A if a is None else a)
    details: dict[str, Any] = {"online": bool(online), "gamma": gamma,
                               "n_reference": int(n_reference),
                               "n_population": len(pop_target)}
    if online:
        n_one_sided = int(((side_in.count == 0) | (side_out.count == 0)).sum())
        details["n_one_sided"] = n_one_sided
    else:
        n_one_sided = int((side_out.count == 0).sum())
        details.update(a=a, a_source=a_source, n_no_out=n_one_sided)
    if n_one_sided:
        logger.info("RMIA with %d reference models: %d examples lack IN or OUT models "
                    "and use the side they have for Pr(x)", n_reference, n_one_sided)
    return scores, details


def check_gamma(gamma: float) -> float:
    """gamma as a float, or ValueError unless it is a positive finite number."""
    gamma = float(gamma)
    if not gamma > 0 or not math.isfinite(gamma):
        raise ValueError(f"gamma must be a positive number, got {gamma!r}")
    return gamma


def _population(population_target: ArrayLike, population_reference: ArrayLike,
                k: int) -> tuple[np.ndarray, np.ndarray]:
    """Validated (m,) and (k, m) population probabilities."""
    pop_target = _as_probabilities("population_target",
                                   as_scores("population_target", population_target))
    if len(pop_target) == 0:
        raise ValueError("population_target must hold at least one population point")
    m = len(pop_target)
    try:
        pop_reference = np.asarray(population_reference, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"population_reference must be an array of numbers: {exc}") from None
    if pop_reference.ndim == 1 and k == 1:
        pop_reference = pop_reference[None, :]
    if pop_reference.ndim != 2 or pop_reference.shape[0] != k:
        raise ValueError(f"population_reference must come from the same {k} reference "
                         f"models as reference_scores, one row each; got shape "
                         f"{pop_reference.shape}")
    if pop_reference.shape[1] != m or np.isnan(pop_reference).any():
        raise ValueError(f"population_reference must have shape (reference models, {m}) "
                         f"without NaN, to match population_target; got shape "
                         f"{pop_reference.shape}")
    return pop_target, _as_probabilities("population_reference", pop_reference)


def rmia_scores(target_scores: ArrayLike, reference_scores: ArrayLike,
                reference_in: ArrayLike, *, population_target: ArrayLike,
                population_reference: ArrayLike, online: bool = False,
                gamma: float = 2.0, offline_a: float | None = None,
                ) -> tuple[np.ndarray, dict[str, Any]]:
    """RMIA membership scores without the metrics (see `rmia_attack` for the arguments).

    Returns:
      (scores of shape (n,), each a fraction in [0, 1]; details dict).
    """
    target, reference, ref_in, _ = as_reference(target_scores, reference_scores,
                                                reference_in, None)
    _as_probabilities("target_scores", target)
    _as_probabilities("reference_scores", reference)
    k = reference.shape[0]
    pop_target, pop_reference = _population(population_target, population_reference, k)
    gamma = check_gamma(gamma)
    if online and offline_a is not None:
        raise ValueError("offline_a applies to offline RMIA only; pass online=False or "
                         "leave offline_a as None")
    a, source, aucs = None, "given", None
    if not online:
        if offline_a is None:
            a, source, aucs = _choose_a(reference, ref_in, pop_reference, gamma)
        else:
            a = check_probability("offline_a", offline_a)
    scores, details = scores_from_stats(
        target, side_stats(reference, ref_in), side_stats(reference, ~ref_in), pop_target,
        pop_reference.mean(axis=0), online=online, gamma=gamma, a=a, a_source=source,
        n_reference=k)
    if aucs is not None:
        details["a_grid_auc"] = aucs
    return scores, details


def rmia_attack(target_scores: ArrayLike, reference_scores: ArrayLike,
                reference_in: ArrayLike, is_member: ArrayLike, *,
                population_target: ArrayLike, population_reference: ArrayLike,
                online: bool = False, gamma: float = 2.0, offline_a: float | None = None,
                delta: float = 1e-5, confidence: float = 0.95,
                seed: int = 0) -> AttackResult:
    """RMIA against one target model (Zarifzadeh, Liu, Shokri, ICML 2024).

    Args:
      target_scores: (n,) the target model's probability of each example's true label,
        p(y | x), in [0, 1] (not logit-scaled).
      reference_scores: (K, n) the same from K >= 1 reference models (1-D: one model).
      reference_in: (K, n) bool: did reference model k train on example i?
      is_member: (n,) did the target train on example i? Used only for the metrics.
      population_target: (m,) the target's p(y | z) on m >= 1 population points z that no
        model (target or reference) trained on.
      population_reference: (K, m) the same from the reference models, in the same order.
      online: average IN and OUT models for Pr(x) (True), or OUT models with the `a`
        correction (False, the paper's offline attack).
      gamma: the pairwise likelihood-ratio threshold, > 0 (the paper's default is 2).
      offline_a: a in [0, 1] for the offline Pr(x); None chooses it (module docstring).
        Only for offline; passing it with online=True raises.
      delta, confidence, seed: passed to `attacks.evaluate`.

    Returns:
      AttackResult named "rmia"; `details` holds gamma, the number of reference models
      and population points, a and how it was set (offline), and how many examples lacked
      an IN or OUT model.

    Raises:
      ValueError: shapes that do not match, values outside [0, 1], gamma <= 0, offline_a
        out of range or given with online=True.

    Example:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> n, m, k = 2000, 500, 4
      >>> level = rng.normal(0, 2, n + m)                      # per-point difficulty
      >>> prob = lambda shift, size: 1 / (1 + np.exp(-(level + shift + rng.normal(size=size))))
      >>> ref_in = rng.random((k, n)) < 0.5
      >>> ref = prob(np.c_[ref_in, np.zeros((k, m), bool)], (k, n + m))
      >>> member = rng.random(n) < 0.5
      >>> target = prob(np.r_[member, np.zeros(m)], n + m)
      >>> result = rmia_attack(target[:n], ref[:, :n], ref_in, member,
      ...                      population_target=target[n:], population_reference=ref[:, n:])
      >>> result.name, round(result.metrics.auc, 2), result.details["a_source"][:6]
      ('rmia', 0.7, 'chosen')
    """
    _, _, _, is_member = as_reference(target_scores, reference_scores, reference_in,
                                      is_member)
    scores, details = rmia_scores(target_scores, reference_scores, reference_in,
                                  population_target=population_target,
                                  population_reference=population_reference, online=online,
                                  gamma=gamma, offline_a=offline_a)
    return AttackResult("rmia", scores, is_member,
                        evaluate(scores, is_member, delta=delta, confidence=confidence,
                                 seed=seed), details)


def leave_one_out_rmia_scores(model_scores: np.ndarray, model_in: np.ndarray,
                              population: np.ndarray, *, online: bool = False,
                              gamma: float = 2.0, offline_a: float | None = None,
                              ) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """`rmia_scores` of each model against the other M - 1 (used by `pooled_attack`).

    The references' means come from running totals (O(M n), equal up to rounding); the
    offline `a` is still chosen per target among its own references, so no target's
    membership ever informs its own attack.
    """
    n_models = model_scores.shape[0]
    _as_probabilities("model_scores", model_scores)
    _, population = _population(population[0], population, n_models)
    gamma = check_gamma(gamma)
    if online and offline_a is not None:
        raise ValueError("offline_a applies to offline RMIA only")
    given = None if offline_a is None else check_probability("offline_a", offline_a)
    loo = LeaveOneOut(model_scores, model_in)
    pop_sum = population.sum(axis=0)
    results = []
    for j in range(n_models):
        others = np.arange(n_models) != j
        a, source, aucs = given, "given", None
        if not online and given is None:
            a, source, aucs = _choose_a(model_scores[others], model_in[others],
                                        population[others], gamma)
        scores, details = scores_from_stats(
            model_scores[j], loo.stats(j, True), loo.stats(j, False), population[j],
            (pop_sum - population[j]) / (n_models - 1), online=online, gamma=gamma, a=a,
            a_source=source, n_reference=n_models - 1)
        if aucs is not None:
            details["a_grid_auc"] = aucs
        results.append((scores, details))
    return results
