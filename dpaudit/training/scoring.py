"""Per-example outputs of a trained model: log-probabilities and the ONE per-example loss.

Every attack, summary and canary score that needs a model's outputs computes them here.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

from dpaudit.errors import InputError
from dpaudit.results import Utility

__all__ = ["predict_log_proba", "predict_proba", "per_example_loss", "measure_utility"]

logger = logging.getLogger(__name__)


def _call_chunked(model: Any, x: np.ndarray) -> np.ndarray:
    # Direct calls, not model.predict: predict traces a new function per model, which is
    # slow and noisy for the many small models of an audit.
    chunks = [np.asarray(model(x[i:i + 1024], training=False), dtype=np.float64)
              for i in range(0, len(x), 1024)]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0))


def _softmax_head(model: Any) -> tuple[Any, np.ndarray, np.ndarray] | None:
    """(model up to the last layer's input, kernel, bias) if it ends in Dense + softmax."""
    import keras

    last = model.layers[-1] if getattr(model, "layers", None) else None
    if not isinstance(last, keras.layers.Dense):
        return None
    if getattr(last.activation, "__name__", "") != "softmax":
        return None
    try:
        inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs
        body = keras.Model(inputs, last.input)
    except Exception:  # noqa: BLE001 - shared or odd layers: fall back to the outputs
        return None
    kernel = np.asarray(last.kernel, dtype=np.float64)
    bias = (np.asarray(last.bias, dtype=np.float64) if last.use_bias
            else np.zeros(kernel.shape[1]))
    return body, kernel, bias


def predict_log_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Log class probabilities in float64, shape (examples, classes).

    A float32 softmax rounds confident outputs to exactly 1.0, so many members get loss
    0 and tie, which blinds threshold attacks at low false-positive rates. For a model
    ending in Dense + softmax (every zoo model, the tutorial's net) the logits are
    recomputed in float64 from the last layer's input and weights, and log-softmax is
    taken in float64. Other models: log of their probabilities, or log-softmax of their
    outputs if those are not probabilities (logits).
    """
    head = _softmax_head(model)
    if head is not None:
        body, kernel, bias = head
        hidden = _call_chunked(body, x)
        logits = hidden.reshape(len(hidden), -1) @ kernel + bias
    else:
        out = _call_chunked(model, x)
        if out.ndim != 2:
            raise InputError(f"model output has shape {out.shape}; expected (examples, classes)")
        if np.all(out >= 0) and np.allclose(out.sum(axis=1), 1.0, atol=1e-3):
            return np.log(np.clip(out, np.finfo(np.float64).tiny, 1.0))
        logger.info("model outputs are not probabilities; treating them as logits")
        logits = out
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def predict_proba(model: Any, x: np.ndarray) -> np.ndarray:
    """Class probabilities in float64 (see `predict_log_proba` for the precision)."""
    return np.exp(predict_log_proba(model, x))


def per_example_loss(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each example, -log p(label), from float64 probabilities."""
    picked = probs[np.arange(len(labels)), labels]
    return -np.log(np.clip(picked, np.finfo(np.float64).tiny, 1.0))


def measure_utility(probs_train: np.ndarray, y_train: np.ndarray, probs_test: np.ndarray,
             y_test: np.ndarray) -> Utility:
    """Accuracy and mean loss on the training and test examples (NaN when empty)."""
    def acc(p: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(np.argmax(p, axis=1) == y)) if len(y) else math.nan

    def loss(p: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(per_example_loss(p, y))) if len(y) else math.nan

    return Utility(train_accuracy=acc(probs_train, y_train), test_accuracy=acc(probs_test, y_test),
                   train_loss=loss(probs_train, y_train), test_loss=loss(probs_test, y_test))
