"""The fast-path terms of ``keras.layers.Embedding``: the one-hot equality matrix of the
looked-up ids stands in for A_i A_i^T (Li et al., ICLR 2022)."""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf
from keras import ops

from dpaudit.dp.fastpath.base import LayerTerm, static_prod

__all__ = ["EmbeddingTerm"]


class EmbeddingTerm(LayerTerm):
    """Embedding: the kernel gradient of example i scatters its G rows to its ids."""

    kind = "embedding"

    @staticmethod
    def matches(layer: keras.layers.Layer) -> bool:
        return type(layer) is keras.layers.Embedding

    @staticmethod
    def variables(layer: keras.layers.Layer) -> tuple[Any, Any]:
        return layer.embeddings, None

    @staticmethod
    def patched_call(layer: Any, sink: list) -> Callable:
        def call(inputs, training=None, **kwargs):
            if inputs.dtype not in ("int32", "int64"):
                inputs = ops.cast(inputs, "int32")
            z = ops.cast(ops.take(layer.embeddings, inputs, axis=0), layer.compute_dtype)
            sink.append((inputs, z))
            return z
        return call

    def _row_count(self, a: tf.Tensor, z: tf.Tensor) -> int | None:
        return static_prod(a.shape[1:])

    def _inputs(self) -> tf.Tensor:
        """Ids (b, T)."""
        parts = []
        for (a, _), _ in self.calls:
            t = static_prod(a.shape[1:])
            parts.append(tf.reshape(a, [-1, t]) if t is not None
                         else tf.reshape(a, [tf.shape(a)[0], -1]))
        return parts[0] if len(parts) == 1 else tf.concat(parts, axis=1)

    def _kernel_squared_norms(self, G: tf.Tensor) -> tf.Tensor:
        if self._single:
            return tf.reduce_sum(tf.square(G), axis=[1, 2])
        ids = self._group(self._inputs())
        same = tf.cast(tf.equal(ids[:, :, None], ids[:, None, :]), G.dtype)
        return tf.reduce_sum(same * tf.matmul(G, G, transpose_b=True), axis=[1, 2])

    def _kernel_sum(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> tf.Tensor:
        p = self.G.shape[-1]
        return tf.math.unsorted_segment_sum(
            tf.reshape(self.G * example_weights[:, None, None], [-1, p]),
            tf.reshape(self._inputs(), [-1]), self.layer.input_dim)
