"""Batch sampling for DP-SGD, and `fit_private`, which trains with it.

DP-SGD's usual privacy analysis (the moments/RDP accountant of Abadi et al. 2016,
Mironov et al. 2019, and the PLD accountant) assumes Poisson subsampling: at every
step each example joins the batch independently with probability q = B / N, so batch
sizes vary (and may be 0). Fixed-size batches from a shuffled epoch are what Keras
does; for them the Poisson epsilon is NOT a valid guarantee (Chua et al., "How
Private are DP-SGD Implementations?", ICML 2024), which the accountant's statement
says. `fit_private` runs either scheme for DP models and plain Keras models alike, so a
baseline and a DP model see the same batches.

The batches `fit_private` trains on are drawn inside the tf.data graph
(`index_batches`): Poisson membership from a counter-based (stateless) generator keyed
by the seed and the global step number, so each step is independent of every other and
the same seed gives the same batches, with no Python generator between TensorFlow and
the data. `poisson_batches` and `shuffle_batches` are the same schemes in plain numpy,
kept as the readable reference the graph version is tested against.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import keras
import numpy as np
import tensorflow as tf

from dpaudit import validation
from dpaudit.dp.models import _Runtime, dp_settings, is_private_model
from dpaudit.dp.optimizers import is_dp_optimizer, plain_model_error
from dpaudit.accounting import SAMPLINGS
from dpaudit.dp.planning import DPTrainingPlan, settings_of_plan
from dpaudit.errors import InputError

__all__ = ["SAMPLINGS", "poisson_batches", "shuffle_batches", "index_batches", "fit_private",
           "fit_seeds", "steps_per_epoch"]

logger = logging.getLogger(__name__)



def steps_per_epoch(dataset_size: int, batch_size: int) -> int:
    """ceil(N / B): `dpaudit.accounting.steps_per_epoch`, so training runs what is priced."""
    # Imported on use: dp_accounting is slow to import and training may not need it.
    from dpaudit import accounting

    return accounting.steps_per_epoch(dataset_size, batch_size)


def poisson_batches(dataset_size: int, batch_size: int, steps: int,
                    rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Index arrays of `steps` Poisson batches: each example in with prob B / N."""
    q = batch_size / dataset_size
    for _ in range(steps):
        yield np.flatnonzero(rng.random(dataset_size) < q)


def shuffle_batches(dataset_size: int, batch_size: int,
                    rng: np.random.Generator) -> Iterator[np.ndarray]:
    """One epoch of a fresh permutation cut into ceil(N / B) batches (last one partial)."""
    order = rng.permutation(dataset_size)
    for start in range(0, dataset_size, batch_size):
        yield order[start:start + batch_size]


class _StepCounter(keras.callbacks.Callback):
    """Counts the optimizer steps actually taken (early stopping included)."""

    def __init__(self):
        super().__init__()
        self.total = 0
        self.cumulative: list[int] = []
        self._last = -1

    def on_epoch_begin(self, epoch, logs=None):
        self._last = -1

    def on_train_batch_end(self, batch, logs=None):
        self._last = batch

    def on_epoch_end(self, epoch, logs=None):
        self.total += self._last + 1
        self.cumulative.append(self.total)
        if logs is not None:
            logs["steps"] = self.total


def index_batches(dataset_size: int, batch_size: int, epochs: int, *, sampling: str,
                  key: tuple[int, int], start_step: int = 0) -> tf.data.Dataset:
    """The index vectors of every batch of `epochs` epochs, drawn in the tf.data graph.

    Poisson: ceil(N / B) steps per epoch; at global step t (counted from `start_step`)
    each example joins independently with probability q = B / N. The members are drawn
    as a Bernoulli(q) process over 0..N-1 through its gaps, which are i.i.d.
    Geometric(q) (G = floor(log(1 - U) / log(1 - q)) + 1, U uniform in float64), so a
    step costs O(B) rather than O(N) random numbers (skipping by geometric gaps, as in
    Devroye, "Non-Uniform Random Variate Generation", 1986). U comes from the stateless
    Philox generator seeded with fold_in(key, t): memberships are independent across steps and
    examples, as the accountant assumes (Abadi et al. 2016; Mironov et al. 2019), and
    batches may be empty.
    Shuffle: per epoch e a stateless permutation seeded with fold_in(key, e), cut into
    ceil(N / B) batches, the last one partial.

    Args:
      dataset_size: N.
      batch_size: B (expected size for Poisson).
      epochs: number of epochs.
      sampling: "poisson" or "shuffle".
      key: two int64 seed words (`fit_private` derives them from its seed).
      start_step: global step (Poisson) or epoch (shuffle) number of the first batch, so
        training in chunks continues the stream instead of replaying it.

    Returns:
      A dataset of int64 index vectors, one per step.
    """
    n = int(dataset_size)
    key_t = tf.constant(key, tf.int64)
    if sampling == "poisson":
        total = epochs * steps_per_epoch(n, batch_size)

        def poisson(step):
            return _bernoulli_members(n, batch_size, tf.random.experimental.stateless_fold_in(
                key_t, step))

        return tf.data.Dataset.range(start_step, start_step + total).map(poisson)

    def epoch(e):
        seed = tf.random.experimental.stateless_fold_in(key_t, e)
        order = tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), seed)
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return tf.data.Dataset.range(start_step, start_step + epochs).flat_map(epoch)


def _bernoulli_members(n: int, batch_size: int, seed: tf.Tensor,
                       chunk: int | None = None) -> tf.Tensor:
    """Sorted indices of a Bernoulli(B / N) subset of 0..N-1, from its Geometric gaps.

    Gaps are drawn in chunks of about B + 6 sqrt(B) (nearly always one chunk is enough)
    until the positions pass N - 1; chunk c uses fold_in(seed, c). `chunk` overrides
    the chunk size (tests force several chunks).
    """
    if batch_size >= n:  # q = 1: everyone, every step
        return tf.range(n, dtype=tf.int64)
    log_stay = tf.constant(np.log1p(-batch_size / n), tf.float64)
    chunk = chunk or int(batch_size + 6 * np.sqrt(batch_size) + 8)

    def more(c, next_position, found):
        u = tf.random.stateless_uniform(
            [chunk], tf.random.experimental.stateless_fold_in(seed, tf.cast(c, tf.int64)),
            dtype=tf.float64)
        gaps = tf.floor(tf.math.log1p(-u) / log_stay) + 1.0
        positions = next_position - 1.0 + tf.cumsum(gaps)
        return c + 1, positions[-1] + 1.0, tf.concat([found, positions], 0)

    _, _, found = tf.while_loop(
        lambda c, next_position, found: next_position < n, more,
        (tf.constant(0), tf.constant(0.0, tf.float64), tf.zeros([0], tf.float64)),
        shape_invariants=(tf.TensorShape([]), tf.TensorShape([]), tf.TensorShape([None])))
    return tf.cast(tf.boolean_mask(found, found < n), tf.int64)


def fit_seeds(seed: int | None) -> tuple[tuple[int, int], int | None]:
    """Sampling key and noise seed from `seed`.

    The sampling stream is indexed by the optimizer's step count at the start (see
    `index_batches`), so a second `fit_private` call with the same seed (training in
    chunks) draws fresh batches: the accountant assumes every step samples
    independently. The noise stream already depends on the step (see `DPModel`).
    """
    if seed is None:
        words = np.random.SeedSequence().generate_state(2, np.uint32)
        return (int(words[0]), int(words[1])), None
    noise_seq = np.random.SeedSequence([seed, 0])
    sampling_words = np.random.SeedSequence([seed, 1]).generate_state(2, np.uint32)
    hi, lo = noise_seq.generate_state(2, np.uint32)
    return (int(sampling_words[0]), int(sampling_words[1])), (int(hi) << 30) ^ int(lo)


def fit_private(model: keras.Model, x: Any, y: Any, *, batch_size: int | None = None,
                epochs: int | None = None, sampling: str | None = None, seed: int | None,
                plan: DPTrainingPlan | None = None, callbacks: list | None = None,
                verbose: int = 0) -> keras.callbacks.History:
    """Trains a compiled model with Poisson-sampled (or shuffled) batches.

    Works for a DP model (`DPModel`/`DPSequential`/`make_private`, compiled with a DP
    optimizer) and for a plain compiled ``keras.Model`` (the non-private baseline), so
    both arms see the same sampling for the same seed.

    Poisson ("poisson", the default and what the accountant assumes): ceil(N / B) steps
    per epoch; at each step every example joins independently with probability
    q = B / N; the DP step divides the noised sum by the EXPECTED batch size B.
    With a DP optimizer, ``num_microbatches`` must be None or equal ``batch_size``
    (then it means per-example clipping): fixed microbatch counts do not fit random
    batch sizes. Shuffle ("shuffle"): a fresh permutation per epoch cut into ceil(N / B)
    batches, the last one partial; the DP step divides by the actual batch size.

    Args:
      model: compiled Keras model.
      x, y: training examples and labels (numpy arrays, same length N).
      batch_size: B (expected batch size for Poisson), 1 <= B <= N.
      epochs: number of epochs.
      sampling: "poisson" (default) or "shuffle".
      plan: a `dpaudit.accounting.DPTrainingPlan` to run instead of batch_size, epochs
        and sampling: its dataset size must be len(x), its steps whole epochs, and a DP
        model's noise multiplier, clip and microbatches must be the plan's, so what
        runs is what ``dpaudit.accounting.plan_epsilon(plan)`` prices.
      seed: seeds the batch sampling and, for a DP model, its noise (overriding the
        optimizer's noise_seed). None: unpredictable.
      callbacks: Keras callbacks (e.g. `dpaudit.dp.callbacks.EpsilonCallback`).
      verbose: Keras verbosity.

    Returns:
      The Keras History; ``history.history["steps"]`` lists, per epoch, the cumulative
      number of batches processed, i.e. DP-SGD steps for the accountant (a DP model
      takes a noise-only step on an empty Poisson batch; a plain model skips it).

    Example:
        >>> import numpy as np, keras
        >>> from dpaudit.dp import DPKerasSGDOptimizer, DPSequential
        >>> model = DPSequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
        >>> model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
        ...                                             learning_rate=0.1),
        ...               loss=keras.losses.SparseCategoricalCrossentropy(reduction="none"))
        >>> x_train, y_train = np.ones((2000, 4), "float32"), np.zeros(2000, "int64")
        >>> history = fit_private(model, x_train, y_train, batch_size=256, epochs=5,
        ...                       seed=0)
        >>> history.history["steps"]
        [8, 16, 24, 32, 40]
    """
    if not isinstance(model, keras.Model) or getattr(model, "optimizer", None) is None:
        raise InputError("fit_private needs a compiled keras.Model (call model.compile first)")
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or len(x) != len(y):
        raise InputError(f"x and y must be arrays of the same length, got shapes {x.shape} "
                         f"and {y.shape}")
    n = len(x)
    if plan is not None:
        batch_size, epochs, sampling = settings_of_plan(plan, model, n, batch_size, epochs,
                                                        sampling)
    sampling = "poisson" if sampling is None else sampling
    if sampling not in SAMPLINGS:
        raise InputError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    if batch_size is None or epochs is None:
        raise InputError("fit_private needs batch_size and epochs, or a plan")
    batch_size = validation.check_positive_int(batch_size, "batch_size")
    epochs = validation.check_positive_int(epochs, "epochs")
    seed = validation.check_seed(seed)
    if n == 0:
        raise InputError("fit_private needs at least one training example, got 0")
    if batch_size > n:
        raise InputError(f"batch_size must be at most the dataset size {n}, got {batch_size}")

    opt = model.optimizer
    private = is_private_model(model)
    if is_dp_optimizer(opt) and not private:
        raise plain_model_error(opt)
    runtime = None
    settings = dp_settings(model) if private else None
    if settings is not None:
        runtime = _runtime(settings.num_microbatches, n, batch_size, sampling)

    start = int(opt.iterations)
    key, noise_seed = fit_seeds(seed)
    if settings is not None and noise_seed is not None:
        if settings.source is opt:
            opt.noise_seed = noise_seed
        else:
            model._dp_params["noise_seed"] = noise_seed
    steps = steps_per_epoch(n, batch_size)
    # Shuffle streams are indexed by epoch: the number of whole epochs already run.
    first = start if sampling == "poisson" else -(-start // steps)
    indices = index_batches(n, batch_size, epochs, sampling=sampling, key=key,
                            start_step=first)
    x_t, y_t = tf.convert_to_tensor(x), tf.convert_to_tensor(y)

    # A fixed pipeline has nothing for tf.data to autotune, and on few cores the
    # autotuner's threads made some epochs of the DP step ~25% slower.
    options = tf.data.Options()
    options.autotune.enabled = False
    dataset = indices.map(lambda idx: (tf.gather(x_t, idx), tf.gather(y_t, idx))).prefetch(
        2).with_options(options)

    counter = _StepCounter()
    object.__setattr__(model, "_dp_runtime", runtime)
    if not private and sampling == "poisson":
        _skip_empty_batches(model)
    model.train_function = None  # the step reads the runtime when it is traced
    try:
        history = model.fit(dataset, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                            callbacks=[counter, *(callbacks or [])], verbose=verbose)
    finally:
        object.__setattr__(model, "_dp_runtime", None)
        if "train_step" in model.__dict__:
            object.__delattr__(model, "train_step")
        model.train_function = None
    history.history["steps"] = list(counter.cumulative)
    logger.info("fit_private: %d steps of %s sampling (N=%d, B=%d)", counter.total, sampling,
                n, batch_size)
    return history


def _skip_empty_batches(model: keras.Model) -> None:
    """Makes a plain model's train step a no-op on an empty Poisson batch.

    There is nothing to learn from no examples, and TensorFlow's CPU convolutions
    return wrongly shaped outputs for an empty batch. (DP models take their step, noise
    only, as the accountant assumes.) Removed again when `fit_private` returns.
    """
    original = model.train_step

    def train_step(data):
        x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
        size = tf.shape(tf.nest.flatten(x)[0])[0]
        return tf.cond(size > 0, lambda: original(data), model.get_metrics_result)

    object.__setattr__(model, "train_step", train_step)


def _runtime(num_microbatches: int | None, n: int, batch_size: int, sampling: str) -> _Runtime:
    if sampling == "poisson":
        if num_microbatches is not None and num_microbatches != batch_size:
            raise InputError(
                f"num_microbatches={num_microbatches} cannot split Poisson batches, whose size "
                f"varies; use num_microbatches=None (per-example clipping) or "
                f"sampling='shuffle'")
        return _Runtime(denominator=float(batch_size), per_example=True)
    if num_microbatches is not None:
        validation.check_microbatches_divide(batch_size, num_microbatches, "batch_size")
        last = n % batch_size
        if last:
            validation.check_microbatches_divide(
                last, num_microbatches,
                f"last batch (dataset size {n} = {n // batch_size} x {batch_size} + {last})")
    return _Runtime()
