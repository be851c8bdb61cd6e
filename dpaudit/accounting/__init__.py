"""Privacy accounting for DP-SGD via dp-accounting: the training plan, epsilon (RDP and
PLD), noise calibration and a readable privacy statement. No TensorFlow.

* `plan`: `DPTrainingPlan`, the one definition of a run (what `fit_private` runs and
  the event the accountant prices), and the step conventions.
* `pricing`: the epsilon of a plan (`plan_epsilon`, `compute_epsilon`, per epoch).
* `statement`: `PrivacyStatement`, both accountants' figures and what was assumed.
* `calibration`: `calibrate_noise`, the noise for a target epsilon.

The pricing names load on first use (dp-accounting takes about a second to import), so
code that only needs `SAMPLINGS` or the training plan stays fast to start.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from dpaudit.accounting.plan import SAMPLINGS, DPTrainingPlan, dp_sgd_steps, steps_per_epoch

_LAZY = {
    **{name: "dpaudit.accounting.pricing" for name in (
        "ACCOUNTANTS", "Accountant", "Sampling", "compute_epsilon",
        "effective_noise_multiplier", "epsilon_curve", "epsilon_per_epoch", "epsilons_after_steps",
        "plan_epsilon")},
    **{name: "dpaudit.accounting.statement" for name in (
        "PrivacyStatement", "dp_sgd_privacy", "privacy_info", "statement_of_plan")},
    "calibrate_noise": "dpaudit.accounting.calibration",
}

__all__ = ["SAMPLINGS", "DPTrainingPlan", "dp_sgd_steps", "steps_per_epoch", *_LAZY]


class _DroppedRdpOrders(logging.Filter):
    """dp-accounting warns once per RDP order it cannot evaluate ("failed to converge ...
    Excluding this order"), dozens of lines per epsilon in a script or notebook. Dropping
    an order keeps the RDP epsilon a valid upper bound (it is a minimum over the orders
    left), so these are debug notes, not warnings."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "failed to converge" in message and "Excluding this order" in message:
            logging.getLogger(__name__).debug("dp-accounting: %s", message)
            return False
        return True


logging.getLogger("absl").addFilter(_DroppedRdpOrders())


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
