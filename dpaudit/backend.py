"""The TensorFlow that training commands need, and the message when it is not installed.

dpaudit's base install is light (attacks, metrics, bounds, accounting, reports, the gate on a
results.json); training and loading Keras models need one TensorFlow distribution, which the
user chooses through an extra so dpaudit never installs a second one beside theirs.
"""

from __future__ import annotations

import importlib.util

from dpaudit.errors import InputError

__all__ = ["INSTALL_HINT", "has_tensorflow", "require_tensorflow"]

INSTALL_HINT = ("pip install 'dpaudit[tensorflow]' (or 'dpaudit[tensorflow-cpu]' for the "
                "CPU-only wheel; if you already have TensorFlow >= 2.21, it is used as is)")


def has_tensorflow() -> bool:
    """True when some TensorFlow distribution is importable (without importing it)."""
    return importlib.util.find_spec("tensorflow") is not None


def require_tensorflow(what: str) -> None:
    """Raises InputError naming the extra to install when TensorFlow is missing.

    Args:
      what: what needs it, e.g. "dpaudit train-and-attack".
    """
    if not has_tensorflow():
        raise InputError(f"{what} needs TensorFlow, which is not installed: {INSTALL_HINT}")
