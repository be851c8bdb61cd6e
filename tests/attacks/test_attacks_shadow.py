"""Tests of the shadow-model attack, with scikit-learn models trained through the callable."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from dpaudit import attacks
from dpaudit.attacks import shadow_attack

CLASSES = 3
N_TARGET = 500  # members, and as many non-members


@pytest.fixture(autouse=True)
def _quiet_metric_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        yield


def _probs(model, x):
    """predict_proba over all CLASSES, also when a training half lacked a class."""
    out = np.zeros((len(x), CLASSES))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def _recipe(factory):
    def train_and_score(x_train, y_train, x_eval, seed):
        return _probs(factory(seed).fit(x_train, y_train), x_eval)
    return train_and_score


def _overfit(seed):
    # Unpruned trees on noisy labels memorise the training set.
    return RandomForestClassifier(n_estimators=30, random_state=seed)


def _regularised(seed):
    # So strongly regularised that it barely moves away from the class priors.
    return LogisticRegression(C=1e-3)


def _data(seed, weights=None):
    """Small noisy task: 20% of labels redrawn at random, so memorising them leaks."""
    x, y = make_classification(n_samples=2 * N_TARGET + 1200, n_features=20,
                               n_informative=6, n_classes=CLASSES, flip_y=0.2,
                               weights=weights, random_state=seed)
    return x, y


def _attack(factory, seed, **kwargs):
    x, y = _data(seed, kwargs.pop("weights", None))
    target = factory(seed).fit(x[:N_TARGET], y[:N_TARGET])
    is_member = np.arange(2 * N_TARGET) < N_TARGET
    return shadow_attack(_probs(target, x[:2 * N_TARGET]), y[:2 * N_TARGET], is_member,
                         shadow_x=x[2 * N_TARGET:], shadow_y=y[2 * N_TARGET:],
                         train_and_score=_recipe(factory), seed=seed, **kwargs)


def test_shadow_attack_beats_chance_on_an_overfit_model():
    result = _attack(_overfit, seed=0)
    # Measured: AUC 0.946, 0.913, 0.922, 0.943, 0.918 for seeds 0-4 (per-class: 0.903-
    # 0.948). The 95% interval is about +-0.02, so > 0.7 sits > 10 SE below: negligible
    # false-failure rate for a working attack.
    assert result.metrics.auc > 0.7
    assert result.metrics.auc_ci[0] > 0.6
    assert result.name == "shadow"
    assert result.details["n_shadow"] == 4 and result.details["shadow_pool_size"] == 1200


def test_shadow_attack_is_near_chance_on_a_model_that_does_not_memorise():
    result = _attack(_regularised, seed=0)
    # Measured: AUC 0.494, 0.521, 0.528, 0.522, 0.505 for seeds 0-4. With 500 + 500
    # targets the null SE of the AUC is 0.018, so +-0.07 is 3.8 SE: false-failure rate
    # ~1e-4 if the model leaks nothing (it leaks a little; the values stay well inside).
    assert abs(result.metrics.auc - 0.5) < 0.07


def test_per_class_attack_falls_back_for_rare_classes():
    # Class 2 gets ~8% of the labels (2% + its share of the random ones): ~100 rows of
    # the 1200-row pool, ~50 "in" for one shadow model, under the 100 needed.
    result = _attack(_overfit, seed=1, per_class=True, n_shadow=1,
                     weights=[0.6, 0.38, 0.02])
    assert result.details["per_class"] is True
    assert result.details["classes_with_own_model"] == [0, 1]
    assert np.bincount(_data(1, [0.6, 0.38, 0.02])[1][2 * N_TARGET:])[2] < 200
    assert result.metrics.auc > 0.7


def test_same_seed_same_scores_other_seed_other_scores():
    a = _attack(_regularised, seed=3, n_shadow=2)
    b = _attack(_regularised, seed=3, n_shadow=2)
    np.testing.assert_array_equal(a.scores, b.scores)
    x, y = _data(3)
    target = _regularised(3).fit(x[:N_TARGET], y[:N_TARGET])
    c = shadow_attack(_probs(target, x[:2 * N_TARGET]), y[:2 * N_TARGET],
                      np.arange(2 * N_TARGET) < N_TARGET, shadow_x=x[2 * N_TARGET:],
                      shadow_y=y[2 * N_TARGET:], train_and_score=_recipe(_regularised),
                      seed=4, n_shadow=2)
    assert not np.array_equal(a.scores, c.scores)


def test_train_and_score_gets_random_halves_and_scores_the_whole_pool():
    rng = np.random.default_rng(0)
    pool_x = np.arange(100, dtype=float)[:, None]  # each row is its own id
    pool_y = np.eye(2)[rng.integers(0, 2, 100)]    # one-hot passes through unchanged
    calls = []

    def recording(x_train, y_train, x_eval, seed):
        calls.append((x_train[:, 0].copy(), y_train.copy(), x_eval[:, 0].copy(), seed))
        return np.full((len(x_eval), 2), 0.5)

    shadow_attack(np.full((10, 2), 0.5), np.zeros(10, int), np.arange(10) < 5,
                  shadow_x=pool_x, shadow_y=pool_y, train_and_score=recording,
                  n_shadow=3, seed=0)
    assert len(calls) == 3
    trained_sets = []
    for x_train, y_train, x_eval, seed in calls:
        assert len(x_train) == 50 and y_train.shape == (50, 2)
        np.testing.assert_array_equal(y_train, pool_y[x_train.astype(int)])
        assert sorted(x_eval) == list(range(100))
        assert isinstance(seed, int)
        trained_sets.append(frozenset(x_train))
    assert len(set(trained_sets)) == 3             # a fresh half per shadow model
    assert len({seed for *_, seed in calls}) == 3  # and its own seed


def _small_call(**overrides):
    kwargs = dict(shadow_x=np.zeros((8, 1)), shadow_y=np.zeros(8, int),
                  train_and_score=lambda xt, yt, xe, s: np.full((len(xe), 2), 0.5))
    kwargs.update(overrides)
    args = overrides.pop("args", None) or (np.full((4, 2), 0.5), [0, 1, 0, 1], [1, 1, 0, 0])
    kwargs.pop("args", None)
    return lambda: shadow_attack(*args, **kwargs)


@pytest.mark.parametrize("call, error, message", [
    (_small_call(train_and_score=lambda xt, yt, xe, s: np.full((3, 2), 0.5)), ValueError,
     r"train_and_score output for shadow model 0 must have shape \(8, 2\)"),
    (_small_call(train_and_score=lambda xt, yt, xe, s: np.full((len(xe), 2), 3.0)),
     ValueError, r"train_and_score output for shadow model 0 rows must sum to 1"),
    (_small_call(train_and_score="not a function"), TypeError,
     "train_and_score must be callable"),
    (_small_call(shadow_x=np.zeros((3, 1)), shadow_y=np.zeros(3, int)), ValueError,
     "shadow_x must hold at least 4 examples"),
    (_small_call(shadow_y=np.zeros(7, int)), ValueError,
     "shadow_x and shadow_y must have the same length"),
    (_small_call(shadow_y=np.full(8, 5)), ValueError, r"shadow_y must be integers in \[0, 2\)"),
    (_small_call(n_shadow=0), ValueError, "n_shadow must be >= 1"),
    (_small_call(per_class="yes"), TypeError, "per_class must be True or False"),
    (_small_call(args=(np.full((4, 2), 0.5), [0, 1, 0], [1, 1, 0, 0])), ValueError,
     "target_probs, target_labels and is_member must have the same length"),
])
def test_shadow_attack_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
