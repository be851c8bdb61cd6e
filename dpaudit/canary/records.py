"""Canary observations: the scores of one audit's canaries and what the accountant claims."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from dpaudit.results import PrivacyInfo, Utility

__all__ = ["MODES", "METHODS", "CanaryObservations", "default_num_canaries"]

logger = logging.getLogger(__name__)


MODES = ("whitebox", "blackbox", "trainer")
METHODS = ("one-run", "multi-run")


@dataclass(frozen=True)
class CanaryObservations:
    """Canary scores from one or more training runs, and what the accountant claims.

    Attributes:
      mode: "whitebox", "blackbox" or "trainer".
      scores: (runs * m,) canary scores, higher = more likely included.
      is_member: (runs * m,) the canaries' inclusion coins.
      run_ids: (runs * m,) the run each observation came from.
      num_canaries: m, canaries per run.
      runs: number of training runs.
      privacy: the DP settings of the audited runs and the accountant's epsilon (the
        largest over runs when their dataset sizes differ).
      utility: accuracy/loss of the first run's model (black-box only).
      details: diagnostics for results.json (e.g. white-box mean updates).
    """

    mode: str
    scores: np.ndarray = field(repr=False)
    is_member: np.ndarray = field(repr=False)
    run_ids: np.ndarray = field(repr=False)
    num_canaries: int
    runs: int
    privacy: PrivacyInfo
    utility: Utility | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def epsilon(self) -> float:
        """The accountant's epsilon to hold the evidence against (tighter of RDP/PLD)."""
        epsilon = self.privacy.epsilon
        return math.inf if epsilon is None else epsilon


def default_num_canaries(mode: str) -> int:
    """1000 white-box canaries (cheap: one model row each), 256 trainer-mode ones per run
    (`dpaudit.canary.design`), 100 black-box ones."""
    return {"whitebox": 1000, "trainer": 256}.get(mode, 100)
