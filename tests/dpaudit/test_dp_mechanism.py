"""The Gaussian mechanism and the sampling, checked statistically and exactly.

Statistical tests use a fixed seed, so they are deterministic; the false-failure rate
written next to each tolerance is the probability, over the choice of seed, that a
correct implementation fails it.
"""

import numpy as np
import pytest
from scipy import stats

import keras
import tensorflow as tf

from dpaudit.dp import DPKerasSGDOptimizer, dp_gradients, make_private, mechanism
from dpaudit.dp.sampling import poisson_batches, shuffle_batches

LOSS = "sparse_categorical_crossentropy"
CLIP, SIGMA = 0.7, 1.3


def _model(seed=0):
    inputs = keras.Input((40,))
    init = keras.initializers.GlorotUniform(seed=seed)
    return keras.Model(inputs, keras.layers.Dense(50, activation="softmax",
                                                  kernel_initializer=init)(inputs))


def _data(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 40)).astype("float32"), rng.integers(0, 50, n)


def _flat(grads):
    return np.concatenate([g.numpy().ravel() for g in grads]).astype(np.float64)


def _noise_samples(model, x, y, *, seeds, denominator=1.0, num_microbatches=None):
    """Noised minus noise-free gradient (same batch), over several seeds."""
    clean = _flat(dp_gradients(model, LOSS, x, y, l2_norm_clip=CLIP, noise_multiplier=0.0,
                               denominator=denominator, num_microbatches=num_microbatches))
    return np.concatenate([
        _flat(dp_gradients(model, LOSS, x, y, l2_norm_clip=CLIP, noise_multiplier=SIGMA,
                           denominator=denominator, num_microbatches=num_microbatches,
                           seed=s)) - clean
        for s in seeds])


def _std_test_passes(samples, expected_std, alpha=1e-6):
    """Two-sided chi-square test of the variance and z-test of the mean, each at `alpha`."""
    n = len(samples)
    statistic = (n - 1) * samples.var(ddof=1) / expected_std ** 2
    lo, hi = stats.chi2.ppf([alpha / 2, 1 - alpha / 2], n - 1)
    mean_z = abs(samples.mean()) / (expected_std / np.sqrt(n))
    return lo < statistic < hi and mean_z < stats.norm.ppf(1 - alpha / 2)


def test_noise_std_is_noise_multiplier_times_clip():
    # 2,050 coordinates x 10 seeds = 20,500 samples of N(0, (sigma*C)^2).
    # False-failure rate: at most 2e-6 (two tests at 1e-6 each).
    model, (x, y) = _model(), _data()
    samples = _noise_samples(model, x, y, seeds=range(10))
    assert _std_test_passes(samples, SIGMA * CLIP)


def test_std_test_detects_noise_not_scaled_by_clip(monkeypatch):
    # Power check: the planted bug (std sigma instead of sigma*C, 1.43x too large) must fail.
    monkeypatch.setattr(mechanism, "noise_stddev", lambda clip, sigma: sigma)
    model, (x, y) = _model(), _data()
    assert not _std_test_passes(_noise_samples(model, x, y, seeds=range(10)), SIGMA * CLIP)


def test_noise_is_divided_by_the_denominator_once():
    model, (x, y) = _model(), _data()
    per_sum = _noise_samples(model, x, y, seeds=[5], denominator=1.0)
    per_batch = _noise_samples(model, x, y, seeds=[5], denominator=8.0)
    np.testing.assert_allclose(per_batch * 8.0, per_sum, rtol=1e-4, atol=1e-6)


def test_microbatch_noise_is_sigma_clip_on_the_sum_divided_by_num_microbatches():
    # TF Privacy: N(0, (sigma*C)^2) on the sum of the m clipped microbatch means, then / m.
    model, (x, y) = _model(), _data()
    default = _noise_samples(model, x, y, seeds=[2], denominator=None, num_microbatches=4)
    on_sum = _noise_samples(model, x, y, seeds=[2], denominator=1.0, num_microbatches=4)
    np.testing.assert_allclose(default * 4.0, on_sum, rtol=1e-4, atol=1e-6)
    # False-failure rate: at most 2e-6.
    assert _std_test_passes(on_sum, SIGMA * CLIP)


def test_microbatch_gradient_equals_naive_mean_of_clipped_microbatch_means():
    model, (x, y) = _model(), _data(n=6)
    m, k = 3, 2
    loss = keras.losses.SparseCategoricalCrossentropy()
    clipped = []
    for j in range(m):
        with tf.GradientTape() as tape:
            mean = loss(y[j * k:(j + 1) * k], model(x[j * k:(j + 1) * k]))
        g = _flat(tape.gradient(mean, model.trainable_variables))
        clipped.append(g * min(1.0, 0.05 / np.linalg.norm(g)))
    expected = np.sum(clipped, axis=0) / m
    got = _flat(dp_gradients(model, LOSS, x, y, l2_norm_clip=0.05, noise_multiplier=0.0,
                             num_microbatches=m))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_same_seed_same_noise_different_seed_different_noise():
    model, (x, y) = _model(), _data()
    kwargs = dict(l2_norm_clip=CLIP, noise_multiplier=SIGMA)
    a = _flat(dp_gradients(model, LOSS, x, y, seed=11, **kwargs))
    b = _flat(dp_gradients(model, LOSS, x, y, seed=11, **kwargs))
    c = _flat(dp_gradients(model, LOSS, x, y, seed=12, **kwargs))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_poisson_batch_sizes_have_binomial_mean_and_variance():
    n, b, steps = 1000, 100, 4000
    q = b / n
    batches = list(poisson_batches(n, b, steps, np.random.default_rng(0)))
    sizes = np.array([len(i) for i in batches])
    var = n * q * (1 - q)  # 90
    # Mean: 5.3 standard errors (normal approximation), false-failure rate 1.2e-7.
    assert abs(sizes.mean() - b) < 5.3 * np.sqrt(var / steps)
    # Variance: SE of a sample variance ~ var * sqrt(2 / (steps - 1)) (binomial(1000, 0.1)
    # is near normal: excess kurtosis 0.005); 5.3 SE, false-failure rate 1.2e-7.
    assert abs(sizes.var(ddof=1) - var) < 5.3 * var * np.sqrt(2 / (steps - 1))
    # Each example joins each step independently with probability q: counts are
    # Binomial(4000, 0.1); 6 SD per example, false-failure rate < 2e-6 over all 1000.
    counts = np.bincount(np.concatenate(batches), minlength=n)
    assert np.all(np.abs(counts - steps * q) < 6 * np.sqrt(steps * q * (1 - q)))
    assert all(len(np.unique(i)) == len(i) for i in batches)  # no repeats in a batch


def test_poisson_batches_can_be_empty():
    sizes = [len(i) for i in poisson_batches(40, 1, 200, np.random.default_rng(0))]
    assert min(sizes) == 0 and max(sizes) >= 2


def test_shuffle_batches_cover_every_example_once_per_epoch():
    batches = list(shuffle_batches(45, 10, np.random.default_rng(0)))
    assert [len(i) for i in batches] == [10, 10, 10, 10, 5]
    assert sorted(np.concatenate(batches).tolist()) == list(range(45))


def test_train_step_looks_up_the_mechanism_hooks_when_traced(monkeypatch):
    # What the canary audit relies on to plant bugs: a patched hook changes training.
    def trained():
        model = make_private(_model())
        model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1e-3, noise_multiplier=0.0,
                                                    learning_rate=0.1), loss=LOSS)
        x, y = _data(n=16)
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        return _flat(model.trainable_variables)

    plain = _model()
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss=LOSS)
    plain.fit(*_data(n=16), batch_size=8, epochs=1, shuffle=False, verbose=0)
    clipped = trained()
    monkeypatch.setattr(mechanism, "clip_factors", lambda norms, clip: tf.ones_like(norms))
    unclipped = trained()
    np.testing.assert_allclose(unclipped, _flat(plain.trainable_variables), atol=1e-6)
    assert not np.allclose(clipped, unclipped, atol=1e-4)


@pytest.mark.parametrize("norm,clip,expected", [(0.0, 1.0, 1.0), (0.5, 1.0, 1.0),
                                                (4.0, 1.0, 0.25)])
def test_clip_factors(norm, clip, expected):
    got = mechanism.clip_factors(tf.constant([norm]), clip).numpy()[0]
    assert got == pytest.approx(expected)
