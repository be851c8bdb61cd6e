"""Collecting canary observations: white-box runs of the DP step, black-box runs of a recipe."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from dpaudit.accounting import SAMPLINGS, privacy_info
from dpaudit.canary.records import CanaryObservations
from dpaudit.canary.tasks import WhiteboxTask, run_tasks, task_progress, whitebox_run
from dpaudit.errors import InputError
from dpaudit.execution import Executor, LocalExecutor
from dpaudit.validation import check_choice, check_int, check_non_negative, check_positive

__all__ = ["whitebox_observations", "blackbox_observations"]

logger = logging.getLogger(__name__)


# Canary gradient norm in units of l2_norm_clip: > 1 so a missing per-example clip shows.
_GRADIENT_NORM_FACTOR = 10.0


def whitebox_observations(*, dataset_size: int, batch_size: int, epochs: int,
                          l2_norm_clip: float, noise_multiplier: float, delta: float,
                          sampling: str = "poisson", num_canaries: int = 1000, runs: int = 1,
                          seed: int = 0, progress: Any = None,
                          executor: Executor | None = None) -> CanaryObservations:
    """White-box Dirac-canary observations of dpaudit's DP-SGD (module docstring).

    Args:
      dataset_size, batch_size, epochs, l2_norm_clip, noise_multiplier, sampling: the
        DP-SGD run to audit (N, B, epochs, C, sigma, "poisson" | "shuffle").
      delta: the delta the accountant's epsilon is computed at.
      num_canaries: m per run; N and B are scaled up together when m > N.
      runs: independent training runs (fresh coins, sampling and noise each).
      seed: seeds everything; same seed, same observations.
      progress: a `dpaudit.progress.Progress` (one bar per run), or None.
      executor: a `dpaudit.execution.Executor` the runs go through (default: here).

    Returns:
      CanaryObservations with mode "whitebox".

    Raises:
      InputError: a setting out of range, named.
    """
    from dpaudit.progress import NullProgress
    from dpaudit.training import derive_seed

    n = check_int("dataset_size", dataset_size, minimum=1)
    b = check_int("batch_size", batch_size, minimum=1)
    epochs = check_int("epochs", epochs, minimum=1)
    m = check_int("num_canaries", num_canaries, minimum=2)
    runs = check_int("runs", runs, minimum=1)
    check_choice("sampling", sampling, SAMPLINGS)
    if b > n:
        raise InputError(f"batch_size must be at most the dataset size {n}, got {b}")
    l2_norm_clip = check_positive("l2_norm_clip", l2_norm_clip, finite=True)
    noise_multiplier = check_non_negative("noise_multiplier", noise_multiplier, finite=True)
    scale = max(1, -(-m // n))
    n_run, b_run = n * scale, b * scale
    progress = progress or NullProgress()
    executor = executor or LocalExecutor()
    tasks = [WhiteboxTask(label=f"white-box run {r + 1}/{runs}", dataset_size=n_run,
                          batch_size=b_run, epochs=epochs, l2_norm_clip=float(l2_norm_clip),
                          noise_multiplier=float(noise_multiplier), sampling=sampling,
                          num_canaries=m, seed=derive_seed(seed, "whitebox", r),
                          gradient_norm_factor=_GRADIENT_NORM_FACTOR,
                          progress=task_progress(progress, executor))
             for r in range(runs)]
    results = run_tasks(executor, whitebox_run, tasks, progress)
    scores = [run.scores for run in results]
    members = [run.is_member for run in results]
    run_ids = [np.full(m, r) for r in range(runs)]
    steps = max([0] + [run.steps for run in results])
    diagnostics = [(run.mean_update_in, run.mean_update_out, run.std_update_out)
                   for run in results]
    note = (f"white-box run at N={n_run}, B={b_run} (config N={n}, B={b} scaled by {scale} "
            f"to fit {m} canaries; same sampling rate and steps)" if scale > 1 else "")
    privacy = privacy_info(dataset_size=n_run, batch_size=b_run,
                            noise_multiplier=float(noise_multiplier),
                            l2_norm_clip=float(l2_norm_clip), delta=delta, steps=steps,
                            epochs=epochs, sampling=sampling, num_microbatches=None, note=note)
    diag = np.array(diagnostics)
    details = {"dataset_size": n_run, "batch_size": b_run, "scale": scale, "steps": steps,
               "gradient_norm_factor": _GRADIENT_NORM_FACTOR,
               "mean_update_included": float(np.nanmean(diag[:, 0])),
               "mean_update_excluded": float(np.nanmean(diag[:, 1])),
               "std_update_excluded": float(np.nanmean(diag[:, 2])),
               "expected_mean_update_included": b_run / n_run,
               "expected_std_update_excluded": float(noise_multiplier)}
    return CanaryObservations(mode="whitebox", scores=np.concatenate(scores),
                              is_member=np.concatenate(members),
                              run_ids=np.concatenate(run_ids), num_canaries=m, runs=runs,
                              privacy=privacy, details=details)


def blackbox_observations(config: Any, *, num_canaries: int = 100, runs: int = 1,
                          data: Any = None, out_dir: str | Path | None = None,
                          progress: Any = None, executor: Executor | None = None
                          ) -> CanaryObservations:
    """Black-box observations: mislabelled canaries trained with the config's DP recipe.

    Args:
      config: a `dpaudit.config.AuditConfig` (its model or `model.trainer`, training and
        dp settings are used; the dp arm's recipe trains every run).
      num_canaries: m per run, drawn from the examples the target never trains on.
      runs: independent training runs (fresh coins, initial weights, sampling, noise).
      data: a loaded `dpaudit.data.AuditData` (default: loaded from the config).
      out_dir: where trained models are cached (resumable) when output.save_models.
      progress: a `dpaudit.progress.Progress`, or None.
      executor: a `dpaudit.execution.Executor` the runs train on (default: here).

    Returns:
      CanaryObservations with mode "blackbox".
    """
    from dpaudit.canary.blackbox import blackbox_runs

    m = check_int("num_canaries", num_canaries, minimum=2)
    runs = check_int("runs", runs, minimum=1)
    return blackbox_runs(config, num_canaries=m, runs=runs, data=data, out_dir=out_dir,
                         progress=progress, executor=executor)
