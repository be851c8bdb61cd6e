"""Reference models for an arm, and the reference-model attacks (LiRA, RMIA) on them.

LiRA (Carlini et al., "Membership Inference Attacks From First Principles", IEEE S&P
2022) and RMIA (Zarifzadeh, Liu, Shokri, "Low-Cost High-Power Membership Inference
Attacks", ICML 2024) compare the target's output on an example with the outputs of
reference models that did (IN) and did not (OUT) train on it. Here the K reference
models of an arm train with the arm's own recipe (DP-SGD with the same noise, clip,
sampling, epochs and batch for the dp arm) on random halves of the audit pool
(members + non-members of the target): LiRA's design, where each example is IN for
about half of the models (`reference_masks`). They train at once as a stack
(`dpaudit.training.stacked`) when the architecture allows, else one at a time through
the arm's `Recipe` (the log says which).

Each attack is reported twice: against the target model, and pooled, i.e. every
reference model taken as the target in turn with the others as its references, the
(model, example) pairs evaluated together as the LiRA paper does, so TPR at 1% and
0.1% FPR become resolvable (from `MIN_POOLED` models on). Pooled pairs share examples,
so they are not independent trials: the confidence of a pooled epsilon lower bound is
nominal (its details say so).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from typing import Any

import numpy as np

from dpaudit.errors import InputError
from dpaudit.training import Recipe, derive_seed, predict_log_proba

__all__ = ["REFERENCE_ATTACKS", "MIN_POOLED", "ReferenceOutputs", "ReferenceTask",
           "reference_masks", "train_references", "train_reference_task",
           "reference_attack_results"]

logger = logging.getLogger(__name__)

REFERENCE_ATTACKS = ("lira", "lira_offline", "rmia")
# Pooled, each model keeps K - 1 references; with balanced masks and K = 2 an example
# OUT of the target is IN its only reference, so it has no OUT reference at all.
MIN_POOLED = 3
# Carlini et al. fit one global variance when there are few reference
# models: per-example variances from a handful of samples are too noisy.
_GLOBAL_VARIANCE_BELOW = 64


def reference_masks(n: int, k: int, seed: int) -> np.ndarray:
    """(k, n) bool: each model trains on each example independently with probability 1/2.

    So each example is IN for about half the models, and each model trains on about
    n / 2 examples (LiRA's design). Independent draws, rather than exactly k / 2 IN
    models per example, matter for the pooled evaluation: with exact balance the number
    of IN references an example has among the other k - 1 models gives away whether
    the model under attack trained on it (k / 2 - 1 if it did, k / 2 if not), and online
    LiRA's IN/OUT means then differ in precision by membership alone (measured: pooled
    AUC 0.43 on a DP arm with k = 4, where independent masks give 0.5).
    """
    rng = np.random.default_rng(seed)
    return rng.random((k, n)) < 0.5


@dataclasses.dataclass(frozen=True)
class ReferenceOutputs:
    """Log class probabilities of K reference models on the pool and the population.

    Attributes:
      log_proba: (K, n, classes) on the audit pool, in the attack's order.
      population_log_proba: (K, m, classes) on population points no model trained on.
      masks: (K, n) bool, which pool examples each model trained on.
      how: "stacked" or "one at a time".
      seconds: wall time of training and scoring them.
    """

    log_proba: np.ndarray
    population_log_proba: np.ndarray
    masks: np.ndarray
    how: str
    seconds: float


def progress_units(config: Any, *, private: bool, trainer: Any) -> int:
    """How many progress entries an arm's reference models make: one per stack, K when
    they train one at a time, 0 without reference attacks."""
    if not set(config.attacks.names) & set(REFERENCE_ATTACKS):
        return 0
    k = config.attacks.n_reference
    why_not = _why_not_stacked(config, private=private, trainer=trainer)
    return k if why_not is not None else -(-k // config.execution.models_per_task)


def _why_not_stacked(config: Any, *, private: bool, trainer: Any) -> str | None:
    from dpaudit.training.stacked import stack_unsupported

    return stack_unsupported(config.model.name, trainer=trainer,
                             num_microbatches=config.dp.num_microbatches if private else None,
                             batch_size=config.training.batch_size, sampling=config.dp.sampling)


@dataclasses.dataclass(frozen=True)
class ReferenceTask:
    """A group of an arm's reference models: one stack, or one model trained alone.

    A pure input (recipe, examples, masks, seeds), so `train_reference_task` gives the
    same models in this process or in a Ray worker.

    Attributes:
      recipe: the arm's recipe (`portable_recipe` for a task run elsewhere).
      name: cache name of the group.
      label: progress label.
      x, y: the audit pool; population_x: RMIA's population points.
      masks: (g, n) bool, which pool examples each model of the group trains on.
      seeds: the g models' seeds.
      stacked: train the group as one stack (else its one model through the recipe).
      trainer_root: where a portable recipe's user trainer imports from.
    """

    recipe: Any
    name: str
    label: str
    x: np.ndarray
    y: np.ndarray
    population_x: np.ndarray
    masks: np.ndarray
    seeds: tuple[int, ...]
    stacked: bool
    trainer_root: str | None = None


def train_reference_task(task: ReferenceTask) -> tuple[np.ndarray, np.ndarray]:
    """Trains (or reloads) a group's models: its log-probabilities (g, n, classes) on the
    pool and (g, m, classes) on the population."""
    if task.stacked:
        return _stacked(task)
    from dpaudit.execution import restore_trainer

    recipe = restore_trainer(task.recipe, task.trainer_root)
    (mask,), (seed,) = task.masks, task.seeds
    trained = recipe.train(task.name, task.label, task.x[mask], task.y[mask], seed=seed)
    return (predict_log_proba(trained.model, task.x)[None],
            predict_log_proba(trained.model, task.population_x)[None])


def train_references(recipe: Recipe, x: np.ndarray, y: np.ndarray, population_x: np.ndarray,
                     *, k: int, seed: int, name: str, executor: Any = None) -> ReferenceOutputs:
    """Trains K reference models with `recipe` on random halves of (x, y) and scores them.

    Stackable recipes train in stacks of ``execution.models_per_task`` models, others one
    model per task; the tasks run on `executor` (default: one after another here).

    Args:
      recipe: the arm's recipe (target and references train alike).
      x, y: the audit pool (members then non-members of the target).
      population_x: points no model trains on (RMIA's z).
      k: number of reference models (>= 1).
      seed: seed of the masks and of each model's weights, sampling and noise; the
        same for both arms, so their reference models are paired like their targets.
      name: cache name prefix (e.g. "baseline-reference").
      executor: a `dpaudit.execution.Executor`, or None for the local one.

    Returns:
      The ReferenceOutputs.
    """
    from dpaudit.execution import LocalExecutor, portable_recipe, trainer_root

    started = time.perf_counter()
    executor = executor or LocalExecutor()
    masks = reference_masks(len(x), k, derive_seed(seed, "masks"))
    seeds = [derive_seed(seed, "model", i) for i in range(k)]
    config = recipe.config
    why_not = _why_not_stacked(config, private=recipe.private, trainer=recipe.trainer)
    size = config.execution.models_per_task if why_not is None else 1
    if why_not is not None:
        logger.info("%s: training %d reference models one at a time: %s", name, k, why_not)
        recipe.progress.note(f"{name}: {k} models one at a time ({why_not})")
    task_recipe = recipe if executor.in_process else portable_recipe(recipe)
    root = None if executor.in_process else trainer_root(recipe)
    tasks = []
    for first in range(0, k, size):
        last = min(k, first + size)
        if why_not is not None:
            group, label = f"{name}-{last}", f"{recipe.arm} reference {last}/{k}"
        elif size >= k:  # one stack: the name it has always had in the cache
            group, label = name, f"{recipe.arm} references x{k}"
        else:
            group, label = f"{name}-{first + 1}-{last}", \
                f"{recipe.arm} references {first + 1}-{last} of {k}"
        tasks.append(ReferenceTask(recipe=task_recipe, name=group, label=label, x=x, y=y,
                                   population_x=population_x, masks=masks[first:last],
                                   seeds=tuple(seeds[first:last]), stacked=why_not is None,
                                   trainer_root=root))
    parts = executor.map(train_reference_task, tasks, labels=[t.label for t in tasks],
                         progress=recipe.progress)
    how = "stacked" if why_not is None else "one at a time"
    if len(tasks) > 1 and why_not is None:
        how = f"stacked, {len(tasks)} stacks of up to {size}"
    return ReferenceOutputs(log_proba=np.concatenate([p for p, _ in parts]),
                            population_log_proba=np.concatenate([q for _, q in parts]),
                            masks=masks, how=how, seconds=time.perf_counter() - started)


def _stacked(task: ReferenceTask) -> tuple[np.ndarray, np.ndarray]:
    from dpaudit.training.stacked import StackSettings, stacked_log_proba, train_stacked

    recipe, x, y, masks, seeds = task.recipe, task.x, task.y, task.masks, list(task.seeds)
    config = recipe.config
    t, d = config.training, config.dp
    h = hashlib.sha256(recipe.key(x, y, seeds[0]).encode())
    h.update(np.asarray(seeds, np.int64).tobytes())
    h.update(np.packbits(masks).tobytes())
    key = h.hexdigest()[:32]
    k = len(seeds)
    cached = recipe.cache.get_arrays(task.name, key)
    if cached is not None:
        arrays, _ = cached
        n_weights = len([a for a in arrays if a.startswith("m0_")])
        weights = [[arrays[f"m{i}_{j}"] for j in range(n_weights)] for i in range(k)]
        recipe.progress.reused(task.label, recipe.cache.directory)
    else:
        settings = StackSettings(optimizer=t.optimizer, learning_rate=t.learning_rate,
                                 epochs=t.epochs, batch_size=t.batch_size, sampling=d.sampling,
                                 private=recipe.private, l2_norm_clip=d.l2_norm_clip,
                                 noise_multiplier=recipe.noise_multiplier)
        initial = [_initial_weights(recipe, s) for s in seeds]
        # fit_private's seed for a model of seed s, as Recipe.train passes it.
        fit_seeds = [derive_seed(s, "sampling") for s in seeds]
        with recipe.progress.model(task.label, t.epochs) as advance:
            result = train_stacked(initial, x, y, masks, seeds=fit_seeds, settings=settings,
                                   advance=advance)
        weights = result.weights
        recipe.cache.put_arrays(task.name, key, {f"m{i}_{j}": w for i, ws in enumerate(weights)
                                                 for j, w in enumerate(ws)},
                                {"steps": result.steps})
    return stacked_log_proba(weights, x), stacked_log_proba(weights, task.population_x)


def _true_class_proba(log_proba: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """p(y|x) from log-probabilities (..., n, classes): RMIA's score."""
    index = np.broadcast_to(labels[:, None], (*log_proba.shape[:-1], 1))
    return np.exp(np.take_along_axis(log_proba, index, axis=-1)[..., 0])


def _initial_weights(recipe: Recipe, seed: int) -> list[np.ndarray]:
    """What `recipe.build(seed)` would start from, without building a Keras model."""
    from dpaudit.training.models import dense_initial_weights

    if seed not in recipe.initial_weights:
        cfg = recipe.config.model
        recipe.initial_weights[seed] = dense_initial_weights(
            cfg.name, input_shape=recipe.input_shape, num_classes=recipe.num_classes,
            seed=seed, hidden=cfg.hidden)
    return recipe.initial_weights[seed]


def reference_attack_results(name: str, refs: ReferenceOutputs, target_log_proba: np.ndarray,
                             target_population_log_proba: np.ndarray, labels: np.ndarray,
                             population_labels: np.ndarray, is_member: np.ndarray,
                             kw: dict[str, Any]) -> tuple[Any, Any | None]:
    """One reference attack on the target, and pooled over the reference models.

    Args:
      name: "lira", "lira_offline" or "rmia".
      refs: the arm's reference models' outputs.
      target_log_proba: (n, classes) of the target on the pool.
      target_population_log_proba: (m, classes) of the target on the population.
      labels, population_labels: true labels of the pool and of the population.
      is_member: (n,) membership of the pool examples in the target.
      kw: delta, confidence, seed for `attacks.evaluate`.

    Returns:
      (target result, pooled result or None with fewer than `MIN_POOLED` models).

    Raises:
      InputError: too few reference models for the attack (e.g. LiRA with one).
    """
    try:
        return _reference_attack(name, refs, target_log_proba, target_population_log_proba,
                                 labels, population_labels, is_member, kw)
    except ValueError as e:  # the attack cannot run on so few models: the user's setting
        raise InputError(f"attack {name!r} with attacks.n_reference = {len(refs.masks)} "
                         f"reference models: {e}") from None


def _reference_attack(name, refs, target_log_proba, target_population_log_proba, labels,
                      population_labels, is_member, kw):
    from dpaudit import attacks

    k = len(refs.masks)
    details = {"n_reference": k, "reference_training": refs.how}
    if name in ("lira", "lira_offline"):
        options = {"online": name == "lira", "global_variance": k < _GLOBAL_VARIANCE_BELOW}
        target = attacks.logit_scaled_confidence(target_log_proba, labels)
        scores = attacks.logit_scaled_confidence(refs.log_proba, labels)
        result = attacks.lira_attack(target, scores, refs.masks, is_member, **options, **kw)
        pooled = attacks.pooled_attack(attacks.lira_attack, scores, refs.masks,
                                       **options, **kw) if k >= MIN_POOLED else None
        details["global_variance"] = options["global_variance"]
    else:
        scores = _true_class_proba(refs.log_proba, labels)
        population = _true_class_proba(refs.population_log_proba, population_labels)
        result = attacks.rmia_attack(
            _true_class_proba(target_log_proba, labels), scores, refs.masks, is_member,
            population_target=_true_class_proba(target_population_log_proba, population_labels),
            population_reference=population, **kw)
        pooled = attacks.pooled_attack(
            attacks.rmia_attack, scores, refs.masks, population_scores=population,
            **kw) if k >= MIN_POOLED else None
    result = dataclasses.replace(result, details={**result.details, **details})
    if pooled is not None:
        pooled = dataclasses.replace(pooled, details={
            **pooled.details, **details, "pooled_pairs_independent": False})
    return result, pooled
