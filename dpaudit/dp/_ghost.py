"""Per-example gradient norms and clipped gradient sums without a second backward pass.

Book-keeping clipping (Bu et al., "Differentially Private Optimization on Large Model
at Small Cost", ICML 2023, https://arxiv.org/abs/2210.00038) for layers whose weight
gradient is a sum of outer products. For example i, a layer with unfolded input rows
A_i (T x D) and output-gradient rows G_i = dL_i/dZ_i (T x P) has weight gradient
A_i^T G_i. Its squared norm is either

* ``||A_i^T G_i||_F^2`` from the materialised (D x P) per-example gradient, or
* ``sum_{t,t'} (A_i A_i^T)_{tt'} (G_i G_i^T)_{tt'}``, the ghost norm of Goodfellow 2015
  and Li et al., "Large Language Models Can Be Strong Differentially Private
  Learners", ICLR 2022 (https://arxiv.org/abs/2110.05679), which costs T^2 (D + P);

we take the cheaper one per layer. With T = 1 (Dense on 2-D inputs) both reduce to
``||a_i||^2 ||g_i||^2`` (Goodfellow 2015). The clipped sum is then ``A^T diag(w) G``
(Lee & Kifer, "Scaling up Differentially Private Deep Learning with Fast Per-Example
Gradient Clipping", PETS 2021). Conv2D layers are unfolded into patches (T = output
positions, D = kh*kw*C_in); embeddings use the one-hot equality matrix in place of
A_i A_i^T. A microbatch is handled as one "example" whose rows are its examples' rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import tensorflow as tf

from dpaudit.dp._recording import CONV2D, DENSE, EMBEDDING

__all__ = ["LayerTerm", "layer_term", "FallbackTerm"]

# Materialising (n, D, P) per-example gradients beyond this many floats per example is
# traded for the ghost norm when the cost rule cannot decide (unknown row count T).
_MAX_MATERIALISED = 1 << 16


def _static_prod(dims) -> int | None:
    if any(d is None for d in dims):
        return None
    return math.prod(dims)


def _rows(x: tf.Tensor, rows: int | None, width: int) -> tf.Tensor:
    """Reshapes (b, ..., width) to (b, rows, width)."""
    if rows is not None:
        return tf.reshape(x, [-1, rows, width])
    return tf.reshape(x, [tf.shape(x)[0], -1, width])


@dataclass
class LayerTerm:
    """One fast-path layer's unfolded rows, for squared norms then clipped sums.

    A: (n, T, D) float inputs (Dense/Conv2D) or (n, T) int ids (Embedding);
    G: (n, T, P) gradients of the summed loss with respect to the pre-activations.
    """

    kind: str
    layer: object
    A: tf.Tensor
    G: tf.Tensor
    rows: int | None          # static T, None if unknown
    kernel_trainable: bool
    bias_trainable: bool
    _per_example: tf.Tensor | None = None

    def squared_norms(self) -> tf.Tensor:
        """(n,) squared L2 norms of each example's gradient for this layer's variables."""
        A, G = self.A, self.G
        sq = tf.zeros(tf.shape(G)[:1], G.dtype)
        if self.kernel_trainable:
            if self.kind == EMBEDDING:
                if self.rows == 1:
                    sq += tf.reduce_sum(tf.square(G), axis=[1, 2])
                else:
                    same = tf.cast(tf.equal(A[:, :, None], A[:, None, :]), G.dtype)
                    sq += tf.reduce_sum(same * tf.matmul(G, G, transpose_b=True), axis=[1, 2])
            elif self.rows == 1:
                sq += (tf.reduce_sum(tf.square(A), axis=[1, 2])
                       * tf.reduce_sum(tf.square(G), axis=[1, 2]))
            elif self._materialise():
                self._per_example = tf.matmul(A, G, transpose_a=True)  # (n, D, P)
                sq += tf.reduce_sum(tf.square(self._per_example), axis=[1, 2])
            else:
                aa = tf.matmul(A, A, transpose_b=True)
                gg = tf.matmul(G, G, transpose_b=True)
                sq += tf.reduce_sum(aa * gg, axis=[1, 2])
        if self.bias_trainable:
            sq += tf.reduce_sum(tf.square(tf.reduce_sum(G, axis=1)), axis=1)
        return sq

    def _materialise(self) -> bool:
        d, p = self.A.shape[-1], self.G.shape[-1]
        if self.rows is None:
            return d * p <= _MAX_MATERIALISED
        return d * p <= self.rows * (d + p)

    def clipped_sums(self, weights: tf.Tensor) -> list[tf.Tensor]:
        """sum_i w_i * grad_i for [kernel, bias] (only the trainable ones)."""
        A, G, layer = self.A, self.G, self.layer
        out = []
        if self.kernel_trainable:
            p = G.shape[-1]
            if self.kind == EMBEDDING:
                kernel = tf.math.unsorted_segment_sum(
                    tf.reshape(G * weights[:, None, None], [-1, p]), tf.reshape(A, [-1]),
                    layer.input_dim)
            elif self.rows == 1:
                kernel = tf.matmul(A[:, 0, :], G[:, 0, :] * weights[:, None], transpose_a=True)
            elif self._per_example is not None:
                kernel = tf.tensordot(weights, self._per_example, axes=1)
            else:
                kernel = tf.matmul(tf.reshape(A, [-1, A.shape[-1]]),
                                   tf.reshape(G * weights[:, None, None], [-1, p]),
                                   transpose_a=True)
            variable = layer.embeddings if self.kind == EMBEDDING else layer.kernel
            out.append(tf.reshape(kernel, variable.shape))
        if self.bias_trainable:
            out.append(tf.linalg.matvec(tf.reduce_sum(G, axis=1), weights, transpose_a=True))
        return out


def layer_term(kind: str, layer, calls: list, grads: list, *, num_groups: int | None,
               kernel_trainable: bool, bias_trainable: bool) -> LayerTerm:
    """Unfolds one layer's recorded calls into per-example (or per-microbatch) rows."""
    As, Gs, rows = [], [], 0
    for (a, z), g in zip(calls, grads):
        if g is None:  # output unused by the loss
            g = tf.zeros_like(z)
        p = z.shape[-1]
        if kind == DENSE:
            t = _static_prod(a.shape[1:-1])
            As.append(_rows(a, t, a.shape[-1]))
        elif kind == CONV2D:
            kh, kw = layer.kernel_size
            t = _static_prod(z.shape[1:-1])
            patches = tf.image.extract_patches(
                a, sizes=[1, kh, kw, 1], strides=[1, *layer.strides, 1],
                rates=[1, *layer.dilation_rate, 1], padding=layer.padding.upper())
            As.append(_rows(patches, t, kh * kw * a.shape[-1]))
        else:  # EMBEDDING: ids
            t = _static_prod(a.shape[1:])
            As.append(tf.reshape(a, [-1, t]) if t is not None
                      else tf.reshape(a, [tf.shape(a)[0], -1]))
        Gs.append(_rows(g, t, p))
        rows = None if (rows is None or t is None) else rows + t
    A = As[0] if len(As) == 1 else tf.concat(As, axis=1)
    G = Gs[0] if len(Gs) == 1 else tf.concat(Gs, axis=1)
    if num_groups is not None:
        # A microbatch's gradient is the sum over its examples' rows (scaled later).
        A = (tf.reshape(A, [num_groups, -1]) if kind == EMBEDDING
             else tf.reshape(A, [num_groups, -1, A.shape[-1]]))
        G = tf.reshape(G, [num_groups, -1, G.shape[-1]])
        rows = None
    return LayerTerm(kind, layer, A, G, rows, kernel_trainable, bias_trainable)


@dataclass
class FallbackTerm:
    """Variables outside the fast path: per-example gradients from a vectorised Jacobian."""

    per_example: list[tf.Tensor]  # each (n, *variable.shape)

    def squared_norms(self) -> tf.Tensor:
        return tf.add_n([tf.reduce_sum(tf.reshape(tf.square(j), [tf.shape(j)[0], -1]), axis=1)
                         for j in self.per_example])

    def clipped_sums(self, weights: tf.Tensor) -> list[tf.Tensor]:
        return [tf.tensordot(weights, j, axes=1) for j in self.per_example]
