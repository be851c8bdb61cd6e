"""Trainer-mode observations: a `--trainer` on the new contract, at settings dpaudit chooses.

Each run draws fair coins for the crafted canaries (`dpaudit.canary.gradient`), calls the
trainer on the included ones with `DPSettings` for full-batch DP-SGD (batch = the run's
dataset size, `design.TRAINER_STEPS` steps, noise calibrated to
`design.TRAINER_TARGET_EPSILON`) and the step hook, and scores every canary from every
recorded update. The accountant prices the steps the hook actually saw. Runs are not
cached: the audit needs each run's updates, which a saved model does not keep.

WARNING: this imports and runs the trainer's code (``model.trainer``).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from dpaudit.canary.design import TRAINER_STEPS, TRAINER_TARGET_EPSILON, trainer_noise_multiplier
from dpaudit.canary.records import CanaryObservations
from dpaudit.canary.tasks import (TrainerTask, run_tasks, task_progress,
                                  trainer_run)
from dpaudit.errors import InputError
from dpaudit.execution import Executor, LocalExecutor
from dpaudit.training.trainers import trainer_import_root

__all__ = ["trainer_observations"]

logger = logging.getLogger(__name__)


def trainer_observations(config: Any, *, num_canaries: int, runs: int, data: Any = None,
                         progress: Any = None, steps: int = TRAINER_STEPS,
                         target_epsilon: float = TRAINER_TARGET_EPSILON,
                         executor: Executor | None = None) -> CanaryObservations:
    """Crafted canaries through ``config.model.trainer`` (module docstring).

    Args:
      config: a `dpaudit.config.AuditConfig` with ``model.trainer`` set to a trainer that
        takes ``dp=`` (`dpaudit.training.trainers.accepts_settings`); its clip norm, delta
        and seed are used, its batch size, epochs and noise are not (dpaudit chooses them).
      num_canaries: m per run.
      runs: independent runs (fresh coins and seeds).
      data: loaded `dpaudit.data.AuditData` (its members fix the canaries' input shape
        and scale); default: loaded from the config.
      progress: a `dpaudit.progress.Progress`, or None.
      steps, target_epsilon: the audit settings (`dpaudit.canary.design`).
      executor: a `dpaudit.execution.Executor` the runs go through (default: here); each
        run is a `dpaudit.canary.tasks.TrainerTask` that imports the trainer by its spec.

    Returns:
      CanaryObservations with mode "trainer".

    Raises:
      InputError: an old-contract trainer, a trainer that fails, or never calls the hook.
    """
    from dpaudit.accounting import privacy_info
    from dpaudit.audit.inputs import load_audit_data
    from dpaudit.canary.gradient import CANARY_SCALE, craft_canaries
    from dpaudit.progress import NullProgress
    from dpaudit.training import derive_seed, load_trainer
    from dpaudit.training.trainers import accepts_settings

    spec = config.model.trainer
    if spec is None:
        raise InputError("--mode trainer needs a trainer (--trainer module:function)")
    trainer = load_trainer(spec)
    if not accepts_settings(trainer):
        raise InputError(f"trainer {spec!r} takes no 'dp' keyword, so dpaudit cannot give it "
                         "audit settings; add 'dp=None' to its signature (see "
                         "dpaudit.training.trainers) or audit it with --mode blackbox")
    data = data if data is not None else load_audit_data(config)
    progress = progress or NullProgress()
    executor = executor or LocalExecutor()
    delta = float(config.dp.delta)
    clip = float(config.dp.l2_norm_clip)
    noise = trainer_noise_multiplier(delta=delta, steps=steps, target_epsilon=target_epsilon)
    rng = np.random.default_rng(derive_seed(config.seed, "trainer-canaries"))
    canary_x, canary_y = craft_canaries(data.members.x, num_canaries, data.num_classes, rng)
    root = None if executor.in_process else trainer_import_root(spec)
    tasks, coins = [], []
    for r in range(runs):
        coin_rng = np.random.default_rng(derive_seed(config.seed, "trainer-coins", r))
        included = coin_rng.random(num_canaries) < 0.5
        if not included.any():  # probability 2^-m; an empty training set cannot run
            included[coin_rng.integers(num_canaries)] = True
        coins.append(included)
        tasks.append(TrainerTask(
            spec=spec, trainer_root=root, label=f"trainer run {r + 1}/{runs}",
            canary_x=canary_x, canary_y=canary_y, included=included,
            seed=derive_seed(config.seed, "trainer-run", r), noise_multiplier=noise,
            l2_norm_clip=clip, steps=steps, progress=task_progress(progress, executor)))
    results = run_tasks(executor, trainer_run, tasks, progress)
    privacies, observed = [], []
    for task, run in zip(tasks, results):
        if run.steps != steps:
            logger.warning("trainer %r made %d updates, asked for %d; the accountant prices "
                           "the %d it made", spec, run.steps, steps, run.steps)
        observed.append(run.steps)
        batch = int(task.included.sum())
        privacies.append(privacy_info(
            dataset_size=batch, batch_size=batch, noise_multiplier=noise, l2_norm_clip=clip,
            delta=delta, steps=run.steps, epochs=run.steps, sampling="poisson",
            num_microbatches=None,
            note=(f"audit settings chosen by dpaudit and given to trainer {spec!r}: full "
                  f"batch, {steps} steps, noise calibrated to epsilon {target_epsilon:g}")))
    scores = [run.scores for run in results]
    run_ids = [np.full(num_canaries, r) for r in range(runs)]
    worst = max(privacies, key=lambda p: math.inf if p.epsilon is None else p.epsilon)
    details = {"canary_source": (f"crafted: orthonormal input directions (random beyond the "
                                 f"input dimension) x {CANARY_SCALE:g} x the largest member "
                                 "input norm, random labels; training set = the included "
                                 "canaries only"),
               "scoring": ("every update observed through the step hook; least-squares "
                           "coefficient of each canary's gradient direction, summed over "
                           "steps (Nasr et al. 2023)"),
               "trainer": spec, "audit_steps": steps, "observed_steps": observed,
               "audit_noise_multiplier": noise, "audit_target_epsilon": target_epsilon,
               "dataset_sizes": sorted({p.dataset_size for p in privacies}),
               "cache": "trainer runs are not cached: the audit needs every update"}
    return CanaryObservations(mode="trainer", scores=np.concatenate(scores),
                              is_member=np.concatenate(coins),
                              run_ids=np.concatenate(run_ids), num_canaries=num_canaries,
                              runs=runs, privacy=worst, details=details)


