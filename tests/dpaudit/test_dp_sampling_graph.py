"""In-graph batch sampling (`dpaudit.dp.sampling.index_batches`): distribution, seeds, edges.

The statistical tests use fixed keys and tolerances from the standard error; the
false-failure rate of each is stated next to its assert.
"""

import numpy as np
import tensorflow as tf

from dpaudit.dp.sampling import fit_seeds, index_batches

KEY = (1234, 5678)


def _batches(n, b, epochs, sampling="poisson", key=KEY, start_step=0):
    dataset = index_batches(n, b, epochs, sampling=sampling, key=key, start_step=start_step)
    return [idx for idx in dataset.as_numpy_iterator()]


def _memberships(batches, n):
    m = np.zeros((len(batches), n), dtype=bool)
    for t, idx in enumerate(batches):
        m[t, idx] = True
    return m


def test_poisson_memberships_are_bernoulli_q_and_independent():
    n, b, epochs = 500, 50, 200  # 10 steps per epoch: 2000 steps
    q = b / n
    batches = _batches(n, b, epochs)
    steps = len(batches)
    assert steps == 2000
    assert all(idx.dtype == np.int64 and len(np.unique(idx)) == len(idx) for idx in batches)
    m = _memberships(batches, n)
    sizes = m.sum(axis=1)
    var = n * q * (1 - q)  # 45
    # Batch size ~ Binomial(500, 0.1): mean within 5.3 SE, false-failure rate 1.2e-7.
    assert abs(sizes.mean() - b) < 5.3 * np.sqrt(var / steps)
    # Sample variance SE ~ var * sqrt(2 / (steps - 1)); 5.3 SE, false-failure rate 1.2e-7.
    assert abs(sizes.var(ddof=1) - var) < 5.3 * var * np.sqrt(2 / (steps - 1))
    # Per example, Binomial(2000, 0.1) joins; 6 SD each, false-failure rate < 1e-6 over 500.
    counts = m.sum(axis=0)
    assert np.all(np.abs(counts - steps * q) < 6 * np.sqrt(steps * q * (1 - q)))
    # Across steps: an example in step t is in step t+1 with probability q (not more,
    # not less). Pair count C = sum_i,t m[t,i] m[t+1,i] has mean n (T-1) q^2 and, with
    # overlapping pairs, variance n [(T-1) q^2 (1-q^2) + 2 (T-2) (q^3 - q^4)];
    # 5.3 SD, false-failure rate 1.2e-7.
    pairs = np.sum(m[1:] & m[:-1])
    mean = n * (steps - 1) * q**2
    sd = np.sqrt(n * ((steps - 1) * q**2 * (1 - q**2) + 2 * (steps - 2) * (q**3 - q**4)))
    assert abs(pairs - mean) < 5.3 * sd
    # Across examples within a step: consecutive batch sizes uncorrelated; the sample
    # correlation of 1999 independent pairs has SE ~ 1/sqrt(1999); 5.3 SE, 1.2e-7.
    r = np.corrcoef(sizes[1:], sizes[:-1])[0, 1]
    assert abs(r) < 5.3 / np.sqrt(steps - 1)


def test_poisson_matches_the_numpy_reference_in_distribution():
    # The numpy reference (`poisson_batches`) and the graph draw the same law: their
    # mean batch sizes differ by less than 5.3 SE of the difference (1.2e-7).
    from dpaudit.dp.sampling import poisson_batches

    n, b, steps = 300, 30, 1500
    graph = [len(i) for i in _batches(n, b, steps // 10)]
    ref = [len(i) for i in poisson_batches(n, b, steps, np.random.default_rng(0))]
    se = np.sqrt(2 * n * 0.1 * 0.9 / steps)
    assert abs(np.mean(graph) - np.mean(ref)) < 5.3 * se


def test_same_key_same_batches_other_key_or_start_other_batches():
    a = _batches(100, 10, 2)
    b = _batches(100, 10, 2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and len(a) == len(b) == 20
    other = _batches(100, 10, 2, key=(1234, 5679))
    assert any(not np.array_equal(x, y) for x, y in zip(a, other))
    # A later chunk continues the stream: steps 10.. of one call are steps 0.. of the next.
    later = _batches(100, 10, 1, start_step=10)
    assert all(np.array_equal(x, y) for x, y in zip(a[10:], later))


def test_poisson_batches_can_be_empty():
    sizes = [len(i) for i in _batches(40, 1, 5)]  # q = 1/40: P(empty) = 0.36 per step
    assert len(sizes) == 200 and min(sizes) == 0 and max(sizes) >= 2


def test_shuffle_covers_every_example_once_per_epoch_with_fresh_orders():
    batches = _batches(45, 10, 2, sampling="shuffle")
    assert [len(i) for i in batches] == [10, 10, 10, 10, 5] * 2
    first, second = np.concatenate(batches[:5]), np.concatenate(batches[5:])
    assert sorted(first.tolist()) == sorted(second.tolist()) == list(range(45))
    assert first.tolist() != second.tolist()


def test_seeds_are_deterministic_and_none_is_fresh():
    assert fit_seeds(7) == fit_seeds(7)
    assert fit_seeds(7)[0] != fit_seeds(8)[0]
    key, noise = fit_seeds(None)
    assert noise is None and key != fit_seeds(None)[0]


def test_pipeline_gathers_the_examples_of_each_batch():
    from dpaudit.dp import sampling

    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    idx = next(iter(sampling.index_batches(10, 3, 1, sampling="shuffle", key=KEY)))
    np.testing.assert_array_equal(tf.gather(tf.constant(x), idx).numpy(), x[idx.numpy()])


def test_poisson_drawn_over_several_gap_chunks_is_still_bernoulli_q():
    # Chunks of 3 gaps force the loop that draws more gaps until position N - 1 is
    # passed (normally one chunk suffices).
    from dpaudit.dp.sampling import _bernoulli_members

    n, b, steps = 200, 50, 400
    q = b / n
    draw = tf.function(lambda t: _bernoulli_members(n, b, tf.stack([tf.constant(9, tf.int64), t]),
                                                    chunk=3))
    m = np.zeros((steps, n), dtype=bool)
    for t in range(steps):
        idx = draw(tf.constant(t, tf.int64)).numpy()
        assert np.all(np.diff(idx) > 0) and idx.min(initial=0) >= 0 and idx.max(initial=0) < n
        m[t, idx] = True
    sizes = m.sum(axis=1)
    # Mean size within 5.3 SE (false-failure rate 1.2e-7).
    assert abs(sizes.mean() - b) < 5.3 * np.sqrt(n * q * (1 - q) / steps)
    # Per example Binomial(400, 0.25); 6 SD each, false-failure rate < 4e-7 over 200.
    counts = m.sum(axis=0)
    assert np.all(np.abs(counts - steps * q) < 6 * np.sqrt(steps * q * (1 - q)))


def test_poisson_with_batch_size_n_takes_everyone():
    assert all(len(i) == 7 for i in _batches(7, 7, 2))
