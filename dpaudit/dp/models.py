"""Keras models whose train step is DP-SGD: `DPModel`, `DPSequential`, `make_private`.

Keras 3 optimizers never see per-example gradients, so the DP work happens here: the
train step clips each example's gradient, adds Gaussian noise to the sum, divides by
the batch size and applies the result with the model's DP optimizer
(`dpaudit.dp.optimizers`). The user's recipe from TensorFlow Privacy carries over:

    model = make_private(model)             # or DPSequential([...]) / DPModel(inputs, outputs)
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
                                                learning_rate=0.1),
                  loss=keras.losses.SparseCategoricalCrossentropy(reduction="none"))
    model.fit(x, y, batch_size=256, epochs=10)   # or fit_private(...) for Poisson sampling

The loss may also be a normal Keras loss (any reduction), a loss name or a function:
per-example losses are computed from it. A DP model compiled with a plain (non-DP)
optimizer refuses to fit: that is almost surely a mistake, and a silent non-private
run is the failure this library exists to prevent. For a non-private baseline fit a
plain `keras.Model` (e.g. ``keras.models.clone_model`` + ``set_weights``).

Under plain ``model.fit`` the noised sum is divided by the actual batch size (or by
``num_microbatches``), as in TensorFlow Privacy; `fit_private` with Poisson sampling
divides by the expected batch size instead.

TF Privacy's own spelling is accepted too: ``DPSequential(l2_norm_clip=1.0,
noise_multiplier=1.1, num_microbatches=None, layers=[...])`` (or ``DPModel(inputs,
outputs, l2_norm_clip=..., noise_multiplier=...)``) puts the DP parameters on the model,
which may then be compiled with a plain Keras optimizer, as TF Privacy's DPModel is.

An example whose loss or gradient is NaN gets weight 0 in the step (see
`dpaudit.dp.clipping`); ``fit`` logs a warning with their number and records it in
``history.history["dp_nan_examples"]``.
"""

from __future__ import annotations

import logging
import numbers
import secrets
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from dpaudit import validation
from dpaudit.dp._losses import per_example_loss
from dpaudit.dp.gradients import private_gradients
from dpaudit.dp.optimizers import apply_private, is_dp_optimizer
from dpaudit.errors import InputError

__all__ = ["DPModel", "DPSequential", "make_private", "is_private_model", "dp_settings",
           "DPSettings"]

logger = logging.getLogger(__name__)
_DP_KEYS = ("l2_norm_clip", "noise_multiplier", "num_microbatches", "noise_seed")


@dataclass(frozen=True)
class DPSettings:
    """The DP parameters a DP model trains with (from its own arguments or its optimizer)."""

    l2_norm_clip: float
    noise_multiplier: float
    num_microbatches: int | None
    noise_seed: int
    source: Any  # the object holding them: the model or its DP optimizer


def dp_settings(model: keras.Model) -> DPSettings | None:
    """The DP parameters `model` trains with, or None when it has none (a plain optimizer
    on a DP model without its own parameters). Refuses two disagreeing sources."""
    own = getattr(model, "_dp_params", None)
    opt = getattr(model, "optimizer", None)
    from_opt = None
    if is_dp_optimizer(opt):
        from_opt = DPSettings(opt.l2_norm_clip, opt.noise_multiplier, opt.num_microbatches,
                              opt.noise_seed, opt)
    if own is None:
        return from_opt
    mine = DPSettings(own["l2_norm_clip"], own["noise_multiplier"], own["num_microbatches"],
                      own["noise_seed"], model)
    if from_opt is not None and (from_opt.l2_norm_clip, from_opt.noise_multiplier,
                                 from_opt.num_microbatches) != (
            mine.l2_norm_clip, mine.noise_multiplier, mine.num_microbatches):
        raise InputError(
            f"{type(model).__name__} {model.name!r} was given l2_norm_clip="
            f"{mine.l2_norm_clip}, noise_multiplier={mine.noise_multiplier}, "
            f"num_microbatches={mine.num_microbatches} but its optimizer "
            f"{type(opt).__name__} has {from_opt.l2_norm_clip}, {from_opt.noise_multiplier}, "
            f"{from_opt.num_microbatches}; give the DP parameters in one place")
    return mine


@dataclass(frozen=True)
class _Runtime:
    """How `fit_private` wants the step run (read when the step is traced)."""

    denominator: float | None = None   # None: the actual batch size / num_microbatches
    per_example: bool = False          # True: ignore num_microbatches (== batch size)


class _DPTrainStep:
    """Replaces Keras' train step with a DP-SGD step."""

    def __init__(self, *args: Any, l2_norm_clip: float | None = None,
                 noise_multiplier: float | None = None, num_microbatches: int | None = None,
                 noise_seed: int | None = None, use_xla: bool | None = None, **kwargs: Any):
        if args and isinstance(args[0], numbers.Real) and not isinstance(args[0], bool):
            raise InputError(
                f"{type(self).__name__} got a number as its first argument: TF Privacy's "
                "positional order (l2_norm_clip, noise_multiplier, ...) is not supported; "
                "pass them by name, e.g. DPSequential(l2_norm_clip=1.0, "
                "noise_multiplier=1.1, layers=[...])")
        super().__init__(*args, **kwargs)
        params = None
        if l2_norm_clip is not None or noise_multiplier is not None:
            if l2_norm_clip is None or noise_multiplier is None:
                raise InputError(f"{type(self).__name__} needs both l2_norm_clip and "
                                 "noise_multiplier when given either")
            params = dict(
                l2_norm_clip=validation.check_clip(l2_norm_clip),
                noise_multiplier=validation.check_noise(noise_multiplier),
                num_microbatches=validation.check_microbatches(num_microbatches),
                noise_seed=validation.check_seed(noise_seed, "noise_seed"))
        elif num_microbatches is not None or noise_seed is not None:
            raise InputError(f"{type(self).__name__}: num_microbatches and noise_seed go "
                             "with l2_norm_clip and noise_multiplier (or on the DP optimizer)")
        # use_xla (TF Privacy) is accepted and ignored: the step is compiled by Keras.
        object.__setattr__(self, "_dp_params", params)
        object.__setattr__(self, "_dp_config_seed", None if params is None
                           else params["noise_seed"])
        if params is not None and params["noise_seed"] is None:
            # Unseeded noise must be unpredictable (see DPKerasSGDOptimizer's noise_seed).
            params["noise_seed"] = secrets.randbits(62)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        params = getattr(self, "_dp_params", None)
        if params is not None:
            config.update({k: params[k] for k in _DP_KEYS if k != "noise_seed"},
                          noise_seed=self._dp_config_seed)
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None):
        config = dict(config)
        params = {k: config.pop(k) for k in _DP_KEYS if k in config}
        model = super().from_config(config, custom_objects=custom_objects)
        if params.get("l2_norm_clip") is not None:
            seed = params.get("noise_seed")
            object.__setattr__(model, "_dp_params", dict(
                l2_norm_clip=validation.check_clip(params["l2_norm_clip"]),
                noise_multiplier=validation.check_noise(params["noise_multiplier"]),
                num_microbatches=validation.check_microbatches(params.get("num_microbatches")),
                noise_seed=secrets.randbits(62) if seed is None else seed))
            object.__setattr__(model, "_dp_config_seed", seed)
        return model

    def fit(self, *args: Any, **kwargs: Any):
        # A counter outside the traced step: the step adds the examples it gave weight 0
        # because of a NaN loss or gradient; read once when fit returns. Created once,
        # so later fits reuse the traced step (retracing costs seconds).
        counter = getattr(self, "_dp_nan_counter", None)
        if counter is None:
            counter = tf.Variable(0, dtype=tf.int64, trainable=False)
            object.__setattr__(self, "_dp_nan_counter", counter)
            self.train_function = None  # a step traced before the counter did not count
        start = int(counter.numpy())
        history = super().fit(*args, **kwargs)
        skipped = int(counter.numpy()) - start
        if history is not None:
            history.history["dp_nan_examples"] = [skipped]
        if skipped:
            logger.warning("%s %r: %d example(s) (or microbatches) had a NaN loss or gradient "
                           "and were given weight 0 in their DP-SGD step; check the data and "
                           "the learning rate", type(self).__name__, self.name, skipped)
        return history

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        opt = self.optimizer
        settings = dp_settings(self)
        if settings is None:
            raise InputError(
                f"{type(self).__name__} {self.name!r} was compiled with optimizer "
                f"{type(opt).__name__}, which is not differentially private, so fit would "
                "train without privacy; compile it with DPKerasSGDOptimizer, "
                "DPKerasAdamOptimizer or DPKerasAdagradOptimizer (or give the model "
                "l2_norm_clip and noise_multiplier), or fit a plain keras.Model "
                "for a non-private baseline")
        loss_fn = per_example_loss(self.loss, where=f"{type(self).__name__}.compile(loss=...)")
        runtime = getattr(self, "_dp_runtime", None) or _Runtime()
        # Stateless noise, reproducible from (noise_seed, step): same seed, same weights.
        seed = tf.stack([tf.constant(settings.noise_seed, tf.int64),
                         tf.cast(opt.iterations, tf.int64)])
        result = private_gradients(
            self, x, y, loss_fn, l2_norm_clip=settings.l2_norm_clip,
            noise_multiplier=settings.noise_multiplier,
            num_microbatches=None if runtime.per_example else settings.num_microbatches,
            denominator=runtime.denominator, seed=seed, sample_weight=sample_weight)
        counter = getattr(self, "_dp_nan_counter", None)
        if counter is not None:
            counter.assign_add(tf.cast(result.num_nan, tf.int64))
        if is_dp_optimizer(opt):
            apply_private(opt, result.gradients, self.trainable_variables)
        else:  # the model's own DP parameters made these gradients private
            opt.apply(result.gradients, self.trainable_variables)

        n = tf.shape(result.losses)[0]
        loss = tf.math.divide_no_nan(tf.reduce_sum(result.losses),
                                     tf.cast(n, result.losses.dtype))
        if self.losses:
            loss += tf.add_n(self.losses)
        self._loss_tracker.update_state(loss, sample_weight=n)
        return self.compute_metrics(x, y, result.y_pred, sample_weight=sample_weight)


@keras.saving.register_keras_serializable(package="dpaudit")
class DPModel(_DPTrainStep, keras.Model):
    """A functional Keras model trained with DP-SGD (compile it with a DP optimizer).

    Build it like ``keras.Model(inputs, outputs)``, or from an existing model with
    `make_private`. Dense, Conv2D and Embedding layers use fast book-keeping clipping;
    other trainable layers use exact vectorised per-example gradients; trainable
    BatchNormalization is refused.

    Example:
        >>> from dpaudit.dp import DPKerasSGDOptimizer
        >>> inputs = keras.Input((64,))
        >>> outputs = keras.layers.Dense(10, activation="softmax")(inputs)
        >>> model = DPModel(inputs, outputs)
        >>> model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0,
        ...               noise_multiplier=1.1, learning_rate=0.1),
        ...               loss="sparse_categorical_crossentropy")
    """


@keras.saving.register_keras_serializable(package="dpaudit")
class DPSequential(_DPTrainStep, keras.Sequential):
    """A ``keras.Sequential`` trained with DP-SGD (TensorFlow Privacy's DPSequential).

    Example:
        >>> model = DPSequential([keras.Input((64,)), keras.layers.Dense(10)])
    """


def is_private_model(model: object) -> bool:
    """True if `model` trains with the DP step of this module."""
    return isinstance(model, _DPTrainStep)


def make_private(model: keras.Model) -> DPModel:
    """A `DPModel` over the SAME layers (and so the same weights) as `model`.

    Training the result trains `model`'s weights too; to keep an untouched baseline,
    clone first (``keras.models.clone_model`` + ``set_weights``).

    Args:
      model: a functional model, or a Sequential that knows its input shape.

    Raises:
      InputError: the model's inputs are unknown (subclassed or unbuilt Sequential).

    Example:
        >>> from dpaudit.training import build_model
        >>> private = make_private(build_model("mlp", input_shape=(64,), num_classes=10,
        ...                                    seed=0))
    """
    if is_private_model(model):
        return model
    if not isinstance(model, keras.Model):
        raise InputError(f"make_private needs a keras.Model, got {type(model).__name__}")
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise InputError(
            f"make_private needs a model whose inputs are known: {model.name!r} is "
            f"{'an unbuilt Sequential' if isinstance(model, keras.Sequential) else 'subclassed'}"
            "; give it a keras.Input, or build the network as DPModel/DPSequential directly")
    # Single tensors rather than one-element lists, so calling the model on a plain
    # array matches its input structure (Keras warns otherwise).
    return DPModel(inputs=inputs[0] if len(inputs) == 1 else inputs,
                   outputs=outputs[0] if len(outputs) == 1 else outputs,
                   name=f"{model.name}_private")
