"""TF Privacy users' code that should just work, and the DP step's defects of issue 13:
NaN examples, microbatches at a partial last batch, minimize(vector_loss, tape=...),
the Vectorized* aliases, mixed precision, DPSequential(l2_norm_clip=...), saved DP
models, and fit_private(plan=...)."""

import logging
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from dpaudit.accounting import DPTrainingPlan, plan_epsilon
from dpaudit.dp import (DPKerasAdamOptimizer, DPKerasSGDOptimizer, DPSequential,
                        VectorizedDPKerasAdamOptimizer, VectorizedDPKerasSGDOptimizer,
                        dp_gradients, fit_private, make_private)
from dpaudit.dp._losses import per_example_loss
from dpaudit.dp.callbacks import EpsilonCallback
from dpaudit.dp.clipping import clipped_gradient_sum
from dpaudit.errors import InputError

LOSS = keras.losses.SparseCategoricalCrossentropy(reduction="none")


def _mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3,))
    h = keras.layers.Dense(4, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(h))


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype("float32"), rng.integers(0, 2, n)


def _naive_clipped_mean(model, x, y, clip, num_microbatches=None):
    """Reference: each unit's gradient by its own tape, clipped, summed, averaged."""
    m = len(x) if num_microbatches is None else num_microbatches
    k = len(x) // m
    total = [np.zeros(v.shape) for v in model.trainable_variables]
    for j in range(m):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(LOSS(y[j * k:(j + 1) * k], model(x[j * k:(j + 1) * k])))
        grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
        norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
        total = [t + min(1.0, clip / norm) * g for t, g in zip(total, grads)]
    return [t / m for t in total]


# --- item 3: a NaN example ------------------------------------------------------------

def test_nan_example_gets_zero_weight_and_is_counted():
    model = _mlp()
    x, y = _data()
    x[2] = np.nan
    result = clipped_gradient_sum(model, x, y, per_example_loss(LOSS), l2_norm_clip=0.5)
    assert int(result.num_nan) == 1
    keep = np.arange(len(x)) != 2
    expected = _naive_clipped_mean(model, x[keep], y[keep], 0.5)
    for got, want in zip(result.sums, expected):
        assert np.isfinite(got.numpy()).all()
        np.testing.assert_allclose(got.numpy(), want * keep.sum(), rtol=1e-4, atol=1e-6)


def test_fit_with_a_nan_example_stays_finite_and_warns(caplog):
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=0.5,
                                                learning_rate=0.1, noise_seed=0), loss=LOSS)
    x, y = _data()
    x[5] = np.nan
    with caplog.at_level(logging.WARNING, logger="dpaudit.dp.models"):
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    assert all(np.isfinite(w).all() for w in model.get_weights())
    assert history.history["dp_nan_examples"] == [2]  # one per epoch
    assert "2 example(s)" in caplog.text and "weight 0" in caplog.text


# --- item 10: microbatches at a partial last batch -----------------------------------------

def test_partial_last_batch_gives_the_clear_microbatch_error_in_graph_mode():
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0,
                                                num_microbatches=4), loss=LOSS)
    x, y = _data(n=10)  # batches of 8 then 2: 4 microbatches cannot split the last
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match="num_microbatches=4 must divide the batch size"):
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)


# --- items 8 and 9: TF Privacy's custom loop and optimizer names -------------------------

@pytest.mark.parametrize("num_microbatches", [None, 2])
def test_minimize_with_vector_loss_and_tape_is_dp_sgd(num_microbatches):
    model = _mlp()
    x, y = _data()
    before = [w.copy() for w in model.get_weights()]
    expected = _naive_clipped_mean(model, x, y, 0.3, num_microbatches)
    opt = VectorizedDPKerasSGDOptimizer(l2_norm_clip=0.3, noise_multiplier=0.0,
                                        num_microbatches=num_microbatches, learning_rate=1.0)
    with tf.GradientTape() as tape:
        vector_loss = LOSS(y, model(x, training=True))
    opt.minimize(vector_loss, model.trainable_variables, tape=tape)
    for b, a, g in zip(before, model.get_weights(), expected):
        np.testing.assert_allclose(b - a, g, rtol=1e-4, atol=1e-6)


def test_minimize_without_tape_and_apply_gradients_explain_the_recipes():
    model = _mlp()
    x, y = _data()
    opt = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0)
    with pytest.raises(InputError, match="minimize\\(vector_loss, var_list, tape=tape\\)"):
        opt.minimize(lambda: tf.reduce_sum(LOSS(y, model(x))), model.trainable_variables)
    grads = dp_gradients(model, LOSS, x, y, l2_norm_clip=1.0, noise_multiplier=1.0, seed=0)
    with pytest.raises(InputError) as e:
        opt.apply_gradients(zip(grads, model.trainable_variables))
    message = str(e.value)
    assert "cannot tell whether they were clipped and noised" in message
    assert "PLAIN optimizer" in message and "dp_gradients" in message


def test_vectorized_names_are_the_dp_optimizers():
    assert VectorizedDPKerasSGDOptimizer is DPKerasSGDOptimizer
    assert VectorizedDPKerasAdamOptimizer is DPKerasAdamOptimizer


# --- item 12: mixed precision and DPSequential(l2_norm_clip=...) ----------------------------

def test_mixed_precision_is_refused_clearly():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = _mlp()
    finally:
        keras.config.set_dtype_policy(previous)
    x, y = _data()
    with pytest.raises(InputError, match="mixed precision is not supported"):
        dp_gradients(model, LOSS, x, y, l2_norm_clip=1.0, noise_multiplier=1.0, seed=0)


def test_dp_sequential_takes_tf_privacy_arguments_with_a_plain_optimizer():
    x, y = _data()
    model = DPSequential(l2_norm_clip=0.3, noise_multiplier=0.0, num_microbatches=None,
                         layers=[keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    reference = keras.models.clone_model(model)
    reference.set_weights(model.get_weights())
    expected = _naive_clipped_mean(reference, x, y, 0.3)
    model.compile(optimizer=keras.optimizers.SGD(1.0), loss=LOSS)
    before = [w.copy() for w in model.get_weights()]
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False)
    for b, a, g in zip(before, model.get_weights(), expected):
        np.testing.assert_allclose(b - a, g, rtol=1e-4, atol=1e-6)
    config = model.get_config()
    assert (config["l2_norm_clip"], config["noise_multiplier"]) == (0.3, 0.0)
    again = DPSequential.from_config(config)
    assert again._dp_params["l2_norm_clip"] == 0.3
    with pytest.raises(InputError, match="pass them by name"):
        DPSequential(1.0, 1.1)


# --- item 2: saved DP models load (fresh interpreter: nothing pre-imported) ------------------

@pytest.mark.slow
def test_saved_dp_models_load_in_dpaudit_attack_and_plain_keras(tmp_path):
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0),
                  loss=LOSS)
    model.save(tmp_path / "dp.keras")
    model.save(tmp_path / "dp.h5")
    script = textwrap.dedent(f"""
        import sys
        from dpaudit.audit.external import load_keras_model
        for name in ("dp.keras", "dp.h5"):  # the `dpaudit attack` loader, fresh process
            assert type(load_keras_model({str(tmp_path)!r} + "/" + name)).__name__ == "DPModel"
        import keras
        for name in ("dp.keras", "dp.h5"):  # plain Keras after import dpaudit.dp
            assert type(keras.models.load_model({str(tmp_path)!r} + "/" + name)).__name__ \\
                == "DPModel"
        """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]


# --- issue 10: fit_private runs the plan the accountant prices ------------------------------

def test_fit_private_runs_the_plan_and_refuses_a_different_one():
    x, y = _data(n=20)
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.2),
                  loss=LOSS)
    plan = DPTrainingPlan.for_epochs(dataset_size=20, batch_size=5, epochs=2,
                                     noise_multiplier=1.2, l2_norm_clip=1.0, delta=1e-3)
    cb = EpsilonCallback(dataset_size=20, batch_size=5, noise_multiplier=1.2, delta=1e-3,
                         sampling="poisson")
    history = fit_private(model, x, y, plan=plan, seed=0, callbacks=[cb])
    assert history.history["steps"][-1] == plan.steps == 8
    assert cb.epsilons[-1] == plan_epsilon(plan)  # what ran is what is priced
    wrong = DPTrainingPlan.for_epochs(dataset_size=20, batch_size=5, epochs=2,
                                      noise_multiplier=1.0, delta=1e-3)
    with pytest.raises(InputError, match="plan.noise_multiplier is 1.0 but the model"):
        fit_private(model, x, y, plan=wrong, seed=0)
    with pytest.raises(InputError, match="not both"):
        fit_private(model, x, y, plan=plan, batch_size=5, seed=0)
