"""Turns whatever loss a user gives into a per-example loss vector of shape (batch,).

DP-SGD clips each example's gradient, so it needs one loss per example. TensorFlow
Privacy asks users for a loss with reduction NONE; we accept that, and also a normal
Keras loss object, a loss name or a plain function, and compute the unreduced values
ourselves. Extra axes (e.g. per-timestep losses) are averaged per example, which is
what Keras' default "sum_over_batch_size" reduction means for the batch mean.
"""

from __future__ import annotations

import copy
from typing import Any, Callable

import keras
import tensorflow as tf

from dpaudit.errors import InputError

__all__ = ["per_example_loss"]

PerExampleLoss = Callable[[Any, Any, Any], tf.Tensor]


def per_example_loss(loss: Any, *, where: str = "loss") -> PerExampleLoss:
    """Returns ``f(y_true, y_pred, sample_weight) -> (batch,)`` for `loss`."""
    if isinstance(loss, (list, tuple)) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and len(loss) == 1:
        loss = next(iter(loss.values()))
    if loss is None or isinstance(loss, (list, tuple, dict)):
        raise InputError(f"{where} must be one loss (single-output model), got {loss!r}")
    if isinstance(loss, str):
        try:
            loss = keras.losses.get(loss)
        except ValueError as e:
            raise InputError(f"{where}: unknown loss {loss!r}") from e
    if isinstance(loss, keras.losses.Loss):
        unreduced = copy.copy(loss)
        unreduced.reduction = "none"  # keeps Keras' dtype casts, masks and sample weights

        def call_loss(y_true, y_pred, sample_weight):
            return unreduced(y_true, y_pred, sample_weight=sample_weight)
    elif callable(loss):
        def call_loss(y_true, y_pred, sample_weight):
            values = loss(y_true, y_pred)
            if sample_weight is not None:
                weight = tf.cast(sample_weight, values.dtype)
                weight = tf.reshape(weight, tf.concat(
                    [tf.shape(weight), tf.ones([tf.rank(values) - tf.rank(weight)], tf.int32)],
                    axis=0))
                values = values * weight
            return values
    else:
        raise InputError(f"{where} must be a Keras loss, a loss name or a function, "
                         f"got {type(loss).__name__}")

    def per_example(y_true, y_pred, sample_weight=None) -> tf.Tensor:
        values = tf.convert_to_tensor(call_loss(y_true, y_pred, sample_weight))
        if values.shape.rank == 0:
            raise InputError(f"{where} returned a scalar; DP-SGD needs one loss per example "
                             "(use reduction='none' or a Keras loss object)")
        if values.shape.rank > 1:
            values = tf.reduce_mean(values, axis=list(range(1, values.shape.rank)))
        return values

    return per_example
