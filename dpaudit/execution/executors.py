"""The executor interface and the in-process executor."""

from __future__ import annotations

from typing import Any, Callable, Sequence, TypeVar

from dpaudit.progress import Progress

__all__ = ["Executor", "LocalExecutor"]

T = TypeVar("T")
R = TypeVar("R")


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
