"""DP training end to end: equivalence with plain training, refusals, seeds, saving."""

import numpy as np
import pytest

import keras
import tensorflow as tf

from dpaudit.dp import (DPKerasAdamOptimizer, DPKerasSGDOptimizer, DPModel, DPSequential,
                        dp_gradients, fit_private, make_private)
from dpaudit.errors import InputError

LOSS = "sparse_categorical_crossentropy"


def _mlp(seed=0, regularizer=None):
    inputs = keras.Input((6,))
    init = keras.initializers.GlorotUniform(seed=seed)
    h = keras.layers.Dense(8, activation="relu", kernel_initializer=init,
                           kernel_regularizer=regularizer)(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax",
                                                  kernel_initializer=init)(h))


def _conv(seed=0):
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Sequential([keras.Input((6, 6, 1)),
                             keras.layers.Conv2D(4, 3, kernel_initializer=init),
                             keras.layers.AveragePooling2D(2), keras.layers.Activation("relu"),
                             keras.layers.Flatten(),
                             keras.layers.Dense(3, activation="softmax", kernel_initializer=init)])


def _data(shape=(6,), n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, 3, n)


def _clone(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def _assert_same_weights(a, b, atol=1e-5):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, atol=atol)


@pytest.mark.parametrize("build,shape", [(_mlp, (6,)), (_conv, (6, 6, 1)),
                                         (lambda: _mlp(regularizer="l2"), (6,))])
@pytest.mark.parametrize("dp_opt,plain_opt", [
    (lambda: DPKerasSGDOptimizer(l2_norm_clip=1e6, noise_multiplier=0.0, learning_rate=0.1),
     lambda: keras.optimizers.SGD(learning_rate=0.1)),
    (lambda: DPKerasAdamOptimizer(l2_norm_clip=1e6, noise_multiplier=0.0, learning_rate=0.01),
     lambda: keras.optimizers.Adam(learning_rate=0.01)),
])
def test_no_noise_and_huge_clip_equals_plain_training(build, shape, dp_opt, plain_opt):
    base = build()
    plain = _clone(base)
    private = make_private(base)
    private.compile(optimizer=dp_opt(), loss=keras.losses.SparseCategoricalCrossentropy())
    plain.compile(optimizer=plain_opt(), loss=LOSS)
    x, y = _data(shape)
    private.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    plain.fit(x, y, batch_size=10, epochs=2, shuffle=False, verbose=0)
    _assert_same_weights(private, plain)


def test_dp_sequential_trains_like_plain_sequential_without_noise():
    plain = _conv()
    private = DPSequential([keras.Input((6, 6, 1)), *[_clone_layer(l) for l in plain.layers]])
    private.set_weights(plain.get_weights())
    private.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1e6, noise_multiplier=0.0,
                                                  learning_rate=0.1), loss=LOSS)
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)
    x, y = _data((6, 6, 1))
    for model in (private, plain):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
    _assert_same_weights(private, plain)


def _clone_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def test_make_private_shares_layers_and_weights():
    base = _mlp()
    private = make_private(base)
    assert [id(v) for v in private.trainable_variables] == \
        [id(v) for v in base.trainable_variables]
    assert isinstance(private, DPModel)


def test_make_private_refuses_a_model_without_known_inputs():
    with pytest.raises(InputError, match="inputs are known"):
        make_private(keras.Sequential([keras.layers.Dense(2)]))


def test_plain_model_with_dp_optimizer_raises_with_the_fix():
    model = _mlp()
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0),
                  loss=LOSS)
    before = model.get_weights()
    x, y = _data()
    with pytest.raises(InputError, match="make_private.*DPSequential.*DPModel"):
        model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    with pytest.raises(InputError, match="make_private"):
        fit_private(model, x, y, batch_size=10, epochs=1, seed=0)
    _assert_same_weights_lists(model.get_weights(), before)


def _assert_same_weights_lists(a, b):
    for wa, wb in zip(a, b):
        np.testing.assert_array_equal(wa, wb)


def test_dp_optimizer_refuses_apply_gradients_in_a_custom_loop():
    model = _mlp()
    opt = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0)
    grads = [tf.zeros_like(v) for v in model.trainable_variables]
    with pytest.raises(InputError, match="dp_gradients"):
        opt.apply_gradients(zip(grads, model.trainable_variables))


def test_dp_model_with_plain_optimizer_refuses_to_fit():
    model = make_private(_mlp())
    model.compile(optimizer="sgd", loss=LOSS)
    x, y = _data()
    with pytest.raises(InputError, match="not differentially private"):
        model.fit(x, y, batch_size=10, epochs=1, verbose=0)


def _train(seed, sampling="poisson", noise=1.0):
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=noise,
                                                learning_rate=0.1), loss=LOSS)
    x, y = _data()
    history = fit_private(model, x, y, batch_size=10, epochs=2, sampling=sampling, seed=seed)
    return model, history


@pytest.mark.parametrize("sampling", ["poisson", "shuffle"])
def test_same_seed_gives_same_weights(sampling):
    a, history = _train(3, sampling)
    b, _ = _train(3, sampling)
    c, _ = _train(4, sampling)
    _assert_same_weights_lists(a.get_weights(), b.get_weights())
    assert any(not np.array_equal(wa, wc) for wa, wc in zip(a.get_weights(), c.get_weights()))
    assert history.history["steps"] == [4, 8]  # ceil(40 / 10) steps per epoch


def test_fit_private_trains_a_plain_baseline_on_the_same_schedule():
    model = _mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS, metrics=["accuracy"])
    x, y = _data(n=45)
    history = fit_private(model, x, y, batch_size=10, epochs=3, seed=0, sampling="shuffle")
    assert history.history["steps"] == [5, 10, 15]
    assert int(model.optimizer.iterations) == 15
    assert len(history.history["accuracy"]) == 3


def test_empty_poisson_batches_apply_noise_only():
    # q = 1/40 per example: P(empty batch) = (39/40)^40 = 0.36, so about 29 of 80 steps.
    private = make_private(_mlp())
    private.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0,
                                                  learning_rate=0.1), loss=LOSS)
    x, y = _data()
    before = private.get_weights()
    history = fit_private(private, x, y, batch_size=1, epochs=2, seed=0)
    assert history.history["steps"] == [40, 80]
    after = private.get_weights()
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after))


def test_empty_batch_gradient_is_pure_noise_over_expected_batch_size():
    model = _mlp()
    x, y = _data(n=0)
    grads = dp_gradients(model, LOSS, x, y, l2_norm_clip=2.0, noise_multiplier=1.5,
                         denominator=4.0, seed=1)
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    noise = np.concatenate([g.numpy().ravel() for g in grads]) * 4.0
    assert 1.5 < noise.std() < 4.5  # about sigma * C = 3 (121 coordinates)


def test_fit_private_refuses_microbatches_with_poisson_and_uneven_shuffle():
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0,
                                                num_microbatches=5), loss=LOSS)
    x, y = _data(n=42)
    with pytest.raises(InputError, match="num_microbatches=5 cannot split Poisson batches"):
        fit_private(model, x, y, batch_size=10, epochs=1, seed=0)
    with pytest.raises(InputError, match="num_microbatches=5 must divide the last batch"):
        fit_private(model, x, y, batch_size=10, epochs=1, seed=0, sampling="shuffle")


def test_fit_private_runs_microbatches_under_shuffle():
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0,
                                                num_microbatches=5), loss=LOSS)
    x, y = _data(n=40)
    history = fit_private(model, x, y, batch_size=10, epochs=1, seed=0, sampling="shuffle")
    assert history.history["steps"] == [4]


def test_save_and_load_with_safe_mode(tmp_path):
    model, _ = _train(0)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    assert isinstance(loaded, DPModel)
    assert type(loaded.optimizer).__name__ == "DPKerasSGDOptimizer"
    assert loaded.optimizer.l2_norm_clip == 1.0
    x, y = _data()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               atol=1e-6)
    fit_private(loaded, x, y, batch_size=10, epochs=1, seed=1)  # still trains privately


def test_dp_gradients_without_noise_and_clip_equal_the_mean_gradient():
    model = _mlp()
    x, y = _data()
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x, training=True))
    expected = tape.gradient(loss, model.trainable_variables)
    grads = dp_gradients(model, LOSS, x, y, l2_norm_clip=1e6, noise_multiplier=0.0)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-6)


def test_dp_gradients_in_a_tf_function_use_the_per_step_seed():
    model = _mlp()
    x, y = _data()

    @tf.function
    def step(seed):
        return dp_gradients(model, LOSS, x, y, l2_norm_clip=1.0, noise_multiplier=1.0,
                            seed=seed)

    a = step(tf.constant([7, 0], tf.int64))
    b = step(tf.constant([7, 0], tf.int64))
    c = step(tf.constant([7, 1], tf.int64))
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    assert not np.array_equal(a[0].numpy(), c[0].numpy())


def test_epsilon_callback_prices_the_steps_fit_private_took():
    from dpaudit.dp import EpsilonCallback

    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
                                                learning_rate=0.1), loss=LOSS)
    x, y = _data()
    callback = EpsilonCallback(dataset_size=40, batch_size=10, noise_multiplier=1.1,
                               delta=1e-3, sampling="poisson")
    history = fit_private(model, x, y, batch_size=10, epochs=2, seed=0, callbacks=[callback])
    assert callback.steps == history.history["steps"] == [4, 8]
    assert history.history["epsilon"] == callback.epsilons
    assert 0 < callback.epsilons[0] < callback.epsilons[1]


def test_conv_models_survive_empty_poisson_batches():
    # TensorFlow's CPU Conv2D mis-shapes empty batches; both arms must still train.
    x, y = _data((6, 6, 1), n=30)
    private = make_private(_conv())
    private.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0,
                                                  learning_rate=0.1), loss=LOSS)
    plain = _conv()
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)
    for model in (private, plain):
        before = model.get_weights()
        history = fit_private(model, x, y, batch_size=1, epochs=1, seed=0)
        assert history.history["steps"] == [30]
        assert all(np.isfinite(w).all() for w in model.get_weights())
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert int(private.optimizer.iterations) == 30  # noise-only steps included
    assert 0 < int(plain.optimizer.iterations) < 30  # about (29/30)^30 = 36% skipped


def test_training_in_chunks_with_one_seed_samples_fresh_batches(monkeypatch):
    # The accountant assumes each step samples independently: a second fit_private call
    # with the same seed must not replay the first call's batches.
    from dpaudit.dp import sampling

    batches = []
    original = sampling.index_batches

    def recording(*args, **kwargs):
        # The stream is a pure function of its arguments: reading it here reads what
        # fit_private trains on.
        dataset = original(*args, **kwargs)
        batches.extend(idx.tolist() for idx in dataset.as_numpy_iterator())
        return dataset

    monkeypatch.setattr(sampling, "index_batches", recording)
    model = make_private(_mlp())
    model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0),
                  loss=LOSS)
    x, y = _data()
    fit_private(model, x, y, batch_size=10, epochs=1, seed=5)
    first, batches[:] = list(batches), []
    fit_private(model, x, y, batch_size=10, epochs=1, seed=5)
    assert len(first) == len(batches) == 4 and first != batches
    fresh = make_private(_mlp())
    fresh.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0),
                  loss=LOSS)
    batches[:] = []
    fit_private(fresh, x, y, batch_size=10, epochs=1, seed=5)
    assert batches == first  # same seed, same starting step: same batches
