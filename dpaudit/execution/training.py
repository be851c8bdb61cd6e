"""Training tasks for an executor: one model of an arm, trained (or reused) and scored.

`TrainAndScore` is the `train_and_score` callable the shadow-model attack receives
(`dpaudit.attacks.shadow`): called once it trains one model; its `many` trains a whole
list of them on the executor. Each `TrainTask` is a pure function of the arm's recipe, the
seed, the model id and the examples it trains on, so a local and a Ray run give the same
models, and a reused model (same key in the cache) is the one a fresh run would train.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from dpaudit.execution.executors import Executor, LocalExecutor
from dpaudit.progress import NullProgress

__all__ = ["TrainTask", "train_and_predict", "TrainAndScore", "portable_recipe",
           "restore_trainer", "trainer_root"]


def portable_recipe(recipe: Any) -> Any:
    """`recipe` as a task run elsewhere (a Ray worker) needs it.

    Without this process's live objects: progress is reported here as tasks finish,
    initial weights are rebuilt from the seed (the model zoo's initialisers are seeded),
    and a user trainer is left out: the worker imports it by its spec
    (`restore_trainer`), from the folder `trainer_root` names, rather than unpickling a
    function whose module it may not find. The cache folder is made absolute: workers
    need not share our working folder.
    """
    cache = recipe.cache
    if cache.directory is not None:
        cache = type(cache)(Path(cache.directory).resolve())
    return dataclasses.replace(recipe, progress=NullProgress(), initial_weights={}, cache=cache,
                               trainer=None)


def trainer_root(recipe: Any) -> str | None:
    """Where the recipe's user trainer imports from (None: no trainer)."""
    from dpaudit.training.trainers import trainer_import_root

    spec = recipe.config.model.trainer
    return trainer_import_root(spec) if spec else None


def restore_trainer(recipe: Any, root: str | None) -> Any:
    """A portable recipe with its user trainer imported again (here, in the worker)."""
    spec = recipe.config.model.trainer
    if not spec or recipe.trainer is not None:
        return recipe
    from dpaudit.training.trainers import load_trainer_from

    return dataclasses.replace(recipe, trainer=load_trainer_from(spec, root))


@dataclasses.dataclass(frozen=True)
class TrainTask:
    """One model to train with `recipe` (a `dpaudit.training.Recipe`) and score.

    Attributes:
      recipe: how the arm trains; its cache is where the model is saved and reused from.
      name: model id, the file name in the cache (e.g. "dp-shadow-3").
      label: progress label.
      x_train, y_train: the examples it trains on (its membership mask over a pool).
      x_eval: examples whose class probabilities are returned.
      seed: seed of the initial weights, sampling and noise.
      trainer_root: where a portable recipe's user trainer imports from (`trainer_root`).
    """

    recipe: Any
    name: str
    label: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_eval: np.ndarray
    seed: int
    trainer_root: str | None = None


def train_and_predict(task: TrainTask) -> np.ndarray:
    """Trains (or reloads) the task's model and returns its probabilities on x_eval."""
    from dpaudit.training import predict_proba

    recipe = restore_trainer(task.recipe, task.trainer_root)
    trained = recipe.train(task.name, task.label, task.x_train, task.y_train,
                           seed=int(task.seed))
    return predict_proba(trained.model, task.x_eval)


class TrainAndScore:
    """`train_and_score(x_train, y_train, x_eval, seed)` over an executor.

    Args:
      recipe: the arm's recipe.
      executor: where the models train (default: in this process).
      name: model id prefix; the i-th model (from 1) is "<name>-<i>".
      label: progress label prefix; the i-th is "<label> <i>/<total>".
      total: how many models the caller will ask for (for labels).
    """

    def __init__(self, recipe: Any, executor: Executor | None = None, *, name: str,
                 label: str, total: int):
        self.recipe = recipe
        self.executor = executor or LocalExecutor()
        self._name, self._label, self._total = name, label, total
        self._counter = itertools.count(1)

    def __call__(self, x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray,
                 seed: int) -> np.ndarray:
        return self.many([(x_train, y_train, x_eval, seed)])[0]

    def many(self, requests: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray, int]]
             ) -> list[np.ndarray]:
        """Trains one model per (x_train, y_train, x_eval, seed); outputs in order."""
        recipe = self.recipe if self.executor.in_process else portable_recipe(self.recipe)
        root = None if self.executor.in_process else trainer_root(self.recipe)
        tasks = []
        for x_train, y_train, x_eval, seed in requests:
            i = next(self._counter)
            tasks.append(TrainTask(recipe=recipe, name=f"{self._name}-{i}",
                                   label=f"{self._label} {i}/{self._total}",
                                   x_train=np.asarray(x_train), y_train=np.asarray(y_train),
                                   x_eval=np.asarray(x_eval), seed=int(seed),
                                   trainer_root=root))
        return self.executor.map(train_and_predict, tasks, labels=[t.label for t in tasks],
                                 progress=self.recipe.progress)
