"""What every fast-path layer kind shares: recorded calls, output-gradient rows, the bias
terms, grouping into microbatches, and the choice between materialised per-example
gradients and ghost norms.

Book-keeping clipping (Bu et al., "Differentially Private Optimization on Large Model
at Small Cost", ICML 2023, https://arxiv.org/abs/2210.00038) for layers whose weight
gradient is a sum of outer products. For example i, a layer with unfolded input rows
A_i (T x D) and output-gradient rows G_i = dL_i/dZ_i (T x P) has weight gradient
A_i^T G_i. Its squared norm is either

* ``||A_i^T G_i||_F^2`` from the materialised (D x P) per-example gradient, or
* ``sum_{t,t'} (A_i A_i^T)_{tt'} (G_i G_i^T)_{tt'}``, the ghost norm of Goodfellow 2015
  and Li et al., "Large Language Models Can Be Strong Differentially Private
  Learners", ICLR 2022 (https://arxiv.org/abs/2110.05679), which costs T^2 (D + P);

the cheaper one is taken per layer. With T = 1 (Dense on 2-D inputs) both reduce to
``||a_i||^2 ||g_i||^2`` (Goodfellow 2015). The clipped sum is then ``A^T diag(w) G``
(Lee & Kifer, "Scaling up Differentially Private Deep Learning with Fast Per-Example
Gradient Clipping", PETS 2021). A microbatch is handled as one "example" whose rows
are its examples' rows.

A layer kind is a `LayerTerm` subclass in its own module (`dense`, `conv2d`,
`embedding`) that says which layers it takes, how to record them, and its kernel's
norm and clipped-sum terms; `dpaudit.dp.fastpath` keeps the registry.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar

import keras
import tensorflow as tf

__all__ = ["LayerTerm", "FallbackTerm", "rows", "static_prod"]

# When the cost rule cannot decide (rows per microbatch unknown while tracing), Dense
# per-microbatch gradients are materialised only up to this many floats each.
_MAX_MATERIALISED = 1 << 16


def static_prod(dims) -> int | None:
    if any(d is None for d in dims):
        return None
    return math.prod(dims)


def rows(x: tf.Tensor, count: int | None, width: int) -> tf.Tensor:
    """Reshapes (b, ..., width) to (b, count, width)."""
    if count is not None:
        return tf.reshape(x, [-1, count, width])
    return tf.reshape(x, [tf.shape(x)[0], -1, width])


class LayerTerm:
    """One fast-path layer's recorded calls, for squared norms then clipped sums.

    Subclasses (one per layer kind) define `matches`, `variables`, `patched_call`,
    `_row_count`, `_inputs` and the kernel terms. ``calls`` holds
    ``((input, pre_activation), output_gradient)`` per call of the layer; ``G`` is the
    (b, T, P) output gradients as rows. With `num_groups` m, the norms are those of the
    m microbatch sums of per-example gradients.
    """

    kind: ClassVar[str] = ""

    def __init__(self, layer: Any, calls: list, grads: list, *, num_groups: int | None,
                 kernel_trainable: bool, bias_trainable: bool):
        pairs, Gs, total = [], [], 0
        for (a, z), g in zip(calls, grads):
            if g is None:  # output unused by the loss
                g = tf.zeros_like(z)
            t = self._row_count(a, z)
            pairs.append(((a, z), g))
            Gs.append(rows(g, t, z.shape[-1]))
            total = None if (total is None or t is None) else total + t
        self.layer = layer
        self.calls = pairs
        self.G = Gs[0] if len(Gs) == 1 else tf.concat(Gs, axis=1)
        self.rows = total
        self.num_groups = num_groups
        self.kernel_trainable = kernel_trainable
        self.bias_trainable = bias_trainable
        self._per_unit: tf.Tensor | None = None
        self._drop: tf.Tensor | None = None       # (b,) examples given weight 0
        self._drop_units: tf.Tensor | None = None  # (n,) units given weight 0

    # --- what a kind declares -----------------------------------------------------------
    @staticmethod
    def matches(layer: keras.layers.Layer) -> bool:
        """Whether this kind's fast path is exact for `layer`."""
        raise NotImplementedError

    @staticmethod
    def variables(layer: keras.layers.Layer) -> tuple[Any, Any]:
        """(kernel, bias or None) of `layer`."""
        return layer.kernel, layer.bias

    @staticmethod
    def patched_call(layer: keras.layers.Layer, sink: list) -> Callable:
        """A call equivalent to ``layer.call`` that appends ``(input, pre_activation)``."""
        raise NotImplementedError

    def _row_count(self, a: tf.Tensor, z: tf.Tensor) -> int | None:
        """Static T of one call (None if unknown while tracing)."""
        return static_prod(z.shape[1:-1])

    def _inputs(self) -> tf.Tensor:
        """The input rows A of all calls."""
        raise NotImplementedError

    def _kernel_squared_norms(self, G: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _kernel_sum(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    # --- shared ---------------------------------------------------------------------------
    def drop(self, examples: tf.Tensor, units: tf.Tensor) -> None:
        """Zero the rows of these examples (and units) in the clipped sums: a NaN row
        times weight 0 is still NaN."""
        self._drop, self._drop_units = examples, units

    def _clean(self, x: tf.Tensor, *, units: bool = False) -> tf.Tensor:
        """x with the dropped examples' (or units') leading-axis rows set to 0."""
        mask = self._drop_units if units else self._drop
        if mask is None:
            return x
        mask = tf.reshape(mask, [-1] + [1] * (len(x.shape) - 1))
        return tf.where(mask, tf.zeros_like(x), x)

    @property
    def _single(self) -> bool:
        return self.rows == 1 and self.num_groups is None

    def _group(self, x: tf.Tensor) -> tf.Tensor:
        """(b, T, ...) -> (m, k*T, ...): a microbatch's rows are its examples' rows."""
        if self.num_groups is None:
            return x
        return tf.reshape(x, [self.num_groups, -1, *x.shape[2:]])

    def _materialise(self) -> bool:
        d = math.prod(self.layer.kernel.shape[:-1])
        p = self.G.shape[-1]
        if self.num_groups is not None or self.rows is None:
            return d * p <= _MAX_MATERIALISED
        return d * p <= self.rows * (d + p)

    def _ghost_norms(self, A: tf.Tensor, G: tf.Tensor) -> tf.Tensor:
        """sum_{t,t'} (A A^T)_{tt'} (G G^T)_{tt'} for A (n, T, D) and G (n, T, P)."""
        aa = tf.matmul(A, A, transpose_b=True)
        return tf.reduce_sum(aa * tf.matmul(G, G, transpose_b=True), axis=[1, 2])

    def squared_norms(self) -> tf.Tensor:
        """(n,) squared L2 norms of each unit's gradient for this layer's variables."""
        G = self._group(self.G)
        sq = tf.zeros(tf.shape(G)[:1], G.dtype)
        if self.kernel_trainable:
            sq += self._kernel_squared_norms(G)
        if self.bias_trainable:
            sq += tf.reduce_sum(tf.square(tf.reduce_sum(G, axis=1)), axis=1)
        return sq

    def clipped_sums(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> list:
        """sum_i w_i * grad_i for [kernel, bias] (only the trainable ones)."""
        kernel, _ = self.variables(self.layer)
        self.G = self._clean(self.G)
        out = []
        if self.kernel_trainable:
            if self._per_unit is not None:
                total = tf.tensordot(unit_weights, self._clean(self._per_unit, units=True),
                                     axes=1)
            else:
                total = self._kernel_sum(unit_weights, example_weights)
            out.append(tf.reshape(total, kernel.shape))
        if self.bias_trainable:
            per_unit = tf.reduce_sum(self._group(self.G), axis=1)
            out.append(tf.linalg.matvec(per_unit, unit_weights, transpose_a=True))
        return out


class FallbackTerm:
    """Variables outside the fast path: per-unit gradients from a vectorised Jacobian."""

    def __init__(self, per_unit: list[tf.Tensor]):
        self.per_unit = per_unit  # each (n, *variable.shape)

    def drop(self, units: tf.Tensor) -> None:
        """Zero the per-unit gradients of these units (NaN times 0 is NaN)."""
        self.per_unit = [tf.where(tf.reshape(units, [-1] + [1] * (len(j.shape) - 1)),
                                  tf.zeros_like(j), j) for j in self.per_unit]

    def squared_norms(self) -> tf.Tensor:
        return tf.add_n([tf.reduce_sum(tf.reshape(tf.square(j), [tf.shape(j)[0], -1]), axis=1)
                         for j in self.per_unit])

    def clipped_sums(self, unit_weights: tf.Tensor, example_weights: tf.Tensor) -> list:
        return [tf.tensordot(unit_weights, j, axes=1) for j in self.per_unit]
