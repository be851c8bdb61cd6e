"""Black-box input-space canaries: mislabelled examples through the config's DP recipe.

Canaries are m examples the target never trains on (its non-members, then its test
set), each given a wrong label drawn at random: a model only fits such a label if it
memorises that very example, which is what DP forbids (Jagielski et al. 2020 and
Steinke et al. 2023 use such canaries in input space). Each run trains the dp arm's
recipe (`dpaudit.training.recipe.Recipe`, so the config's model or its
``--trainer module:function``, optimizer, sampling, clipping and noise) on the members
plus the canaries whose fair coin came up "in"; a canary's score is minus the final
model's loss on its wrong label.

The training set has n_members + (canaries included) examples, so its size varies
from run to run; the accountant is evaluated at each run's actual size and steps, and
the largest epsilon over the runs is the claim the evidence is held against.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from dpaudit.accounting import privacy_info, steps_per_epoch
from dpaudit.canary.records import CanaryObservations
from dpaudit.canary.tasks import blackbox_run, blackbox_task, run_tasks
from dpaudit.errors import InputError
from dpaudit.execution import Executor, LocalExecutor

__all__ = ["blackbox_runs", "mislabel"]


def mislabel(labels: np.ndarray, num_classes: int, rng: np.random.Generator) -> np.ndarray:
    """Each label replaced by a different class, uniformly at random."""
    if num_classes < 2:
        raise InputError("black-box canaries are mislabelled examples; the dataset needs at "
                         f"least 2 classes, got {num_classes}")
    shift = rng.integers(1, num_classes, size=len(labels))
    return (np.asarray(labels, np.int64) + shift) % num_classes


def blackbox_runs(config: Any, *, num_canaries: int, runs: int, data: Any = None,
                  out_dir: str | Path | None = None, progress: Any = None,
                  executor: Executor | None = None) -> CanaryObservations:
    """Trains `runs` models with canaries and scores them (see the module docstring).

    The runs are `dpaudit.canary.tasks.BlackboxTask`s on `executor` (default: here).
    """
    from dpaudit.audit.inputs import load_audit_data, resolve_noise
    from dpaudit.progress import NullProgress
    from dpaudit.training import ModelCache, Recipe, derive_seed, load_trainer

    executor = executor or LocalExecutor()
    data = data if data is not None else load_audit_data(config)
    members = data.members
    pool_x = np.concatenate([data.nonmembers.x, data.test.x])
    pool_y = np.concatenate([data.nonmembers.y, data.test.y])
    m = num_canaries
    # Keep at least a few test examples for the utility figures.
    available = len(pool_y) - min(len(data.test.y), 10)
    if m > available:
        raise InputError(f"--canaries {m} is more than the {available} examples the target "
                         "never trains on (non-members and test set, 10 kept for utility); "
                         "use fewer canaries or a larger dataset")
    rng = np.random.default_rng(derive_seed(config.seed, "blackbox-canaries"))
    chosen = rng.choice(len(pool_y), size=m, replace=False)
    canary_x, canary_y = pool_x[chosen], mislabel(pool_y[chosen], data.num_classes, rng)
    unused = np.setdiff1d(np.arange(len(data.nonmembers.y), len(pool_y)), chosen)
    test_x, test_y = pool_x[unused], pool_y[unused]

    noise, _ = resolve_noise(config, len(members))
    trainer = load_trainer(config.model.trainer) if config.model.trainer else None
    cache_dir = (Path(out_dir) / "models"
                 if out_dir is not None and config.output.save_models else None)
    recipe = Recipe(config=config, private=True, noise_multiplier=noise,
                    input_shape=data.input_shape, num_classes=data.num_classes,
                    cache=ModelCache(cache_dir), progress=progress or NullProgress(),
                    trainer=trainer)
    t, d = config.training, config.dp
    tasks, coins = [], []
    for r in range(runs):
        run_rng = np.random.default_rng(derive_seed(config.seed, "blackbox-coins", r))
        included = run_rng.random(m) < 0.5
        coins.append(included)
        tasks.append(blackbox_task(
            recipe, executor, name=f"canary-blackbox-{r}", label=f"canary run {r + 1}/{runs}",
            x_train=np.concatenate([members.x, canary_x[included]]),
            y_train=np.concatenate([members.y, canary_y[included]]),
            canary_x=canary_x, canary_y=canary_y,
            seed=derive_seed(config.seed, "blackbox-run", r), n_members=len(members.y),
            test_x=test_x if r == 0 else None, test_y=test_y if r == 0 else None))
    results = run_tasks(executor, blackbox_run, tasks, recipe.progress)
    claimed = ("" if trainer is None else
               f"DP settings as claimed in the config for trainer {config.model.trainer!r}; "
               "dpaudit cannot check the trainer uses them.")
    privacies = []
    for task, run in zip(tasks, results):
        size = len(task.y_train)
        steps = (run.steps if run.steps is not None else
                 t.epochs * steps_per_epoch(size, t.batch_size))
        privacies.append(privacy_info(
            dataset_size=size, batch_size=t.batch_size, noise_multiplier=noise,
            l2_norm_clip=d.l2_norm_clip, delta=d.delta, steps=steps, epochs=t.epochs,
            sampling=d.sampling, num_microbatches=d.num_microbatches, note=claimed))
    scores = [run.scores for run in results]
    run_ids = [np.full(m, r) for r in range(runs)]
    reused = [r for r, run in enumerate(results) if run.reused]
    utility = results[0].utility
    # The largest epsilon over runs: dataset sizes differ with the canaries drawn in.
    worst = max(privacies, key=lambda p: math.inf if p.epsilon is None else p.epsilon)
    details = {"canary_source": "non-members and test examples, labels changed at random",
               "dataset_sizes": sorted({p.dataset_size for p in privacies}),
               "utility_note": "utility of run 1's model, trained with its canaries",
               "models_reused": len(reused),
               "cache_key": ("config, seed, training examples and every source file of the "
                             "trainer's package" if trainer is not None
                             else "config, seed and training examples")}
    return CanaryObservations(mode="blackbox", scores=np.concatenate(scores),
                              is_member=np.concatenate(coins),
                              run_ids=np.concatenate(run_ids), num_canaries=m, runs=runs,
                              privacy=worst, utility=utility, details=details)
