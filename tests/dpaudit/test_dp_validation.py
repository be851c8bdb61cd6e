"""Bad arguments raise InputError (a ValueError) naming the argument and the rule."""

import math
import re

import numpy as np
import pytest

import keras

from dpaudit.dp import (DPKerasAdagradOptimizer, DPKerasAdamOptimizer, DPKerasSGDOptimizer,
                        dp_gradients, fit_private, make_private, suggest_clip)
from dpaudit.errors import InputError

OPTIMIZERS = [DPKerasSGDOptimizer, DPKerasAdamOptimizer, DPKerasAdagradOptimizer]


@pytest.mark.parametrize("kwargs,message", [
    (dict(l2_norm_clip=-1.0), "l2_norm_clip must be positive and finite, got -1.0"),
    (dict(l2_norm_clip=0), "l2_norm_clip must be positive and finite, got 0.0"),
    (dict(l2_norm_clip=math.inf), "l2_norm_clip must be positive and finite, got inf"),
    (dict(l2_norm_clip=math.nan), "l2_norm_clip must be positive and finite, got nan"),
    (dict(l2_norm_clip=True), "l2_norm_clip must be a number, got True"),
    (dict(l2_norm_clip="1"), "l2_norm_clip must be a number, got '1'"),
    (dict(noise_multiplier=-0.5), "noise_multiplier must be non-negative and finite, got -0.5"),
    (dict(num_microbatches=0), "num_microbatches must be a positive integer, got 0"),
    (dict(num_microbatches=-3), "num_microbatches must be a positive integer, got -3"),
    (dict(num_microbatches=2.5), "num_microbatches must be a positive integer, got 2.5"),
    (dict(noise_seed=-1), "noise_seed must be None or a non-negative integer, got -1"),
    (dict(gradient_accumulation_steps=4), "gradient_accumulation_steps is not supported"),
])
@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_optimizer_arguments_are_checked(cls, kwargs, message):
    args = {"l2_norm_clip": 1.0, "noise_multiplier": 1.0, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)) as e:
        cls(**args)
    assert isinstance(e.value, InputError)


@pytest.mark.parametrize("cls", OPTIMIZERS)
def test_optimizer_config_round_trips(cls):
    opt = cls(l2_norm_clip=0.5, noise_multiplier=1.1, num_microbatches=4, noise_seed=9,
              learning_rate=0.05)
    config = keras.optimizers.serialize(opt)
    again = keras.optimizers.deserialize(config)
    assert type(again) is cls
    assert (again.l2_norm_clip, again.noise_multiplier, again.num_microbatches,
            again.noise_seed) == (0.5, 1.1, 4, 9)
    assert float(again.learning_rate) == pytest.approx(0.05)


def test_unseeded_optimizers_draw_different_noise_seeds():
    a = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0)
    b = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0)
    assert a.noise_seed != b.noise_seed
    assert a.get_config()["noise_seed"] is None  # a reloaded model does not reuse noise


def _model():
    inputs = keras.Input((3,))
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))


X, Y = np.ones((6, 3), "float32"), np.zeros(6, "int64")


@pytest.mark.parametrize("kwargs,message", [
    (dict(l2_norm_clip=-1.0), "l2_norm_clip must be positive"),
    (dict(noise_multiplier=-1.0), "noise_multiplier must be non-negative"),
    (dict(num_microbatches=0), "num_microbatches must be a positive integer"),
    (dict(num_microbatches=4), "num_microbatches=4 must divide the batch size, got batch size 6"),
    (dict(denominator=0.0), "denominator must be positive"),
])
def test_dp_gradients_arguments_are_checked(kwargs, message):
    args = {"l2_norm_clip": 1.0, "noise_multiplier": 1.0, **kwargs}
    with pytest.raises(InputError, match=message):
        dp_gradients(_model(), "sparse_categorical_crossentropy", X, Y, **args)


def _compiled():
    model = make_private(_model())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0),
                  loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("kwargs,message", [
    (dict(sampling="random"), "sampling must be one of poisson, shuffle, got 'random'"),
    (dict(batch_size=0), "batch_size must be a positive integer, got 0"),
    (dict(batch_size=7), "batch_size must be at most the dataset size 6, got 7"),
    (dict(epochs=0), "epochs must be a positive integer, got 0"),
    (dict(seed=-2), "seed must be None or a non-negative integer, got -2"),
])
def test_fit_private_arguments_are_checked(kwargs, message):
    args = {"batch_size": 2, "epochs": 1, "seed": 0, **kwargs}
    with pytest.raises(InputError, match=message):
        fit_private(_compiled(), X, Y, **args)


def test_fit_private_needs_a_compiled_model_and_matching_lengths():
    with pytest.raises(InputError, match="compiled"):
        fit_private(_model(), X, Y, batch_size=2, epochs=1, seed=0)
    with pytest.raises(InputError, match="same length"):
        fit_private(_compiled(), X, Y[:5], batch_size=2, epochs=1, seed=0)


def test_suggest_clip_arguments_are_checked():
    with pytest.raises(InputError, match=r"quantiles must be numbers in \[0, 1\], got 1.5"):
        suggest_clip(_model(), X, Y, loss_fn="sparse_categorical_crossentropy",
                     quantiles=(0.5, 1.5))
    with pytest.raises(InputError, match="needs loss_fn"):
        suggest_clip(_model(), X, Y)
