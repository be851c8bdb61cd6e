"""Exact per-example (or per-microbatch) gradient clipping for Keras models.

One forward pass records, for each trainable layer of a registered fast-path kind
(Dense, Conv2D, Embedding: `dpaudit.dp.fastpath`), its input and pre-activation output; one backward pass of the summed loss gives each
example's output gradient (the loss is a sum of per-example terms and examples do not
interact, so d(sum L)/dz_i = dL_i/dz_i). Per-example gradient norms and the clipped
sum then follow without materialising a batch of gradients (book-keeping clipping,
Bu et al. 2023, see `dpaudit.dp.fastpath.base`). Variables of any other layer, and
variables another layer also reads (tied weights, e.g. an embedding reused as the output
projection), get exact per-example gradients from a vectorised Jacobian (slower, still
correct: the fast path sees only the gradient through the owning layer's call).

An example whose loss or gradient norm is NaN gets weight 0 in the clipped sum (as
jax_privacy's clipping does): otherwise its NaN would turn the whole noised update NaN
and reveal that it was in the batch. `ClippedSum.num_nan` counts them; the DP train step
warns. Infinite norms already get weight 0 from the clip factor C / max(n, C).

BatchNormalization in training mode mixes examples, so per-example gradients (and the
DP guarantee) are undefined: it is refused. Activity regularizers and `add_loss`
losses depend on the batch and are refused too; weight regularizers do not touch
data and are added after the noise, at no privacy cost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from dpaudit.dp import _recording, mechanism
from dpaudit.dp.fastpath import FallbackTerm, term_class
from dpaudit.dp._losses import per_example_loss
from dpaudit.errors import InputError

__all__ = ["ClippedSum", "clipped_gradient_sum", "per_example_gradient_norms"]


@dataclass(frozen=True)
class _Plan:
    variables: tuple            # model.trainable_variables, the order of every result
    fast: tuple                 # (layer, kind, kernel_trainable, bias_trainable)
    fallback: tuple             # variables needing per-example Jacobians
    has_regularizers: bool


def shared_layers(model: keras.Model) -> set[int]:
    """ids of layers whose variables some other layer may read (tied weights).

    Keras tracks what a layer holds: a layer kept as an attribute of another layer (a
    tied output projection holding the embedding layer) is a sublayer of both its
    model and that layer, and a variable kept as an attribute is among the holder's own
    variables. Either way the owner's recorded calls are not the only reads.
    """
    parents: dict[int, int] = {}
    owners: dict[int, set[int]] = {}
    layers = list(model._flatten_layers(include_self=True, recursive=True))
    for layer in layers:
        for sub in getattr(layer, "_layers", ()):
            parents[id(sub)] = parents.get(id(sub), 0) + 1
        for v in (*getattr(layer, "_trainable_variables", ()),
                  *getattr(layer, "_non_trainable_variables", ())):
            owners.setdefault(id(v), set()).add(id(layer))
    shared = {i for i, n in parents.items() if n > 1}
    for layer in layers:
        if any(len(owners[id(v)]) > 1 for v in getattr(layer, "_trainable_variables", ())):
            shared.add(id(layer))
    return shared


def _check_dtypes(model: keras.Model) -> None:
    for layer in model._flatten_layers(include_self=True, recursive=True):
        policy = getattr(layer, "dtype_policy", None)
        compute = getattr(policy, "compute_dtype", None)
        if compute in ("float16", "bfloat16") or (
                compute is not None and compute != getattr(policy, "variable_dtype", compute)):
            raise InputError(
                f"layer {layer.name!r} computes in {compute} (dtype policy "
                f"{getattr(policy, 'name', policy)!r}): mixed precision is not supported by "
                "dpaudit's DP-SGD (per-example norms and the noise would be computed in low "
                "precision); build the model under keras.mixed_precision.set_dtype_policy("
                "'float32')")


def _plan(model: keras.Model) -> _Plan:
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    _check_dtypes(model)
    for layer in layers:
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable:
            raise InputError(
                f"layer {layer.name!r} is BatchNormalization, which mixes the examples of a "
                "batch, so per-example gradients and DP-SGD's guarantee are undefined; use "
                "LayerNormalization or GroupNormalization, or freeze it (trainable=False)")
        if getattr(layer, "activity_regularizer", None) is not None:
            raise InputError(
                f"layer {layer.name!r} has an activity_regularizer, a loss over the whole "
                "batch that DP-SGD cannot clip per example; remove it")
    variables = tuple(model.trainable_variables)
    trainable = {id(v) for v in variables}
    fast, covered = [], set()
    tied = shared_layers(model)
    for layer in layers:
        kind = term_class(layer)
        if kind is None or id(layer) in tied:
            continue
        kernel, bias = kind.variables(layer)
        k_on, b_on = id(kernel) in trainable, bias is not None and id(bias) in trainable
        if k_on or b_on:
            fast.append((layer, kind, k_on, b_on))
            covered.update(id(v) for v, on in ((kernel, k_on), (bias, b_on)) if on)
    fallback = tuple(v for v in variables if id(v) not in covered)
    return _Plan(variables, tuple(fast), fallback,
                 any(getattr(v, "regularizer", None) is not None for v in variables))


@dataclass(frozen=True)
class ClippedSum:
    """What one clipping pass returns (tensors; lists follow model.trainable_variables).

    Attributes:
      sums: sum over examples (or microbatches) of clipped gradients; None if clipping
        was not asked for (norms only).
      norms: (n,) L2 norms of each example's (or microbatch's mean) gradient, unclipped.
      num_units: n, the number of examples or microbatches (int32 scalar).
      losses: (batch,) per-example losses.
      y_pred: the model's outputs.
      regularization_gradients: gradients of the weight-regularization losses, or None.
      num_nan: examples (or microbatches) given weight 0 because their loss or gradient
        norm was NaN (int32 scalar).
    """

    sums: list | None
    norms: tf.Tensor
    num_units: tf.Tensor
    losses: tf.Tensor
    y_pred: Any
    regularization_gradients: list | None
    num_nan: tf.Tensor


def clipped_gradient_sum(model: keras.Model, x: Any, y: Any, loss_fn: Any, *,
                         l2_norm_clip: float | None, num_microbatches: int | None = None,
                         sample_weight: Any = None, training: bool = True) -> ClippedSum:
    """Sum of per-example gradients, each clipped to L2 norm `l2_norm_clip`.

    With `num_microbatches` m, the batch (of a size m divides) is split into m
    contiguous microbatches and each microbatch's MEAN gradient is clipped, as in
    TensorFlow Privacy. With ``l2_norm_clip=None`` only the norms are computed.
    `loss_fn` is a per-example loss as returned by `dpaudit.dp._losses.per_example_loss`.

    An empty batch (Poisson sampling) gives zero sums without running the model:
    TensorFlow's CPU convolutions return wrongly shaped outputs for empty batches.
    """
    plan = _plan(model)
    args = (model, plan, x, y, loss_fn, l2_norm_clip, num_microbatches, sample_weight,
            training)
    first = tf.nest.flatten(x)[0]
    size = first.shape[0] if hasattr(first, "shape") else len(first)
    if size == 0:
        return _empty_sum(*args)
    outputs = getattr(model, "outputs", None)
    if size is not None or not outputs or tf.executing_eagerly():
        return _nonempty_sum(*args)
    fields = [f.name for f in dataclasses.fields(ClippedSum)]
    as_tuple = lambda result: tuple(getattr(result, f) for f in fields)  # noqa: E731
    values = tf.cond(tf.shape(first)[0] > 0, lambda: as_tuple(_nonempty_sum(*args)),
                     lambda: as_tuple(_empty_sum(*args)))
    return ClippedSum(**dict(zip(fields, values)))


def _empty_sum(model, plan, x, y, loss_fn, l2_norm_clip, num_microbatches, sample_weight,
               training) -> ClippedSum:
    dtype = tf.as_dtype(keras.backend.floatx())
    y_pred = tf.nest.map_structure(
        lambda out: tf.zeros([0, *out.shape[1:]], out.dtype), model.outputs)
    if len(model.outputs) == 1:
        y_pred = y_pred[0]
    reg_grads = None
    if plan.has_regularizers:
        with tf.GradientTape() as tape:
            regularization = tf.add_n(model.losses)
        reg_grads = [tf.zeros(v.shape, dtype) if g is None else tf.convert_to_tensor(g)
                     for g, v in zip(tape.gradient(regularization, list(plan.variables)),
                                     plan.variables)]
    sums = (None if l2_norm_clip is None
            else [tf.zeros(v.shape, dtype) for v in plan.variables])
    return ClippedSum(sums, tf.zeros([0], dtype), tf.constant(0, tf.int32),
                      tf.zeros([0], dtype), y_pred, reg_grads, tf.constant(0, tf.int32))


def _nonempty_sum(model, plan, x, y, loss_fn, l2_norm_clip, num_microbatches, sample_weight,
                  training) -> ClippedSum:
    if num_microbatches is not None and not tf.executing_eagerly():
        # The inputs, hence every later reshape into microbatches, depend on this
        # check, so graph mode reports the rule rather than a reshape error.
        divides = tf.debugging.assert_equal(
            tf.shape(tf.nest.flatten(x)[0])[0] % num_microbatches, 0, message=(
                f"num_microbatches={num_microbatches} must divide the batch size (a "
                "partial last batch of an epoch, N not a multiple of batch_size, breaks it "
                "too): choose a batch size that divides N, drop the remainder, or use "
                "num_microbatches=None"))
        with tf.control_dependencies([divides]):
            x = tf.nest.map_structure(tf.identity, x)
    persistent = bool(plan.fallback) or plan.has_regularizers
    fast_layers = [(layer, kind) for layer, kind, _, _ in plan.fast]
    with _recording.recording(fast_layers) as sinks:
        with tf.GradientTape(persistent=persistent) as tape:
            y_pred = model(x, training=training)
            losses = loss_fn(y, y_pred, sample_weight)
            total = tf.reduce_sum(losses)
            extra = model.losses
            regularization = tf.add_n(extra) if extra else None
    n_regularizers = sum(getattr(v, "regularizer", None) is not None
                         for v in model.trainable_weights)
    if len(extra) > n_regularizers:
        raise InputError("the model adds losses with add_loss(); they depend on the whole "
                         "batch and cannot be clipped per example; remove them for DP training")

    batch = tf.shape(losses)[0]
    m = num_microbatches
    if m is not None:
        static = losses.shape[0]
        if static is not None and static % m:
            raise InputError(f"num_microbatches={m} must divide the batch size, "
                             f"got batch size {static}")
        num_units = tf.constant(m, tf.int32)
        examples_per_unit = tf.cast(batch // m, losses.dtype)
    else:
        num_units = batch

    calls = [call for sink in sinks for call in sink]
    z_grads = tape.gradient(total, [z for _, z in calls]) if calls else []
    terms, start = [], 0
    for (layer, kind, k_on, b_on), sink in zip(plan.fast, sinks):
        if not sink:  # layer not used in this forward pass: zero gradient
            terms.append(None)
            continue
        terms.append(kind(layer, sink, z_grads[start:start + len(sink)],
                          num_groups=m, kernel_trainable=k_on, bias_trainable=b_on))
        start += len(sink)
    fallback = None
    if plan.fallback:
        jac = tape.jacobian(losses, list(plan.fallback), experimental_use_pfor=True)
        jac = [tf.zeros(tf.concat([[batch], v.shape], 0), losses.dtype) if j is None else j
               for j, v in zip(jac, plan.fallback)]
        if m is not None:
            jac = [tf.reduce_sum(tf.reshape(j, [m, -1, *v.shape]), axis=1)
                   for j, v in zip(jac, plan.fallback)]
        fallback = FallbackTerm(jac)
    reg_grads = None
    if regularization is not None:
        reg_grads = [tf.zeros(v.shape, losses.dtype) if g is None else tf.convert_to_tensor(g)
                     for g, v in zip(tape.gradient(regularization, list(plan.variables)),
                                     plan.variables)]
    del tape

    parts = [t.squared_norms() for t in terms if t is not None]
    if fallback is not None:
        parts.append(fallback.squared_norms())
    sq = tf.add_n(parts) if parts else tf.zeros([num_units], losses.dtype)
    norms = tf.sqrt(sq)
    if m is not None:
        norms = norms / examples_per_unit  # norm of the microbatch MEAN gradient

    # A NaN loss or gradient gets weight 0, and its rows are zeroed (0 * NaN is NaN).
    bad_examples = tf.math.is_nan(losses)
    if m is not None:
        bad_units = tf.reduce_any(tf.reshape(bad_examples, [m, -1]), axis=1)
    else:
        bad_units = bad_examples
    bad_units = tf.logical_or(bad_units, tf.math.is_nan(norms))
    if m is not None:
        bad_examples = tf.repeat(bad_units, batch // m)
    else:
        bad_examples = bad_units
    num_nan = tf.reduce_sum(tf.cast(bad_units, tf.int32))

    sums = None
    if l2_norm_clip is not None:
        weights = tf.where(bad_units, tf.zeros_like(norms),
                           mechanism.clip_factors(tf.where(bad_units, tf.zeros_like(norms),
                                                           norms), l2_norm_clip))
        if m is not None:
            weights = weights / examples_per_unit  # the microbatch MEAN is what was clipped
            example_weights = tf.repeat(weights, batch // m)
        else:
            example_weights = weights
        by_var: dict[int, tf.Tensor] = {}
        for (layer, kind, k_on, b_on), term in zip(plan.fast, terms):
            if term is None:
                continue
            kernel, bias = kind.variables(layer)
            owned = [v for v, on in ((kernel, k_on), (bias, b_on)) if on]
            term.drop(bad_examples, bad_units)
            sums_of_layer = term.clipped_sums(weights, example_weights)
            by_var.update(zip((id(v) for v in owned), sums_of_layer))
        if fallback is not None:
            fallback.drop(bad_units)
            by_var.update(zip((id(v) for v in plan.fallback),
                              fallback.clipped_sums(weights, example_weights)))
        sums = [by_var[id(v)] if id(v) in by_var else tf.zeros(v.shape, losses.dtype)
                for v in plan.variables]
    return ClippedSum(sums, norms, num_units, losses, y_pred, reg_grads, num_nan)


def per_example_gradient_norms(model: keras.Model, loss_fn: Any, x: Any, y: Any, *,
                               batch_size: int = 256) -> np.ndarray:
    """L2 norm of each example's unclipped gradient (all trainable variables).

    Args:
      model: a built Keras model (plain or DP).
      loss_fn: the training loss: a Keras loss object (any reduction), a loss name, or
        ``f(y_true, y_pred)`` returning one value per example.
      x, y: examples and labels (numpy arrays).
      batch_size: examples per pass (memory only; results do not depend on it).

    Returns:
      np.ndarray of shape (N,), float64.

    Example:
        >>> import numpy as np, keras
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> x_train, y_train = np.ones((5, 4), "float32"), np.array([0, 1, 2, 0, 1])
        >>> norms = per_example_gradient_norms(model, "sparse_categorical_crossentropy",
        ...                                    x_train, y_train)
        >>> norms.shape
        (5,)
    """
    from dpaudit import validation

    batch_size = validation.check_positive_int(batch_size, "batch_size")
    fn = per_example_loss(loss_fn, where="loss_fn")
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise InputError(f"x and y must have the same length, got {len(x)} and {len(y)}")

    # autograph=False: our Python control flow is static, and errors stay InputError.
    @tf.function(reduce_retracing=True, autograph=False)
    def norms_of(xb, yb):
        return clipped_gradient_sum(model, xb, yb, fn, l2_norm_clip=None).norms

    out = [norms_of(tf.convert_to_tensor(x[i:i + batch_size]),
                    tf.convert_to_tensor(y[i:i + batch_size])).numpy()
           for i in range(0, len(x), batch_size)]
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
