"""The executor interface, the in-process executor, and `--executor` specs."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from dpaudit.errors import InputError
from dpaudit.progress import NullProgress, Progress

__all__ = ["EXECUTOR_KINDS", "Executor", "LocalExecutor", "make_executor", "parse_executor"]

EXECUTOR_KINDS = ("local", "ray")

T = TypeVar("T")
R = TypeVar("R")


def parse_executor(spec: str) -> tuple[str, str | None]:
    """`local`, `ray` or `ray:ADDRESS` -> (kind, address or None).

    Raises:
      InputError: any other spec.
    """
    kind, sep, address = str(spec).strip().partition(":")
    if kind not in EXECUTOR_KINDS or (sep and (kind == "local" or not address)):
        raise InputError(f"executor must be local, ray or ray:ADDRESS (e.g. ray:auto or "
                         f"ray:10.0.0.5:6379), got {spec!r}")
    return kind, address or None


class Executor:
    """Maps a task function over tasks; results in task order.

    Subclasses implement `map`; `in_process` says whether tasks run in this process
    (then they may share live objects, e.g. a progress bar) or elsewhere (then each
    task must carry everything it needs).
    """

    name = "executor"
    in_process = True

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *,
            labels: Sequence[str] | None = None, progress: Progress | None = None) -> list[R]:
        """[fn(task) for task in tasks], possibly in parallel.

        Args:
          fn: a module-level function of one task.
          tasks: the tasks; each a pure input (same task -> same result anywhere).
          labels: one label per task, for progress lines of tasks run elsewhere.
          progress: receives `done(label, seconds)` per task finished elsewhere.
        """
        raise NotImplementedError

    def close(self) -> None:
        """Releases what the executor started (e.g. a local Ray)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class LocalExecutor(Executor):
    """Runs the tasks one after another in this process (the default)."""

    name = "local"

    def map(self, fn: Callable[[T], R], tasks: Sequence[T], *,
            labels: Sequence[str] | None = None, progress: Progress | None = None) -> list[R]:
        # In-process tasks report their own progress (the recipe's bars and lines).
        return [fn(task) for task in tasks]


def make_executor(spec: str, *, num_cpus: int | None = None,
                  progress: Progress | None = None) -> Executor:
    """The executor of a spec (see `parse_executor`).

    Args:
      spec: "local", "ray" (starts a local Ray with `num_cpus`, default all) or
        "ray:ADDRESS" (joins an existing cluster, e.g. "ray:auto").
      num_cpus: CPUs of a Ray started here.
      progress: receives a note when a Ray cluster is started or joined.

    Raises:
      InputError: a bad spec, or Ray asked for but not installed.
    """
    kind, address = parse_executor(spec)
    if kind == "local":
        return LocalExecutor()
    from dpaudit.execution.ray_executor import RayExecutor

    return RayExecutor(address=address, num_cpus=num_cpus,
                       progress=progress or NullProgress())
