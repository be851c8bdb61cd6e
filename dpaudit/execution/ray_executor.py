"""Audit trainings as Ray tasks (https://docs.ray.io), on a local Ray or a cluster.

Each task runs `fn(task)` in a Ray worker with one CPU and TensorFlow limited to that
CPU, so a node with C CPUs trains C models at once without oversubscribing its cores.
Arguments and results travel through Ray's object store (Ray's own serialisation; dpaudit
writes no pickle files). An array that every task of a map shares (the audit pool of the
reference models, say) is put into the store once, not once per task. A failed task fails
the map: an `InputError` raised in a worker is raised here unchanged, anything else as the
worker's error.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Sequence, TypeVar

from dpaudit.errors import InputError
from dpaudit.execution.executors import Executor
from dpaudit.progress import NullProgress, Progress

__all__ = ["RayExecutor"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# One CPU per task: TensorFlow's thread pools sized to it, so parallel tasks do not
# each spin a pool as wide as the node.
_TASK_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
             "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "KERAS_BACKEND": "tensorflow"}


def _timed(fn: Callable[[Any], Any], task: Any, names: tuple[str, ...] = (),
           *shared: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    if names:  # Ray resolved the shared arrays' references (top-level arguments)
        task = dataclasses.replace(task, **dict(zip(names, shared)))
    value = fn(task)
    return value, time.perf_counter() - start


def shared_arrays(tasks: Sequence[Any]) -> tuple[str, ...]:
    """Fields holding the very same array object in every task (dataclass tasks only)."""
    import numpy as np

    if len(tasks) < 2 or not all(dataclasses.is_dataclass(t) for t in tasks):
        return ()
    first = tasks[0]
    return tuple(f.name for f in dataclasses.fields(first)
                 if isinstance(getattr(first, f.name, None), np.ndarray)
                 and all(getattr(t, f.name, None) is getattr(first, f.name) for t in tasks))


class RayExecutor(Executor):
    """Runs tasks as Ray tasks; see the module docstring.

    Args:
      address: an existing cluster ("auto", "HOST:PORT", "ray://HOST:PORT"); None starts
        a Ray on this machine, shut down again by `close`.
      num_cpus: CPUs of a Ray started here (None: all of them).
      object_store_memory: bytes of a Ray started here (None: Ray's default).
      progress: receives a note when Ray starts.
    """

    name = "ray"
    in_process = False

    def __init__(self, *, address: str | None = None, num_cpus: int | None = None,
                 object_store_memory: int | None = None, progress: Progress | None = None):
        try:
            import ray
        except ImportError:
            raise InputError("executor 'ray' needs Ray: pip install 'dpaudit[ray]'") from None
        self._ray = ray
        self._owned = False
        if not ray.is_initialized():
            options: dict[str, Any] = {"include_dashboard": False,
                                       "logging_level": logging.WARNING,
                                       "runtime_env": {"env_vars": dict(_TASK_ENV)}}
            if address is None:
                options.update(num_cpus=num_cpus, object_store_memory=object_store_memory)
            try:
                ray.init(address=address, **options)
            except ConnectionError as e:
                raise InputError(f"executor ray:{address}: cannot connect ({e})") from None
            self._owned = True
        resources = ray.cluster_resources()
        (progress or NullProgress()).note(
            f"Ray: {'joined ' + address if address else 'started locally'}, "
            f"{int(resources.get('CPU', 0))} CPUs")

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *,
            labels: Sequence[str] | None = None, progress: Progress | None = None) -> list[R]:
        ray = self._ray
        progress = progress or NullProgress()
        labels = list(labels) if labels is not None else [f"task {i + 1}" for i in
                                                            range(len(tasks))]
        # The job's runtime_env (set by ray.init above) carries _TASK_ENV to the workers.
        remote = ray.remote(num_cpus=1)(_timed)
        names = shared_arrays(tasks)
        stored = [ray.put(getattr(tasks[0], name)) for name in names]
        refs = [remote.remote(fn, dataclasses.replace(task, **{n: None for n in names})
                              if names else task, names, *stored) for task in tasks]
        where = {ref: i for i, ref in enumerate(refs)}
        results: list[Any] = [None] * len(refs)
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                for ref in ready:
                    i = where[ref]
                    try:
                        results[i], seconds = ray.get(ref)
                    except ray.exceptions.RayTaskError as e:
                        cause = getattr(e, "cause", None)
                        if isinstance(cause, InputError):
                            raise InputError(str(cause)) from None
                        raise RuntimeError(f"{labels[i]} failed in a Ray worker: {e}") from e
                    progress.done(labels[i], seconds)
        except BaseException:
            for ref in pending:  # interrupted or failed: free the cluster
                ray.cancel(ref)
            raise
        return results

    def close(self) -> None:
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()
            self._owned = False
