"""Stacked training (`dpaudit.training.stacked`) against the single-model path and a naive loop."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from dpaudit import dp  # noqa: E402
from dpaudit.dp import mechanism  # noqa: E402
from dpaudit.errors import InputError  # noqa: E402
from dpaudit.training.models import build_model, dense_initial_weights  # noqa: E402
from dpaudit.training.stacked import (StackSettings, stack_unsupported,  # noqa: E402
                                      stacked_log_proba, train_stacked)


def _data(n=120, d=12, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = rng.integers(0, classes, size=n).astype(np.int64)
    return x, y


def _mlp(seed, d=12, classes=4, hidden=(16,)):
    return build_model("mlp", input_shape=(d,), num_classes=classes, seed=seed, hidden=hidden)


@pytest.mark.parametrize("private,optimizer,sampling", [
    (False, "adam", "poisson"), (True, "adam", "poisson"), (True, "sgd", "shuffle"),
    (False, "adagrad", "shuffle")])
def test_stack_of_one_equals_fit_private(private, optimizer, sampling):
    x, y = _data()
    mask = np.arange(len(x)) % 3 != 0
    model = _mlp(5)
    initial = model.get_weights()
    settings = StackSettings(optimizer=optimizer, learning_rate=0.05, epochs=2, batch_size=16,
                             sampling=sampling, private=private, l2_norm_clip=0.5,
                             noise_multiplier=0.8 if private else 0.0)
    stacked = train_stacked([initial], x, y, mask[None], seeds=[77], settings=settings)

    plain = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD,
             "adagrad": keras.optimizers.Adagrad}
    private_opts = {"adam": dp.DPKerasAdamOptimizer, "sgd": dp.DPKerasSGDOptimizer,
                    "adagrad": dp.DPKerasAdagradOptimizer}
    if private:
        opt = private_opts[optimizer](l2_norm_clip=0.5, noise_multiplier=0.8, learning_rate=0.05)
        fit = dp.make_private(model)
    else:
        opt, fit = plain[optimizer](learning_rate=0.05), model
    fit.compile(optimizer=opt, loss=keras.losses.SparseCategoricalCrossentropy())
    history = dp.fit_private(fit, x[mask], y[mask], batch_size=16, epochs=2, sampling=sampling,
                             seed=77)
    assert stacked.steps[0] == history.history["steps"]
    moved = max(np.abs(a - b).max() for a, b in zip(model.get_weights(), initial))
    assert moved > 1e-2  # training did something, so agreement below means something
    for mine, theirs in zip(stacked.weights[0], model.get_weights()):
        # float32 arithmetic in a different order: ~1e-7 relative per step.
        np.testing.assert_allclose(mine, theirs, atol=2e-5)


def _one_sgd_step(weights, x, y, masks, seeds, **kw):
    batch = int(masks.sum(axis=1).min())
    assert (masks.sum(axis=1) == batch).all()  # one full batch per model
    settings = StackSettings(optimizer="sgd", learning_rate=1.0, epochs=1, batch_size=batch,
                             sampling="shuffle", private=True, **kw)
    result = train_stacked(weights, x, y, masks, seeds=seeds, settings=settings)
    # One full-batch SGD step with lr 1: update = -(clipped sum + noise) / batch.
    return [[b - a for a, b in zip(after, before)]
            for after, before in zip(result.weights, weights)]


def test_clipped_sums_match_a_naive_per_example_loop():
    x, y = _data(n=10)
    models = [_mlp(1), _mlp(2)]
    weights = [m.get_weights() for m in models]
    masks = np.zeros((2, len(x)), bool)
    masks[0, :6] = True
    masks[1, 4:] = True
    clip = 0.3
    updates = _one_sgd_step(weights, x, y, masks, [1, 2], l2_norm_clip=clip,
                            noise_multiplier=0.0)
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    for k, model in enumerate(models):
        rows = np.flatnonzero(masks[k])
        total = [np.zeros_like(w) for w in model.get_weights()]
        for i in rows:  # naive: each example's gradient by its own tape, clipped alone
            with tf.GradientTape() as tape:
                loss = loss_fn(y[i:i + 1], model(x[i:i + 1]))
            grads = [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]
            norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in grads))
            total = [t + g * min(1.0, clip / norm) for t, g in zip(total, grads)]
        expected = [t / len(rows) for t in total]  # shuffle: divided by the actual batch
        for got, want in zip(updates[k], expected):
            np.testing.assert_allclose(got, want, atol=1e-6, rtol=1e-4)
        # Per-model clipping: the clipped sum's norm is at most batch * C.
        sum_norm = np.sqrt(sum(np.sum((u * len(rows)) ** 2) for u in updates[k]))
        assert sum_norm <= len(rows) * clip * (1 + 1e-5)


def test_each_model_draws_its_own_noise_of_the_calibrated_size():
    x, y = _data(n=8)
    weights = [_mlp(3).get_weights()] * 2
    masks = np.ones((2, len(x)), bool)
    sigma, clip = 1000.0, 1.0
    updates = _one_sgd_step(weights, x, y, masks, [10, 11], l2_norm_clip=clip,
                            noise_multiplier=sigma)
    noise = [np.concatenate([u.ravel() for u in model]) * len(x) for model in updates]
    n = noise[0].size
    # Data part <= batch * C = 8, i.e. < 1% of the noise's std: negligible here.
    for z in noise:
        ratio = z.std() / (sigma * clip)
        # std estimate's standard error ~ 1 / sqrt(2n); 5 SE: false failure < 1e-6.
        assert abs(ratio - 1) < 5 / np.sqrt(2 * n)
    r = np.corrcoef(noise[0], noise[1])[0, 1]
    # Independent noise: |r| < 5 / sqrt(n) fails with probability < 1e-6.
    assert abs(r) < 5 / np.sqrt(n)


def test_planted_bug_in_the_mechanism_reaches_the_stack(monkeypatch):
    """Noise not scaled by C (a classic DP bug) must change what the stack adds."""
    x, y = _data(n=8)
    weights = [_mlp(3).get_weights()]
    masks = np.ones((1, len(x)), bool)
    kw = {"l2_norm_clip": 0.01, "noise_multiplier": 100.0}
    honest = _one_sgd_step(weights, x, y, masks, [4], **kw)
    monkeypatch.setattr(mechanism, "noise_stddev", lambda clip, sigma: sigma)
    buggy = _one_sgd_step(weights, x, y, masks, [4], **kw)
    ratio = np.std(buggy[0][0]) / np.std(honest[0][0])
    assert ratio == pytest.approx(1 / kw["l2_norm_clip"], rel=0.05)


def test_stacked_log_proba_matches_keras():
    x, _ = _data(n=20)
    models = [_mlp(s, hidden=(8, 8)) for s in (1, 2)]
    got = stacked_log_proba([m.get_weights() for m in models], x)
    for k, model in enumerate(models):
        want = np.log(np.asarray(model(x), np.float64))
        np.testing.assert_allclose(got[k], want, atol=1e-5)


def test_logreg_stacks_and_cnn_falls_back():
    assert stack_unsupported("logreg") is None
    assert "Dense" in stack_unsupported("cnn")
    assert "trainer" in stack_unsupported("mlp", trainer=object())
    assert "microbatch" in stack_unsupported("mlp", num_microbatches=5, batch_size=10,
                                             sampling="shuffle")
    x, y = _data(n=40)
    model = build_model("logreg", input_shape=(12,), num_classes=4, seed=0)
    result = train_stacked([model.get_weights()] * 3, x, y, np.ones((3, 40), bool),
                           seeds=[1, 2, 3], settings=StackSettings(epochs=1, batch_size=8))
    assert len(result.weights) == 3 and result.weights[0][0].shape == (12, 4)


def test_bad_shapes_are_input_errors():
    x, y = _data(n=20)
    with pytest.raises(InputError, match="masks must have shape"):
        train_stacked([_mlp(0).get_weights()], x, y, np.ones((2, 20), bool), seeds=[1],
                      settings=StackSettings())
    with pytest.raises(InputError, match="fewer than batch_size"):
        train_stacked([_mlp(0).get_weights()], x, y, np.ones((1, 20), bool), seeds=[1],
                      settings=StackSettings(batch_size=25))


@pytest.mark.parametrize("name,options", [("mlp", {"hidden": (16, 8)}), ("logreg", {})])
def test_dense_initial_weights_equal_the_built_models(name, options):
    built = build_model(name, input_shape=(4, 3), num_classes=5, seed=9, **options)
    weights = dense_initial_weights(name, input_shape=(4, 3), num_classes=5, seed=9, **options)
    assert len(weights) == len(built.get_weights())
    for mine, theirs in zip(weights, built.get_weights()):
        np.testing.assert_array_equal(mine, theirs)


def test_training_traces_once_and_advances_per_epoch(monkeypatch):
    from dpaudit.training import _stacked_step

    made = []
    original = _stacked_step.make_train
    monkeypatch.setattr(_stacked_step, "make_train",
                        lambda *a, **kw: made.append(original(*a, **kw)) or made[-1])
    x, y = _data(n=60)
    ticks = []
    train_stacked([_mlp(s).get_weights() for s in (1, 2)], x, y,
                  np.random.default_rng(0).random((2, 60)) < 0.6, seeds=[1, 2],
                  settings=StackSettings(epochs=3, batch_size=10), advance=ticks.append)
    assert ticks == [1, 1, 1]
    assert made[0].experimental_get_tracing_count() == 1  # one trace for every epoch
