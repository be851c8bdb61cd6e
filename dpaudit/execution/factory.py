"""`--executor` specs (`local`, `ray`, `ray:ADDRESS`) and the executor each one names."""

from __future__ import annotations

from dpaudit.errors import InputError
from dpaudit.execution.executors import Executor, LocalExecutor
from dpaudit.progress import NullProgress, Progress

__all__ = ["EXECUTOR_KINDS", "make_executor", "parse_executor"]

EXECUTOR_KINDS = ("local", "ray")


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
