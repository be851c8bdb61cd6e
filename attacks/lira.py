"""The likelihood-ratio attack, LiRA (Carlini et al. 2022), and its logit-scaled score.

Carlini, Chien, Nasr, Song, Terzis, Tramer, "Membership Inference Attacks From First
Principles", IEEE S&P 2022 (https://arxiv.org/abs/2112.03570), Algorithm 1. Reference
models are trained like the target on random subsets of the data, so each example is IN
(trained on) for some of them and OUT for the others. The logit-scaled confidence
phi = log(p_y / (1 - p_y)) of one example over those models is close to Gaussian, with a
mean that differs from example to example -- which is why a single global threshold (the
loss attack) loses most of the signal that a per-example test keeps.

- Online: fit N(mu_in, s_in^2) and N(mu_out, s_out^2) per example and score the target's
  phi by the log likelihood ratio log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out).
- Offline: OUT models only; one-sided test of "phi is larger than OUT models give":
  score = -log P(Z > phi), Z ~ N(mu_out, s_out^2). The paper returns 1 - P(Z > phi); the
  negated log survival ranks the same and does not saturate at 1 for confident models.
- Global ("fixed") variance: one variance per side shared by every example (the paper's
  choice for few reference models). Here it is the pooled *within-example* variance:
  squared deviations from each example's own mean, over all examples with at least 2
  models on that side. The authors' code takes the variance of all scores around their
  global mean instead, which also counts how much the means differ between examples;
  that is not the spread of any one example's Gaussian.

Per-example variances are population variances (ddof 0), as in the authors' code and
TF Privacy's `compute_score_lira`.

Examples without enough reference models (small K, or an unlucky split):
- fewer than 2 models on a side, or all of them equal: that side's variance is the
  global one for this example;
- no model on a side the test needs (IN for online, OUT for either): that side's mean is
  the other side's mean shifted by the average IN-OUT difference of the examples that
  have both, with the global variance. Raises ValueError when no example has both.
`details` counts the examples each fallback touched (also logged at INFO level).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._reference import LeaveOneOut, SideStats, as_reference, side_stats
from ._validation import as_labels
from .metrics import evaluate
from .results import AttackResult

__all__ = ["lira_attack", "lira_scores", "logit_scaled_confidence"]

logger = logging.getLogger(__name__)

# A variance of exactly 0 (saturated or identical scores) would make the Gaussians
# degenerate; below this it is treated as "not estimable" and the global one is used.
_MIN_VARIANCE = 1e-12


def logit_scaled_confidence(logits: ArrayLike, labels: ArrayLike) -> np.ndarray:
    """log(p_y / (1 - p_y)) for every example, from logits, without forming probabilities.

    Computed as z_y - logsumexp_{j != y} z_j, which equals log(p_y / (1 - p_y)) for p =
    softmax(z) but stays finite and exact where p_y rounds to 1 (a confident model) --
    the regime where membership shows (Carlini et al., S&P 2022, who attack this score).

    Args:
      logits: shape (..., n, C): raw logits or log-probabilities (the result is the same,
        the softmax being shift-invariant); -inf allowed (log of a zero probability).
      labels: the n true classes, integers in [0, C) (or one-hot rows).

    Returns:
      shape (..., n), float64.

    Raises:
      ValueError: fewer than 2 classes, NaN or +inf logits, a row of all -inf, labels of
        the wrong length or out of range.

    Example:
      >>> import numpy as np
      >>> p = np.array([[0.9, 0.05, 0.05], [0.2, 0.5, 0.3]])
      >>> np.round(logit_scaled_confidence(np.log(p), [0, 0]), 4).tolist()
      [2.1972, -1.3863]
    """
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim < 2 or z.shape[-1] < 2:
        raise ValueError(f"logits must have shape (..., examples, classes) with at least 2 "
                         f"classes, got shape {z.shape}")
    labels = as_labels("labels", labels, z.shape[-1])
    if len(labels) != z.shape[-2]:
        raise ValueError(f"labels must have one class per example ({z.shape[-2]}, the "
                         f"second-to-last axis of logits), got {len(labels)}")
    if np.isnan(z).any() or np.isposinf(z).any():
        raise ValueError("logits must not contain NaN or +inf (pass logits or "
                         "log-probabilities; -inf is allowed)")
    if np.isneginf(z).all(axis=-1).any():
        raise ValueError("logits has a row where every class is -inf; that is not a "
                         "distribution")
    index = np.broadcast_to(labels[:, None], z.shape[:-1] + (1,))
    true_logit = np.take_along_axis(z, index, axis=-1)[..., 0]
    others = z.copy()
    np.put_along_axis(others, index, -np.inf, axis=-1)
    return true_logit - special.logsumexp(others, axis=-1)


def _pooled_variance(side: SideStats) -> float:
    """Within-example variance pooled over examples with >= 2 models on this side."""
    usable = side.count >= 2
    if not usable.any():
        return math.nan
    variance = float((side.var[usable] * side.count[usable]).sum()
                     / side.count[usable].sum())
    return variance if variance > _MIN_VARIANCE else math.nan


def lira_scores(target_scores: ArrayLike, reference_scores: ArrayLike,
                reference_in: ArrayLike, *, online: bool = True,
                global_variance: bool = False) -> tuple[np.ndarray, dict[str, Any]]:
    """LiRA membership scores without the metrics (see `lira_attack` for the arguments).

    Returns:
      (scores of shape (n,), higher = more member-like; details dict).
    """
    target, reference, ref_in, _ = as_reference(target_scores, reference_scores,
                                                reference_in, None)
    check_finite(target, reference)
    return scores_from_stats(target, side_stats(reference, ref_in),
                             side_stats(reference, ~ref_in), online=online,
                             global_variance=global_variance,
                             n_reference=reference.shape[0])


def check_finite(target: np.ndarray, reference: np.ndarray) -> None:
    """Raises ValueError unless every score is finite (LiRA fits Gaussians to them)."""
    if not (np.isfinite(target).all() and np.isfinite(reference).all()):
        raise ValueError("LiRA needs finite scores in target_scores and reference_scores; "
                         "compute them with logit_scaled_confidence from logits")


def scores_from_stats(target: np.ndarray, side_in: SideStats, side_out: SideStats, *,
                      online: bool, global_variance: bool,
                      n_reference: int) -> tuple[np.ndarray, dict[str, Any]]:
    """LiRA scores from the reference models' per-example IN and OUT statistics."""
    n = len(target)
    n_in, n_out = side_in.count, side_out.count
    global_in, global_out = _pooled_variance(side_in), _pooled_variance(side_out)
    # Either side's pooled variance stands in for the other's when that one has no data;
    # with neither, any common sigma ranks offline scores the same, so 1 is used.
    no_global = math.isnan(global_in) and math.isnan(global_out)
    global_in = 1.0 if no_global else (global_out if math.isnan(global_in) else global_in)
    global_out = global_in if math.isnan(global_out) else global_out

    both = (n_in > 0) & (n_out > 0)
    mu_in, mu_out = side_in.mean, side_out.mean
    shift = float(np.mean(mu_in[both] - mu_out[both])) if both.any() else math.nan
    no_in, no_out = n_in == 0, n_out == 0
    need_shift = (no_in.any() and online) or no_out.any()
    if need_shift and math.isnan(shift):
        missing = "IN or OUT" if online else "OUT"
        raise ValueError(f"LiRA ({'online' if online else 'offline'}): "
                         f"{int((no_in | no_out).sum() if online else no_out.sum())} examples "
                         f"have no {missing} reference model and no example has both, so "
                         "the IN-OUT shift that would stand in for them cannot be "
                         "estimated; train more reference models")
    mu_in = np.where(no_in, mu_out + shift, mu_in)
    mu_out = np.where(no_out, mu_in - shift, mu_out)

    if global_variance:
        var_in = np.full(n, global_in)
        var_out = np.full(n, global_out)
        fallback_in = fallback_out = np.zeros(n, bool)
    else:
        fallback_in = (n_in < 2) | ~(side_in.var > _MIN_VARIANCE)
        fallback_out = (n_out < 2) | ~(side_out.var > _MIN_VARIANCE)
        var_in = np.where(fallback_in, global_in, side_in.var)
        var_out = np.where(fallback_out, global_out, side_out.var)

    sd_out = np.sqrt(var_out)
    if online:
        sd_in = np.sqrt(var_in)
        scores = (np.log(sd_out) - np.log(sd_in) + 0.5 * ((target - mu_out) / sd_out) ** 2
                  - 0.5 * ((target - mu_in) / sd_in) ** 2)
        n_imputed = int((no_in | no_out).sum())
        n_fallback = int((fallback_in | fallback_out).sum())
    else:
        scores = -special.log_ndtr(-(target - mu_out) / sd_out)
        n_imputed = int(no_out.sum())
        n_fallback = int(fallback_out.sum())

    details: dict[str, Any] = {
        "online": bool(online), "variance": "global" if global_variance else "per-example",
        "n_reference": int(n_reference),
        "mean_in_models": float(n_in.mean()), "mean_out_models": float(n_out.mean()),
        "n_imputed_mean": n_imputed, "n_global_variance_fallback": n_fallback,
        "in_out_shift": shift, "sigma_in_global": math.sqrt(global_in),
        "sigma_out_global": math.sqrt(global_out), "sigma_estimable": not no_global}
    if n_imputed or n_fallback or no_global:
        logger.info("LiRA with %d reference models: %d examples lack a side and use the "
                    "mean IN-OUT shift %.4g; %d use the global variance%s", n_reference,
                    n_imputed, shift, n_fallback,
                    "; no variance estimable, sigma = 1" if no_global else "")
    return scores, details


def lira_attack(target_scores: ArrayLike, reference_scores: ArrayLike,
                reference_in: ArrayLike, is_member: ArrayLike, *, online: bool = True,
                global_variance: bool = False, delta: float = 1e-5,
                confidence: float = 0.95, seed: int = 0) -> AttackResult:
    """LiRA against one target model (Carlini et al., S&P 2022, Algorithm 1).

    Args:
      target_scores: (n,) the target model's logit-scaled confidence per example
        (`logit_scaled_confidence`); finite.
      reference_scores: (K, n) the same quantity from K reference models (K >= 1; a 1-D
        array of length n is one model).
      reference_in: (K, n) bool: did reference model k train on example i?
      is_member: (n,) did the target train on example i? Used only for the metrics.
      online: True for the online test (IN and OUT Gaussians), False for the offline
        one-sided test on the OUT Gaussian.
      global_variance: one pooled variance per side instead of one per example (better
        with few reference models, as Carlini et al. recommend).
      delta, confidence, seed: passed to `attacks.evaluate`.

    Returns:
      AttackResult named "lira" (online) or "lira_offline"; `details` says how many
      reference models, the variance used and how many examples needed a fallback (see
      the module docstring).

    Raises:
      ValueError: shapes that do not match, NaN or infinite scores, or examples lacking a
        side with no example to estimate the IN-OUT shift from.

    Example:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> n, k = 2000, 16
      >>> mu = rng.normal(0, 3, n)                       # each example's own level
      >>> ref_in = rng.random((k, n)) < 0.5
      >>> ref = mu + ref_in + rng.normal(size=(k, n))    # IN models: +1
      >>> member = rng.random(n) < 0.5
      >>> target = mu + member + rng.normal(size=n)
      >>> result = lira_attack(target, ref, ref_in, member, online=False)
      >>> result.name, round(result.metrics.auc, 2)
      ('lira_offline', 0.75)
    """
    _, _, _, is_member = as_reference(target_scores, reference_scores, reference_in,
                                      is_member)
    scores, details = lira_scores(target_scores, reference_scores, reference_in,
                                  online=online, global_variance=global_variance)
    return AttackResult("lira" if online else "lira_offline", scores, is_member,
                        evaluate(scores, is_member, delta=delta, confidence=confidence,
                                 seed=seed), details)


def leave_one_out_lira_scores(model_scores: np.ndarray, model_in: np.ndarray, *,
                              online: bool = True, global_variance: bool = False,
                              ) -> list[tuple[np.ndarray, dict[str, Any]]]:
    """`lira_scores` of each model against the other M - 1, from running totals.

    Equal to calling `lira_scores(model_scores[j], others, ...)` for each j up to rounding,
    in O(M n) instead of O(M^2 n). Used by `attacks.pooled_attack`.
    """
    check_finite(model_scores, model_scores)
    loo = LeaveOneOut(model_scores, model_in)
    return [scores_from_stats(model_scores[j], loo.stats(j, True), loo.stats(j, False),
                              online=online, global_variance=global_variance,
                              n_reference=model_scores.shape[0] - 1)
            for j in range(model_scores.shape[0])]
