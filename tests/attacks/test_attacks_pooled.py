"""pooled_attack: each model attacked with the others as references (Carlini et al. 2022)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dpaudit import attacks
from dpaudit.attacks import lira_attack, pooled_attack, rmia_attack
from dpaudit.attacks.lira import lira_scores
from dpaudit.attacks.rmia import rmia_scores


@pytest.fixture(autouse=True)
def _quiet_metric_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        yield


# Three models, four examples, written out by hand.
SCORES = np.array([[0.5, 2.0, -1.0, 3.0],
                   [1.5, 1.0, -0.5, 2.0],
                   [0.0, 2.5, 0.5, 4.0]])
IN = np.array([[True, False, True, False],
               [False, True, True, False],
               [True, True, False, True]])
POPULATION = np.array([[0.2, 0.6, 0.9], [0.3, 0.5, 0.8], [0.1, 0.7, 0.95]])


def test_lira_pooled_pairs_are_each_model_against_the_other_two():
    result = pooled_attack(lira_attack, SCORES, IN, online=False, global_variance=True)
    expected = np.concatenate([
        # model 0 is the target; models 1 and 2 are its references
        lira_scores([0.5, 2.0, -1.0, 3.0], [[1.5, 1.0, -0.5, 2.0], [0.0, 2.5, 0.5, 4.0]],
                    [[False, True, True, False], [True, True, False, True]],
                    online=False, global_variance=True)[0],
        # model 1 against models 0 and 2
        lira_scores([1.5, 1.0, -0.5, 2.0], [[0.5, 2.0, -1.0, 3.0], [0.0, 2.5, 0.5, 4.0]],
                    [[True, False, True, False], [True, True, False, True]],
                    online=False, global_variance=True)[0],
        # model 2 against models 0 and 1
        lira_scores([0.0, 2.5, 0.5, 4.0], [[0.5, 2.0, -1.0, 3.0], [1.5, 1.0, -0.5, 2.0]],
                    [[True, False, True, False], [False, True, True, False]],
                    online=False, global_variance=True)[0],
    ])
    # Pooled statistics come from running totals: equal up to rounding.
    np.testing.assert_allclose(result.scores, expected, rtol=1e-10, atol=1e-12)
    assert result.is_member.tolist() == [True, False, True, False, False, True, True, False,
                                         True, True, False, True]
    assert result.name == "lira_offline_pooled"
    assert result.details["n_models"] == 3 and result.details["n_examples"] == 4
    assert result.metrics.n_members == 7 and result.metrics.n_nonmembers == 5


def test_rmia_pooled_uses_each_models_population_scores_as_its_target_row():
    probs = 1 / (1 + np.exp(-SCORES))
    result = pooled_attack(rmia_attack, probs, IN, population_scores=POPULATION,
                           offline_a=0.4)
    middle = rmia_scores(probs[1], probs[[0, 2]], IN[[0, 2]], population_target=POPULATION[1],
                         population_reference=POPULATION[[0, 2]], offline_a=0.4)[0]
    np.testing.assert_array_equal(result.scores[4:8], middle)
    assert result.name == "rmia_pooled"
    # With a chosen per target among its own references (never from its own flags).
    chosen = pooled_attack(rmia_attack, probs, IN, population_scores=POPULATION)
    last, _ = rmia_scores(probs[2], probs[[0, 1]], IN[[0, 1]],
                          population_target=POPULATION[2],
                          population_reference=POPULATION[[0, 1]])
    np.testing.assert_array_equal(chosen.scores[8:], last)
    assert chosen.details["attack_details"]["a_source"].startswith("chosen")
    with pytest.raises(ValueError, match="needs population_scores"):
        pooled_attack(rmia_attack, probs, IN)


def test_any_attack_with_the_same_call_shape_pools_the_same_way():
    def wrapped(*args, **kwargs):
        return lira_attack(*args, **kwargs)

    direct = pooled_attack(lira_attack, SCORES, IN, online=False, seed=3)
    generic = pooled_attack(wrapped, SCORES, IN, online=False, seed=3)
    np.testing.assert_allclose(generic.scores, direct.scores, rtol=1e-10, atol=1e-12)
    assert generic.name == direct.name == "lira_offline_pooled"
    assert generic.metrics.auc == pytest.approx(direct.metrics.auc, abs=1e-12)


def test_pooling_resolves_low_fpr_that_one_model_cannot():
    rng = np.random.default_rng(0)
    models, n = 16, 800
    level = rng.normal(0, 3, n)
    trained = rng.random((models, n)) < 0.5
    phi = level + 1.5 * trained + rng.normal(size=(models, n))
    single = lira_attack(phi[0], phi[1:], trained[1:], trained[0], global_variance=True)
    pooled = pooled_attack(lira_attack, phi, trained, global_variance=True)
    assert np.isnan(single.metrics.tpr_at_fpr[0.01])  # ~400 non-members: unresolvable
    assert not np.isnan(pooled.metrics.tpr_at_fpr[0.01])  # ~6400 non-members
    np.testing.assert_allclose(pooled.scores[:n], single.scores, rtol=1e-10, atol=1e-12)
    assert len(pooled.details["per_model_auc"]) == models
    assert pooled.details["per_model_auc"][0] == pytest.approx(single.metrics.auc, abs=1e-12)


@pytest.mark.parametrize("scores, flags, message", [
    (SCORES[:1], IN[:1], "at least 2 models"),
    (SCORES, IN[:, :3], "must have the shape of model_scores"),
    (SCORES[0], IN[0], r"shape \(models, examples\)"),
])
def test_pooled_attack_rejects_bad_shapes(scores, flags, message):
    with pytest.raises(ValueError, match=message):
        pooled_attack(lira_attack, scores, flags)


@pytest.mark.parametrize("kwargs", [{"online": True}, {"online": False},
                                    {"online": True, "global_variance": True}])
def test_pooled_lira_equals_calling_lira_on_each_model(kwargs):
    rng = np.random.default_rng(1)
    models, n = 6, 50
    trained = rng.random((models, n)) < 0.5
    phi = 30 + rng.normal(0, 3, n) + trained + rng.normal(size=(models, n))  # big means
    pooled = pooled_attack(lira_attack, phi, trained, **kwargs)
    for j in range(models):
        others = np.arange(models) != j
        direct, details = lira_scores(phi[j], phi[others], trained[others], **kwargs)
        np.testing.assert_allclose(pooled.scores[j * n:(j + 1) * n], direct, rtol=1e-9)
    assert details["n_global_variance_fallback"] > 0 or kwargs.get("global_variance")


@pytest.mark.parametrize("kwargs", [{"online": True}, {}, {"offline_a": 0.3}])
def test_pooled_rmia_equals_calling_rmia_on_each_model(kwargs):
    rng = np.random.default_rng(2)
    models, n, m = 5, 60, 40
    trained = rng.random((models, n)) < 0.5
    probs = rng.uniform(0.05, 1, (models, n)) ** (1 - 0.5 * trained)
    population = rng.uniform(0.05, 1, (models, m))
    pooled = pooled_attack(rmia_attack, probs, trained, population_scores=population,
                           **kwargs)
    for j in range(models):
        others = np.arange(models) != j
        direct, _ = rmia_scores(probs[j], probs[others], trained[others],
                                population_target=population[j],
                                population_reference=population[others], **kwargs)
        np.testing.assert_array_equal(pooled.scores[j * n:(j + 1) * n], direct)
