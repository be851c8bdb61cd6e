"""Privacy accounting for DP-SGD via dp-accounting: epsilon (RDP and PLD), noise
calibration and a readable privacy statement. No TensorFlow.

The names load on first use (dp-accounting takes about a second to import), so code that
only needs `SAMPLINGS` or the training plan stays fast to start.
"""

from __future__ import annotations

import importlib
from typing import Any

from dpaudit.accounting.plan import SAMPLINGS

_LAZY = {name: "dpaudit.accounting.pricing" for name in (
    "ACCOUNTANTS", "PrivacyStatement", "calibrate_noise", "compute_epsilon", "dp_sgd_privacy",
    "dp_sgd_steps", "effective_noise_multiplier", "epsilon_per_epoch", "privacy_info",
    "steps_per_epoch")}

__all__ = ["SAMPLINGS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
