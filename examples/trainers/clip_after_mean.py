"""PLANTED BUG (clip_after_mean): see trainers._dpsgd. Claims the same DP settings as the correct one."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._dpsgd import dp_sgd

__all__ = ["train"]


def train(x: np.ndarray, y: np.ndarray, *, seed: int, private: bool, dp: Any = None) -> Any:
    """dpaudit's trainer contract: DP settings from dp (or hard-coded when None)."""
    return dp_sgd(x, y, seed=seed, private=private, dp=dp, bug="clip_after_mean")
