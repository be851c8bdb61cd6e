"""K small dense models (the zoo's mlp and logreg) trained at once as one stacked model.

Reference models for LiRA (Carlini et al., "Membership Inference Attacks From First
Principles", IEEE S&P 2022) and RMIA (Zarifzadeh, Liu, Shokri, ICML 2024) are many
small models that differ only in their training subsets and seeds. Trained one after
another on a few CPU cores, most of their time is per-step overhead; stacked, each
epoch runs all K models' steps in one compiled loop (`dpaudit.training._stacked_step`).

Each model trains exactly as `dpaudit.dp.fit_private` would train it alone on
``x[masks[k]]`` with seed ``seeds[k]``: the same sampling stream (Poisson with
q = B / n_k at each of epochs * ceil(n_k / B) steps, drawn independently per step,
or shuffled epochs), the same noise seed per step, the same optimizer arithmetic
(Keras 3's SGD, Adam, Adagrad). The dp arm clips each model's own per-example
gradients to C and adds each model's own Gaussian noise; the plain arm averages the
loss over the actual batch and skips empty Poisson batches, as Keras does. A test
checks that a stack of one matches the single-model path.

Example:
    >>> import numpy as np
    >>> from dpaudit.training.models import dense_initial_weights
    >>> x = np.random.default_rng(0).normal(size=(60, 8)).astype("float32")
    >>> y = np.arange(60) % 3
    >>> masks = np.random.default_rng(1).random((2, 60)) < 0.5
    >>> weights = [dense_initial_weights("mlp", input_shape=(8,), num_classes=3, seed=s,
    ...                                  hidden=(16,)) for s in (1, 2)]
    >>> result = train_stacked(weights, x, y, masks, seeds=[11, 12],
    ...                        settings=StackSettings(epochs=2, batch_size=10))
    >>> stacked_log_proba(result.weights, x).shape
    (2, 60, 3)
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import math
from typing import Callable, Sequence

import numpy as np

from dpaudit.errors import InputError

__all__ = ["StackSettings", "StackResult", "stack_unsupported", "train_stacked",
           "stacked_logits", "stacked_log_proba"]

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class StackSettings:
    """The recipe every model of a stack trains with (see `dpaudit.training.Recipe`)."""

    optimizer: str = "adam"
    learning_rate: float = 0.01
    epochs: int = 1
    batch_size: int = 25
    sampling: str = "poisson"
    private: bool = False
    l2_norm_clip: float = 1.0
    noise_multiplier: float = 0.0


@dataclasses.dataclass(frozen=True)
class StackResult:
    """Trained weights per model (Keras `get_weights()` order) and steps run per epoch."""

    weights: list[list[np.ndarray]]
    steps: list[list[int]]


def stack_unsupported(model_name: str, *, trainer: object = None, activation: str = "relu",
                      num_microbatches: int | None = None, batch_size: int = 0,
                      sampling: str = "poisson") -> str | None:
    """Why a recipe cannot be stacked (then train one at a time), or None if it can."""
    if trainer is not None:
        return "a user trainer trains its own models"
    if model_name not in ("mlp", "logreg"):
        return f"model {model_name!r} is not a stack of Dense layers"
    if activation != "relu":
        return f"activation {activation!r} (the stack implements relu)"
    if num_microbatches is not None and not (sampling == "poisson"
                                             and num_microbatches == batch_size):
        return "microbatch clipping (the stack clips per example)"
    return None


def _noise_seed(seed: int) -> int:
    # The derivation of `fit_private` (a fresh fit, step count 0), so a stack of one draws
    # the same noise as the single-model path (tested).
    from dpaudit.dp.sampling import fit_seeds

    return fit_seeds(int(seed))[1]


def _schedule(masks: np.ndarray, seeds: Sequence[int], s: StackSettings,
              pool: concurrent.futures.Executor) -> tuple[list, list[int]]:
    """Each model's batches, drawn as `fit_private` draws them, fetched on `pool`.

    Returns futures of (steps, width) arrays of the model's row numbers padded with -1,
    and each model's steps per epoch.
    """
    from dpaudit.dp.sampling import fit_seeds, index_batches

    fetched, per_epoch = [], []
    for mask, seed in zip(masks, seeds):
        n = int(mask.sum())
        if n < s.batch_size:
            raise InputError(f"a stacked model has {n} training examples, fewer than "
                             f"batch_size {s.batch_size}")
        steps = math.ceil(n / s.batch_size)
        # The very index stream `fit_private` draws for this seed (a fresh fit), fetched
        # as one padded tensor, outside the GIL, rather than batch by batch.
        key, _ = fit_seeds(int(seed))
        drawn = index_batches(n, s.batch_size, s.epochs, sampling=s.sampling, key=key)
        padded = drawn.padded_batch(s.epochs * steps, padding_values=np.int64(-1))
        fetched.append(pool.submit(lambda d: next(iter(d)).numpy(), padded))
        per_epoch.append(steps)
    return fetched, per_epoch


def _plan(masks: np.ndarray, drawn: list[np.ndarray], private: bool
          ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every step's (K, width) pool rows, batch sizes, apply flags and step counters."""
    batches = [np.where(d >= 0, np.flatnonzero(m)[np.maximum(d, 0)], 0)
               for m, d in zip(masks, drawn)]
    sizes = [(d >= 0).sum(axis=1) for d in drawn]
    total = max(len(b) for b in batches)
    width = max(1, max(b.shape[1] for b in batches))
    idx = np.zeros((total, len(batches), width), np.int32)
    size = np.zeros((total, len(batches)), np.int32)
    for k, (rows, n) in enumerate(zip(batches, sizes)):
        idx[:len(rows), k, :rows.shape[1]] = rows
        size[:len(n), k] = n
    # DP takes a noise-only step on an empty batch (the accountant counts it); a plain
    # Keras model skips it and does not advance its step counter. A finished model
    # (past its own steps) takes none.
    started = np.arange(total)[:, None] < np.array([len(b) for b in batches])[None, :]
    apply = (started & (private | (size > 0))).astype(np.float32)
    iterations = np.cumsum(apply, axis=0, dtype=np.int64) - apply.astype(np.int64)
    return idx, size, apply, iterations


def train_stacked(initial_weights: Sequence[Sequence[np.ndarray]], x: np.ndarray,
                  y: np.ndarray, masks: np.ndarray, *, seeds: Sequence[int],
                  settings: StackSettings,
                  advance: Callable[[int], None] | None = None) -> StackResult:
    """Trains K dense softmax networks at once, model k on ``x[masks[k]]``.

    Args:
      initial_weights: per model, its Keras ``get_weights()`` list (kernel, bias per
        Dense layer), e.g. from `dpaudit.training.build_model` with the model's seed.
      x, y: the pool, (n, ...) features (flattened here) and (n,) integer labels.
      masks: (K, n) bool, which rows each model trains on.
      seeds: per model, the seed `fit_private` would get (sampling and noise).
      settings: the shared recipe.
      advance: called with 1 after each epoch (of the longest model), for progress bars.

    Returns:
      The trained weights per model and each model's cumulative steps per epoch.

    Raises:
      InputError: mismatched shapes, or a model with fewer examples than a batch.
    """
    import tensorflow as tf

    from dpaudit.training._stacked_step import StackState, make_train

    masks = np.asarray(masks, dtype=bool)
    x = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
    k_models = len(initial_weights)
    if masks.shape != (k_models, len(x)) or len(seeds) != k_models or len(y) != len(x):
        raise InputError(f"train_stacked: masks must have shape ({k_models}, {len(x)}) and "
                         f"seeds {k_models} entries, got {masks.shape} and {len(seeds)}")
    params = [np.stack([np.asarray(w[i], np.float32) for w in initial_weights])
              for i in range(len(initial_weights[0]))]
    state = StackState(params, settings.optimizer)
    poisson = settings.sampling == "poisson"
    run = make_train(state, tf.constant(x), tf.constant(np.asarray(y, np.int32)),
                     learning_rate=settings.learning_rate, private=settings.private,
                     l2_norm_clip=settings.l2_norm_clip,
                     noise_multiplier=settings.noise_multiplier,
                     denominator=float(settings.batch_size) if poisson else None,
                     noise_seeds=tf.constant([_noise_seed(int(s)) for s in seeds], tf.int64))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        fetched, per_epoch = _schedule(masks, seeds, settings, pool)
        total = settings.epochs * max(per_epoch)
        # Trace (any batch width) while tf.data draws the batches on the pool.
        run.get_concrete_function(*[tf.TensorSpec(shape, dtype) for shape, dtype in (
            ([total, k_models, None], tf.int32), ([total, k_models], tf.int32),
            ([total, k_models], tf.float32), ([total, k_models], tf.int64), ([], tf.int32),
            ([], tf.int32))])
        drawn = [f.result() for f in fetched]
    plan = [tf.constant(a) for a in _plan(masks, drawn, settings.private)]
    # One compiled call per epoch (of the longest model), so `advance` still ticks.
    start = 0
    for epoch in range(1, settings.epochs + 1):
        stop = -(-epoch * total // settings.epochs)  # ceil(epoch * total / epochs)
        if stop > start:
            run(*plan, tf.constant(start), tf.constant(stop))
            start = stop
        if advance is not None:
            advance(1)
    trained = state.numpy()
    weights = [[p[k] for p in trained] for k in range(k_models)]
    steps = [[s * (e + 1) for e in range(settings.epochs)] for s in per_epoch]
    logger.info("trained %d stacked models: %d steps, batches padded to %d", k_models, total,
                int(plan[0].shape[2]))
    return StackResult(weights=weights, steps=steps)


def stacked_logits(weights: Sequence[Sequence[np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Logits (K, n, classes) in float64 of K dense relu networks on the same x."""
    x = np.asarray(x, dtype=np.float64).reshape(len(x), -1)
    out = []
    for w in weights:
        h = x
        n_layers = len(w) // 2
        for layer in range(n_layers):
            h = h @ np.asarray(w[2 * layer], np.float64) + np.asarray(w[2 * layer + 1],
                                                                      np.float64)
            if layer < n_layers - 1:
                h = np.maximum(h, 0.0)
        out.append(h)
    return np.stack(out)


def stacked_log_proba(weights: Sequence[Sequence[np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Log class probabilities (K, n, classes) in float64 (log-softmax of the logits)."""
    z = stacked_logits(weights, x)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
