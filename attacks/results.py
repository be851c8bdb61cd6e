"""AttackResult: what every attack returns (name, scores, membership, metrics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import AttackMetrics

__all__ = ["AttackResult"]


@dataclass(frozen=True, eq=False)
class AttackResult:
    """One attack's per-example scores and the metrics computed from them.

    Attributes:
      name: attack name, e.g. "loss_threshold", "confidence", "modified_entropy",
        "shadow".
      scores: one float per example, higher = more likely a member (read-only).
      is_member: the true membership flags, bool (read-only).
      metrics: `attacks.evaluate(scores, is_member, ...)`.
      details: attack-specific settings worth reporting (e.g. number of shadow models).
    """

    name: str
    scores: np.ndarray = field(repr=False)
    is_member: np.ndarray = field(repr=False)
    metrics: AttackMetrics
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        scores = np.array(self.scores, dtype=np.float64)
        is_member = np.array(self.is_member, dtype=bool)
        if scores.shape != is_member.shape or scores.ndim != 1:
            raise ValueError(f"scores and is_member must be 1-D of the same length, got "
                             f"shapes {scores.shape} and {is_member.shape}")
        scores.setflags(write=False)
        is_member.setflags(write=False)
        # Frozen dataclass: the copies replace the caller's arrays so they cannot change.
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "is_member", is_member)
