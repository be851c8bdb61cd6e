"""Framework-agnostic membership-inference attacks and leakage metrics.

Numpy arrays in, numpy arrays out; this package never imports TensorFlow.
"""

__all__: list[str] = []
