"""Canary training runs as executor tasks (`dpaudit.execution`): one run, one pure task.

Each run of a canary audit (black-box, trainer or white-box mode) is a frozen task that
carries everything it needs (recipe or trainer spec, the run's training arrays, seeds,
canaries, settings) and a module-level function that trains it and returns plain results
(scores, steps run, run 0's utility, whether the model was reused). So a local and a Ray
run of an audit give the same observations, and the accounting and summaries stay in
the caller. Tasks built for an executor that runs elsewhere carry no live objects
(progress bars, preloaded trainers, step recorders): the recorder is made inside the task,
a user trainer is imported there by its spec.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from dpaudit.execution import Executor, portable_recipe, restore_trainer, trainer_root
from dpaudit.training.trainers import load_trainer_from
from dpaudit.progress import NullProgress, Progress

__all__ = ["BlackboxTask", "BlackboxRun", "TrainerTask", "TrainerRun", "WhiteboxTask",
           "blackbox_task", "blackbox_run", "trainer_run", "whitebox_run", "run_tasks",
           "task_progress"]


def task_progress(progress: Progress | None, executor: Executor) -> Progress:
    """The bar a task may carry: the caller's in process; none elsewhere, where the
    executor reports each finished task instead."""
    return (progress or NullProgress()) if executor.in_process else NullProgress()


def run_tasks(executor: Executor, fn: Any, tasks: Sequence[Any], progress: Progress) -> list:
    """`executor.map` with the tasks' labels; remote tasks report `progress.done`."""
    return executor.map(fn, tasks, labels=[t.label for t in tasks], progress=progress)


@dataclasses.dataclass(frozen=True)
class BlackboxTask:
    """One black-box run: the dp recipe trained (or reloaded) on members + canaries in.

    Attributes:
      recipe: the dp arm's `dpaudit.training.Recipe`; for a remote task a portable one
        without its trainer (then `trainer_root` says where its spec imports from).
      name, label: model id in the cache, progress label.
      x_train, y_train: members, then the included canaries.
      canary_x, canary_y: every canary, with its wrong label (scored).
      seed: the run's seed.
      n_members: the first n_members rows of x_train are the members (utility).
      test_x, test_y: test examples for the utility figures (run 0 only, else None).
      trainer_root: the folder a user trainer imports from, or None.
    """

    recipe: Any
    name: str
    label: str
    x_train: np.ndarray
    y_train: np.ndarray
    canary_x: np.ndarray
    canary_y: np.ndarray
    seed: int
    n_members: int
    test_x: np.ndarray | None = None
    test_y: np.ndarray | None = None
    trainer_root: str | None = None


@dataclasses.dataclass(frozen=True)
class BlackboxRun:
    """What a black-box run returns: scores (-loss on the wrong labels), the steps its
    history recorded (None: not recorded), whether the model was reused, utility (run 0)."""

    scores: np.ndarray
    steps: int | None
    reused: bool
    utility: Any = None


def blackbox_task(recipe: Any, executor: Executor, **fields: Any) -> BlackboxTask:
    """A `BlackboxTask`; portable (no live objects) when `executor` runs elsewhere."""
    root = None
    if not executor.in_process:
        # Workers import the trainer by its spec (task function below), not by pickle.
        root, recipe = trainer_root(recipe), portable_recipe(recipe)
    return BlackboxTask(recipe=recipe, trainer_root=root, **fields)


def blackbox_run(task: BlackboxTask) -> BlackboxRun:
    """Trains (or reloads) the run's model and scores its canaries."""
    from dpaudit.training import measure_utility, per_example_loss, predict_proba

    recipe = restore_trainer(task.recipe, task.trainer_root)
    trained = recipe.train(task.name, task.label, task.x_train, task.y_train,
                           seed=int(task.seed))
    probs = predict_proba(trained.model, task.canary_x)
    steps_run = trained.history.get("steps") or ()
    utility = None
    if task.test_x is not None:
        n = task.n_members
        utility = measure_utility(predict_proba(trained.model, task.x_train[:n]),
                                  task.y_train[:n], predict_proba(trained.model, task.test_x),
                                  task.test_y)
    return BlackboxRun(scores=-per_example_loss(probs, task.canary_y),
                       steps=int(steps_run[-1]) if steps_run else None,
                       reused=bool(trained.reused), utility=utility)


@dataclasses.dataclass(frozen=True)
class TrainerTask:
    """One trainer-mode run: the user's trainer on the included canaries at audit settings.

    Attributes:
      spec: the trainer, "module:function" (imported inside the task).
      trainer_root: the folder the spec imports from (added to a worker's path), or None.
      label: progress label.
      canary_x, canary_y: every canary (all are scored).
      included: the run's coins; the trainer gets the included canaries.
      seed: the seed the trainer gets.
      noise_multiplier, l2_norm_clip, steps: the audit's `DPSettings` (full batch).
      progress: a bar for in-process runs; a `NullProgress` for remote ones.
    """

    spec: str
    trainer_root: str | None
    label: str
    canary_x: np.ndarray
    canary_y: np.ndarray
    included: np.ndarray
    seed: int
    noise_multiplier: float
    l2_norm_clip: float
    steps: int
    progress: Progress = dataclasses.field(default_factory=NullProgress)


@dataclasses.dataclass(frozen=True)
class TrainerRun:
    """What a trainer-mode run returns: every canary's score, updates the hook saw."""

    scores: np.ndarray
    steps: int


def trainer_run(task: TrainerTask) -> TrainerRun:
    """Runs the trainer with a fresh step recorder and scores every canary from it."""
    from dpaudit.canary.gradient import StepRecorder, score_updates
    from dpaudit.training.trainers import DPSettings, call_trainer

    trainer = load_trainer_from(task.spec, task.trainer_root)
    batch = int(task.included.sum())
    recorder = StepRecorder()
    settings = DPSettings(noise_multiplier=task.noise_multiplier,
                          l2_norm_clip=task.l2_norm_clip, batch_size=batch, steps=task.steps,
                          sampling="poisson", observe=recorder)
    with task.progress.model(task.label, 1) as advance:
        call_trainer(trainer, task.spec, task.canary_x[task.included],
                     task.canary_y[task.included], what="canaries", seed=int(task.seed),
                     private=True, dp=settings)
        scores = score_updates(recorder, task.canary_x, task.canary_y, batch_size=batch)
        advance(1)
    return TrainerRun(scores=np.asarray(scores), steps=int(recorder.steps))


@dataclasses.dataclass(frozen=True)
class WhiteboxTask:
    """One white-box run: the arguments of `dpaudit.canary.whitebox.run_whitebox`, a
    progress label, and a bar for in-process runs (a `NullProgress` for remote ones)."""

    label: str
    dataset_size: int
    batch_size: int
    epochs: int
    l2_norm_clip: float
    noise_multiplier: float
    sampling: str
    num_canaries: int
    seed: int
    gradient_norm_factor: float
    progress: Progress = dataclasses.field(default_factory=NullProgress)


def whitebox_run(task: WhiteboxTask) -> Any:
    """The run's `dpaudit.canary.whitebox.WhiteboxRun` (scores, coins, steps, diagnostics)."""
    from dpaudit.canary.whitebox import run_whitebox  # imports TensorFlow

    with task.progress.model(task.label, 1) as advance:
        run = run_whitebox(dataset_size=task.dataset_size, batch_size=task.batch_size,
                           epochs=task.epochs, l2_norm_clip=task.l2_norm_clip,
                           noise_multiplier=task.noise_multiplier, sampling=task.sampling,
                           num_canaries=task.num_canaries, seed=task.seed,
                           gradient_norm_factor=task.gradient_norm_factor)
        advance(1)
    return run
