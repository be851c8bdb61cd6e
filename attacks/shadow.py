"""Shadow-model membership inference (Shokri et al. 2017).

Shokri, Stronati, Song, Shmatikov, "Membership Inference Attacks Against Machine
Learning Models", IEEE S&P 2017 (https://arxiv.org/abs/1610.05820). The attacker
trains K shadow models that imitate the target -- same recipe, data from the same
distribution -- so it knows which examples each shadow model saw. The shadow models'
outputs on their own training half ("in") and on the other half ("out") teach an attack
classifier what membership looks like in a model's outputs; that classifier is then
applied to the target model's outputs.

Training is injected: `train_and_score(x_train, y_train, x_eval, seed)` trains one
model by the target's recipe and returns its class probabilities on `x_eval`. So this
module needs no deep-learning framework (Keras, PyTorch and scikit-learn models all
work).

Attack features per example, following Shokri et al. and Salem et al. ("ML-Leaks",
NDSS 2019, who show that the top few sorted probabilities carry the signal): the
probability vector sorted in decreasing order (top 10 at most), the true-class
probability, and the cross-entropy loss. The attack classifier is scikit-learn's
HistGradientBoostingClassifier; with `per_class=True` one is trained per true class, as
in Shokri et al., and classes with too few shadow rows fall back to the global one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._probs import cross_entropy, true_class_probs
from ._validation import (as_labels, as_membership, as_probs, check_int, check_same_length,
                          check_seed)
from .metrics import evaluate
from .results import AttackResult

__all__ = ["shadow_attack", "TrainAndScore"]

logger = logging.getLogger(__name__)

#: train_and_score(x_train, y_train, x_eval, seed) -> probabilities, (len(x_eval), C).
TrainAndScore = Callable[[Any, Any, Any, int], ArrayLike]

# Sorted probabilities beyond the top few add dimensions but little signal (Salem et al.).
_TOP_K = 10
# A per-class attack model needs this many shadow rows of each kind (in and out) in its
# class; fewer and its scores are noise, so the class uses the global model.
_MIN_ROWS_PER_CLASS = 100


def _features(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    top = -np.sort(-probs, axis=1)[:, :_TOP_K]
    return np.column_stack([top, true_class_probs(probs, labels),
                            cross_entropy(probs, labels)])


def _fit_predict(train_x: np.ndarray, train_flags: np.ndarray, apply_x: np.ndarray,
                 seed: int) -> np.ndarray:
    """Fits one attack classifier on shadow rows; membership probability on apply_x."""
    # Imported here so that `import attacks` stays light. threadpoolctl is a dependency
    # of scikit-learn itself.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    # No early stopping: it would carve a random validation split out of the shadow rows.
    model = HistGradientBoostingClassifier(max_iter=100, max_depth=3, learning_rate=0.1,
                                           early_stopping=False, random_state=seed)
    # One OpenMP thread: on shared CPUs (CI runners) spinning threads made these small
    # fits 10-50x slower; single-threaded, 120k rows x 12 features take ~2 s.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(train_x, train_flags)
        return model.predict_proba(apply_x)[:, 1]


def _shadow_rows(shadow_x: np.ndarray, shadow_y: Any, shadow_labels: np.ndarray,
                 train_and_score: TrainAndScore, n_shadow: int, n_classes: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, in/out flags and true classes of every shadow model's pool outputs."""
    n_pool = len(shadow_labels)
    features, flags, classes = [], [], []
    for k in range(n_shadow):
        order = rng.permutation(n_pool)
        half = n_pool // 2
        train_idx = order[:half]
        model_seed = int(rng.integers(2**31 - 1))
        logger.info("shadow model %d/%d: training on %d of %d pool examples", k + 1,
                    n_shadow, half, n_pool)
        output = train_and_score(shadow_x[train_idx], shadow_y[train_idx],
                                 shadow_x[order], model_seed)
        name = f"train_and_score output for shadow model {k}"
        probs = as_probs(name, output)
        if probs.shape != (n_pool, n_classes):
            raise ValueError(f"{name} must have shape ({n_pool}, {n_classes}) (one row per "
                             f"x_eval example, one column per class of target_probs), got "
                             f"{probs.shape}")
        labels = shadow_labels[order]
        features.append(_features(probs, labels))
        flags.append(np.arange(n_pool) < half)
        classes.append(labels)
    return np.concatenate(features), np.concatenate(flags), np.concatenate(classes)


def shadow_attack(target_probs: ArrayLike, target_labels: ArrayLike, is_member: ArrayLike,
                  *, shadow_x: ArrayLike, shadow_y: ArrayLike,
                  train_and_score: TrainAndScore, n_shadow: int = 4, seed: int = 0,
                  per_class: bool = False, **evaluate_kwargs: Any) -> AttackResult:
    """Shadow-model attack: score = the attack classifier's membership probability.

    Each of the `n_shadow` shadow models trains on a fresh random half of the shadow pool
    (its members) and is scored on the whole pool; the other half are its non-members.
    The shadow pool must not overlap the target's training data.

    Args:
      target_probs: (examples, classes) softmax outputs of the target model.
      target_labels: true classes of those examples (integers or one-hot rows).
      is_member: one flag per target example.
      shadow_x, shadow_y: the shadow pool (at least 4 examples), drawn from the same
        distribution as the target's data. `shadow_y` is passed to `train_and_score`
        as given; integer or one-hot labels.
      train_and_score: `(x_train, y_train, x_eval, seed) -> probabilities` of shape
        (len(x_eval), classes); trains one model by the target's recipe.
      n_shadow: number of shadow models, >= 1.
      seed: seeds the pool splits, the shadow models' seeds and the attack classifier.
      per_class: one attack classifier per true class (Shokri et al.) instead of one.
      **evaluate_kwargs: delta, confidence (and seed, defaulting to `seed`) for
        `attacks.evaluate`.

    Returns:
      AttackResult named "shadow"; `details` records the settings and which classes got
      their own attack classifier.

    Example:
      >>> import numpy as np
      >>> from sklearn.linear_model import LogisticRegression
      >>> def train_and_score(x_train, y_train, x_eval, seed):
      ...     return LogisticRegression().fit(x_train, y_train).predict_proba(x_eval)
      >>> rng = np.random.default_rng(0)
      >>> x = rng.normal(size=(400, 3)); y = (x[:, 0] > 0).astype(int)
      >>> target = LogisticRegression().fit(x[:100], y[:100])
      >>> result = shadow_attack(target.predict_proba(x[:200]), y[:200],
      ...                        np.arange(200) < 100, shadow_x=x[200:],
      ...                        shadow_y=y[200:], train_and_score=train_and_score)
      >>> result.name, result.details["n_shadow"]
      ('shadow', 4)
    """
    target_probs = as_probs("target_probs", target_probs)
    n_classes = target_probs.shape[1]
    target_labels = as_labels("target_labels", target_labels, n_classes)
    is_member = as_membership("is_member", is_member)
    check_same_length(target_probs=target_probs, target_labels=target_labels,
                      is_member=is_member)
    shadow_x = np.asarray(shadow_x)
    shadow_y_given = np.asarray(shadow_y)
    shadow_labels = as_labels("shadow_y", shadow_y_given, n_classes)
    n_pool = check_same_length(shadow_x=shadow_x, shadow_y=shadow_labels)
    if n_pool < 4:
        raise ValueError(f"shadow_x must hold at least 4 examples (two halves of 2), got "
                         f"{n_pool}")
    if not callable(train_and_score):
        raise TypeError(f"train_and_score must be callable (x_train, y_train, x_eval, "
                        f"seed) -> probabilities, got {type(train_and_score).__name__}")
    n_shadow = check_int("n_shadow", n_shadow, minimum=1)
    seed = check_seed("seed", seed)
    if not isinstance(per_class, bool):
        raise TypeError(f"per_class must be True or False, got {per_class!r}")

    rng = np.random.default_rng(seed)
    features, flags, classes = _shadow_rows(shadow_x, shadow_y_given, shadow_labels,
                                            train_and_score, n_shadow, n_classes, rng)
    target_features = _features(target_probs, target_labels)
    scores = _fit_predict(features, flags, target_features, seed)

    own_model = []
    if per_class:
        for label in range(n_classes):
            rows = classes == label
            n_in = int(np.sum(flags[rows]))
            if min(n_in, int(rows.sum()) - n_in) < _MIN_ROWS_PER_CLASS:
                continue
            targets = target_labels == label
            own_model.append(label)
            if targets.any():
                scores[targets] = _fit_predict(features[rows], flags[rows],
                                               target_features[targets], seed)
        logger.info("shadow attack: own classifier for %d of %d classes", len(own_model),
                    n_classes)

    evaluate_kwargs.setdefault("seed", seed)
    details = {"n_shadow": n_shadow, "shadow_pool_size": n_pool, "per_class": per_class,
               "classes_with_own_model": own_model,
               "attack_model": "HistGradientBoostingClassifier",
               "features": f"top-{min(_TOP_K, n_classes)} sorted probabilities, "
                           "true-class probability, loss"}
    return AttackResult("shadow", scores, is_member,
                        evaluate(scores, is_member, **evaluate_kwargs), details=details)
