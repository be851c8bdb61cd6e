"""Training data the speed benchmarks share: digits for the MLP, random images for the conv
net (timing does not depend on the pixel values)."""

from __future__ import annotations

__all__ = ["workload_data"]


def workload_data(model_name: str, n: int, seed: int):
    """(x, y): n examples for `model_name` ("mlp": digits resampled; else 28x28x1 noise)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    if model_name == "mlp":
        from sklearn.datasets import load_digits

        digits = load_digits()
        idx = rng.integers(0, len(digits.target), n)  # digits has 1797 rows; resample
        return (digits.data[idx] / 16.0).astype("float32"), digits.target[idx].astype("int64")
    x = rng.random((n, 28, 28, 1), dtype=np.float32)
    return x, rng.integers(0, 10, n).astype("int64")
