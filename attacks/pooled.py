"""Pooled evaluation of a reference-model attack: every model is the target in turn.

Carlini et al., "Membership Inference Attacks From First Principles", IEEE S&P 2022
(https://arxiv.org/abs/2112.03570), evaluate this way: with M models trained on random
halves of the same pool, each model is attacked with the other M - 1 as its references, and the
(model, example) pairs of all M attacks are pooled into one ROC. M times as many
non-members make TPR at 1% and 0.1% FPR resolvable where one target model's pool cannot.

What the pooled numbers mean. They measure the attack against the training *recipe*
(a model drawn like these), not against one particular model; `details` keeps each
model's own AUC so a reader sees the spread. The pairs are not independent (an example's
M scores share its difficulty; a model's n scores share its training run), so the
confidence intervals and the epsilon lower bound that `attacks.evaluate` attaches,
which treat pairs as independent trials, are optimistic: report them as such.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from ._validation import as_membership
from .lira import leave_one_out_lira_scores, lira_attack
from .metrics import evaluate
from .results import AttackResult
from .rmia import leave_one_out_rmia_scores, rmia_attack

__all__ = ["pooled_attack"]

_EVALUATE_KEYS = ("delta", "confidence", "seed")


def _matrix(name: str, values: ArrayLike, dtype: type) -> np.ndarray:
    array = np.asarray(values, dtype=dtype)
    if array.ndim != 2:
        raise ValueError(f"{name} must have shape (models, examples), got {array.shape}")
    return array


def _auc(scores: np.ndarray, positive: np.ndarray) -> float:
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = stats.rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pooled_attack(attack: Callable[..., AttackResult], model_scores: ArrayLike,
                  model_in: ArrayLike, *, population_scores: ArrayLike | None = None,
                  **kwargs: Any) -> AttackResult:
    """Attacks each of M models with the other M - 1 as references and pools the pairs.

    Args:
      attack: `lira_attack`, `rmia_attack`, or any callable with their call shape
        `attack(target_scores, reference_scores, reference_in, is_member, **kwargs)`
        returning an AttackResult (and taking `population_target`, `population_reference`
        when `population_scores` is given).
      model_scores: (M, n), M >= 2: each model's score on each example, in the form the
        attack expects (logit-scaled confidence for LiRA, p(y|x) for RMIA).
      model_in: (M, n) bool: did model k train on example i?
      population_scores: (M, m) each model's score on m population points no model
        trained on; required by RMIA.
      **kwargs: the attack's options (online, global_variance, gamma, offline_a, ...) and
        delta, confidence, seed for the pooled `attacks.evaluate`.

    Returns:
      AttackResult named "<attack's name>_pooled" over M * n pairs in model-major order
      (pair j * n + i is model j's score of example i); is_member is model_in flattened.
      `details`: n_models, n_examples, the attack's name, each model's own AUC, and the
      first model's attack details.

    Raises:
      ValueError: fewer than 2 models, shapes that differ, RMIA without population_scores.

    Example:
      >>> import numpy as np
      >>> rng = np.random.default_rng(0)
      >>> models, n = 8, 500
      >>> level = rng.normal(0, 3, n)
      >>> trained = rng.random((models, n)) < 0.5
      >>> phi = level + trained + rng.normal(size=(models, n))
      >>> result = pooled_attack(lira_attack, phi, trained, global_variance=True)
      >>> result.name, result.details["n_models"], len(result.scores)
      ('lira_pooled', 8, 4000)
    """
    scores_all = _matrix("model_scores", model_scores, np.float64)
    flags = _matrix("model_in", model_in, np.float64)
    if flags.shape != scores_all.shape:
        raise ValueError(f"model_in must have the shape of model_scores, "
                         f"{scores_all.shape}, got {flags.shape}")
    flags = as_membership("model_in", flags.ravel()).reshape(scores_all.shape)
    n_models, n = scores_all.shape
    if n_models < 2:
        raise ValueError(f"pooled_attack needs at least 2 models (each is attacked with the "
                         f"others as references), got {n_models}")
    population = None
    if population_scores is not None:
        population = _matrix("population_scores", population_scores, np.float64)
        if population.shape[0] != n_models:
            raise ValueError(f"population_scores must have one row per model "
                             f"({n_models}), got shape {population.shape}")
    elif attack is rmia_attack:
        raise ValueError("pooled_attack(rmia_attack, ...) needs population_scores, each "
                         "model's p(y|z) on population points no model trained on")
    evaluate_kwargs = {key: kwargs.pop(key) for key in _EVALUATE_KEYS if key in kwargs}

    if attack is lira_attack:
        name = "lira" if kwargs.get("online", True) else "lira_offline"
        per_model = leave_one_out_lira_scores(scores_all, flags, **kwargs)
    elif attack is rmia_attack:
        name = "rmia"
        per_model = leave_one_out_rmia_scores(scores_all, flags, population, **kwargs)
    else:
        per_model = []
        for j in range(n_models):
            others = np.arange(n_models) != j
            extra = ({} if population is None else
                     {"population_target": population[j],
                      "population_reference": population[others]})
            result = attack(scores_all[j], scores_all[others], flags[others], flags[j],
                            **extra, **kwargs, **evaluate_kwargs)
            per_model.append((result.scores, result.details))
            name = result.name
    pooled = [np.asarray(scores, dtype=np.float64) for scores, _ in per_model]
    aucs = [_auc(scores, flags[j]) for j, scores in enumerate(pooled)]
    first_details = per_model[0][1]
    scores = np.concatenate(pooled)
    is_member = flags.ravel()
    details_out = {"n_models": n_models, "n_examples": n, "attack": name,
                   "per_model_auc": aucs, "attack_details": first_details,
                   "note": "every model attacked with the others as references, pairs "
                           "pooled; pairs are not independent, so intervals and the "
                           "epsilon bound are optimistic"}
    return AttackResult(f"{name}_pooled", scores, is_member,
                        evaluate(scores, is_member, **evaluate_kwargs), details_out)
