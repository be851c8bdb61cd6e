"""The fast-path terms of ``keras.layers.Dense`` (any input rank: T rows per example)."""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf
from keras import ops

from dpaudit.dp.fastpath.base import LayerTerm, rows, static_prod

__all__ = ["DenseTerm"]


class DenseTerm(LayerTerm):
    """Dense: A = input rows (b, T, D), kernel gradient A_i^T G_i."""

    kind = "dense"

    @staticmethod
    def matches(layer: keras.layers.Layer) -> bool:
        return type(layer) is keras.layers.Dense

    @staticmethod
    def patched_call(layer: Any, sink: list) -> Callable:
        def call(inputs, training=None, **kwargs):
            z = ops.matmul(inputs, layer.kernel)
            if layer.bias is not None:
                z = ops.add(z, layer.bias)
            sink.append((inputs, z))
            return layer.activation(z) if layer.activation is not None else z
        return call

    def _inputs(self) -> tf.Tensor:
        parts = [rows(a, static_prod(a.shape[1:-1]), a.shape[-1]) for (a, _), _ in self.calls]
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)

    def _kernel_squared_norms(self, G: tf.Tensor) -> tf.Tensor:
        if self._single:  # ||a_i||^2 ||g_i||^2 (Goodfellow 2015)
            A = self._inputs()
            return (tf.reduce_sum(tf.square(A), axis=[1, 2])
                    * tf.reduce_sum(tf.square(G), axis=[1, 2]))
        A = self._group(self._inputs())
        if self._materialise():
            self._per_unit = tf.matmul(A, G, transpose_a=True)
            return tf.reduce_sum(tf.square(self._per_unit), axis=[1, 2])
        return self._ghost_norms(A, G)

    def _kernel_sum(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> tf.Tensor:
        A, G = self._clean(self._inputs()), self.G
        if self._single:
            return tf.matmul(A[:, 0, :], G[:, 0, :] * example_weights[:, None], transpose_a=True)
        return tf.matmul(tf.reshape(A, [-1, A.shape[-1]]),
                         tf.reshape(G * example_weights[:, None, None], [-1, G.shape[-1]]),
                         transpose_a=True)
