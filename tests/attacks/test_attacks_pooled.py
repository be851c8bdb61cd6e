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
    np.testing.assert_array_equal(result.scores, expected)
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
    with pytest.raises(ValueError, match="needs population_scores"):
        pooled_attack(rmia_attack, probs, IN)


def test_any_attack_with_the_same_call_shape_pools_the_same_way():
    def wrapped(*args, **kwargs):
        return lira_attack(*args, **kwargs)

    direct = pooled_attack(lira_attack, SCORES, IN, online=False, seed=3)
    generic = pooled_attack(wrapped, SCORES, IN, online=False, seed=3)
    np.testing.assert_array_equal(generic.scores, direct.scores)
    assert generic.name == direct.name == "lira_offline_pooled"
    assert generic.metrics.auc == direct.metrics.auc


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
    assert pooled.scores[:n].tolist() == single.scores.tolist()
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
