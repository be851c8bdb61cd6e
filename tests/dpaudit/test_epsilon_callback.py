"""EpsilonCallback prices the steps a tiny Keras model actually ran."""

import logging

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from dpaudit.accounting import compute_epsilon  # noqa: E402
from dpaudit.dp.callbacks import EpsilonCallback  # noqa: E402
from dpaudit.errors import InputError  # noqa: E402

PRICE = dict(dataset_size=64, batch_size=16, noise_multiplier=1.1, delta=1e-3)


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    return model


def data(n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)).astype("float32"), rng.normal(size=(n, 1)).astype("float32")


@pytest.mark.parametrize("sampling", ["poisson", "shuffle"])
def test_epsilons_increase_and_match_compute_epsilon(sampling):
    x, y = data()
    cb = EpsilonCallback(**PRICE, sampling=sampling)
    history = tiny_model().fit(x, y, batch_size=16, epochs=3, callbacks=[cb], verbose=0)
    assert cb.steps == [4, 8, 12]
    assert cb.total_steps == 12
    assert all(a < b for a, b in zip(cb.epsilons, cb.epsilons[1:])), cb.epsilons
    expected = [compute_epsilon(**PRICE, steps=t, sampling=sampling) for t in (4, 8, 12)]
    assert cb.epsilons == expected
    assert history.history["epsilon"] == pytest.approx(expected)


def test_epoch_cut_short_prices_only_the_steps_run():
    class StopAfterTwoBatches(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    x, y = data()
    cb = EpsilonCallback(**PRICE, sampling="poisson")
    tiny_model().fit(x, y, batch_size=16, epochs=3, verbose=0,
                     callbacks=[cb, StopAfterTwoBatches()])
    assert cb.steps == [2]
    assert cb.epsilons == [compute_epsilon(**PRICE, steps=2)]


def test_repeated_fit_accumulates_privacy_loss():
    x, y = data()
    model = tiny_model()
    cb = EpsilonCallback(**PRICE, sampling="poisson")
    model.fit(x, y, batch_size=16, epochs=1, callbacks=[cb], verbose=0)
    model.fit(x, y, batch_size=32, epochs=1, callbacks=[cb], verbose=0)
    assert cb.steps == [4, 6]
    assert cb.epsilons[-1] == compute_epsilon(**PRICE, steps=6)


def test_bad_arguments_fail_at_construction():
    with pytest.raises(InputError, match="noise_multiplier must be non-negative"):
        EpsilonCallback(**dict(PRICE, noise_multiplier=-1.0), sampling="poisson")
    with pytest.raises(InputError, match="sampling must be one of"):
        EpsilonCallback(**PRICE, sampling="uniform")
    with pytest.raises(TypeError):  # sampling must be stated, never assumed
        EpsilonCallback(**PRICE)


def test_warns_when_optimizer_noise_differs(caplog):
    x, y = data()
    model = tiny_model()
    model.optimizer.noise_multiplier = 2.0  # as a DP optimizer would expose it
    cb = EpsilonCallback(**PRICE, sampling="poisson")
    with caplog.at_level(logging.WARNING, logger="dpaudit.dp.callbacks"):
        model.fit(x, y, batch_size=16, epochs=1, callbacks=[cb], verbose=0)
    assert "noise_multiplier=1.1" in caplog.text and "noise_multiplier=2.0" in caplog.text
