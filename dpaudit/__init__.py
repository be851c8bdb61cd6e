"""dpaudit: privacy audits and membership-inference tests for Keras models.

`import dpaudit` is deliberately light: nothing here imports TensorFlow. The DP
training API lives in `dpaudit.dp` and loads TensorFlow when first imported.
"""

from dpaudit.errors import DPAuditError, InputError

__version__ = "0.1.0"

__all__ = ["DPAuditError", "InputError", "__version__"]
