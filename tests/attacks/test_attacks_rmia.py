"""RMIA (Zarifzadeh, Liu, Shokri, ICML 2024): reference tests against the paper's equations."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from dpaudit import attacks
from dpaudit.attacks import rmia_attack
from dpaudit.attacks.rmia import A_GRID, rmia_scores


@pytest.fixture(autouse=True)
def _quiet_metric_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attacks.MetricWarning)
        yield


def _data(seed, n=80, m=50, k=4, signal=1.0):
    rng = np.random.default_rng(seed)
    level = rng.normal(0, 2, n + m)

    def prob(shift, size):
        return 1 / (1 + np.exp(-(level + shift + rng.normal(size=size))))

    ref_in = rng.random((k, n)) < 0.5
    reference = prob(signal * np.c_[ref_in, np.zeros((k, m), bool)], (k, n + m))
    is_member = rng.random(n) < 0.5
    target = prob(signal * np.r_[is_member, np.zeros(m)], n + m)
    return {"target": target[:n], "reference": reference[:, :n], "ref_in": ref_in,
            "is_member": is_member, "pop_target": target[n:],
            "pop_reference": reference[:, n:]}


def _naive_rmia(d, online, gamma, a):
    """Section 3 of the paper, one (x, z) pair at a time."""
    k, n = d["reference"].shape
    m = len(d["pop_target"])
    scores = []
    for i in range(n):
        ins = [d["reference"][j, i] for j in range(k) if d["ref_in"][j, i]]
        outs = [d["reference"][j, i] for j in range(k) if not d["ref_in"][j, i]]
        if online:
            means = [sum(side) / len(side) for side in (ins, outs) if side]
            pr_x = sum(means) / len(means)
        elif outs:
            pr_x = ((1 + a) * sum(outs) / len(outs) + (1 - a)) / 2
        else:
            pr_x = sum(ins) / len(ins)
        count = 0
        for z in range(m):
            mean_z = sum(d["pop_reference"][j, z] for j in range(k)) / k
            pr_z = mean_z if online else ((1 + a) * mean_z + (1 - a)) / 2
            ratio = (d["target"][i] / pr_x) / (d["pop_target"][z] / pr_z)
            count += ratio >= gamma
        scores.append(count / m)
    return np.array(scores)


def _call(d, **kwargs):
    return rmia_attack(d["target"], d["reference"], d["ref_in"], d["is_member"],
                       population_target=d["pop_target"],
                       population_reference=d["pop_reference"], **kwargs)


@pytest.mark.parametrize("seed, k", [(0, 4), (1, 1), (2, 7)])
@pytest.mark.parametrize("gamma", [1.0, 2.0])
def test_online_rmia_equals_the_papers_pairwise_definition(seed, k, gamma):
    d = _data(seed, k=k)
    result = _call(d, online=True, gamma=gamma)
    np.testing.assert_array_equal(result.scores, _naive_rmia(d, True, gamma, None))
    assert result.name == "rmia" and result.details["online"] is True


@pytest.mark.parametrize("seed, a", [(3, 0.0), (4, 0.35), (5, 1.0)])
def test_offline_rmia_with_a_given_equals_the_papers_pairwise_definition(seed, a):
    d = _data(seed, k=3)
    result = _call(d, offline_a=a)
    assert result.details["n_no_out"] == int(((~d["ref_in"]).sum(axis=0) == 0).sum()) > 0
    np.testing.assert_array_equal(result.scores, _naive_rmia(d, False, 2.0, a))


def _naive_auc(scores, positive):
    pos, neg = scores[positive], scores[~positive]
    return ((pos[:, None] > neg).sum() + 0.5 * (pos[:, None] == neg).sum()) / pos.size / neg.size


def test_offline_a_is_chosen_by_attacking_a_reference_model_with_the_others():
    d = _data(6, k=5, n=60, m=40)
    result = _call(d)
    # Reference model 0 as the target (its IN flags as the truth), models 1-4 as its
    # references, every grid value of a tried naively; the best AUC wins (first on ties).
    inner = {"target": d["reference"][0], "reference": d["reference"][1:],
             "ref_in": d["ref_in"][1:], "pop_target": d["pop_reference"][0],
             "pop_reference": d["pop_reference"][1:]}
    aucs = [_naive_auc(_naive_rmia(inner, False, 2.0, a), d["ref_in"][0]) for a in A_GRID]
    np.testing.assert_allclose(result.details["a_grid_auc"], aucs, rtol=1e-12)
    assert result.details["a"] == A_GRID[int(np.argmax(aucs))]
    assert result.details["a_source"].startswith("chosen")
    np.testing.assert_array_equal(result.scores,
                                  _naive_rmia(d, False, 2.0, result.details["a"]))


def test_rmia_works_with_one_reference_model():
    d = _data(7, k=1, n=3000, m=1000, signal=2.0)
    offline = _call(d)
    assert offline.details["a"] == 1.0 and "one reference model" in offline.details["a_source"]
    online = _call(d, online=True)
    # With one model, Pr(x) is that model's value whether it is IN or OUT, so online and
    # offline (a = 1) coincide. Calibrating by it must beat the target's raw confidence
    # (a global threshold): measured 0.760 vs 0.725 at this seed, 0.757-0.767 vs
    # 0.721-0.735 over seeds 7-11; each AUC's standard error is about 0.009.
    np.testing.assert_array_equal(offline.scores, online.scores)
    raw = attacks.evaluate(d["target"], d["is_member"]).auc
    assert offline.metrics.auc > raw + 0.02

def test_rmia_score_ranks_like_the_ratio_up_to_ties():
    # Fixed z's make the score a non-decreasing step function of Pr(x|theta) / Pr(x).
    d = _data(8, k=4, n=500, m=30)
    scores, _ = rmia_scores(d["target"], d["reference"], d["ref_in"],
                                  population_target=d["pop_target"],
                                  population_reference=d["pop_reference"], offline_a=0.5)
    out = np.where(~d["ref_in"], d["reference"], 0).sum(0) / np.maximum((~d["ref_in"]).sum(0), 1)
    ins = np.where(d["ref_in"], d["reference"], 0).sum(0) / np.maximum(d["ref_in"].sum(0), 1)
    marginal = np.where((~d["ref_in"]).any(0), (1.5 * out + 0.5) / 2, ins)
    order = np.argsort(d["target"] / marginal)
    assert (np.diff(scores[order]) >= 0).all()
    assert len(np.unique(scores)) <= 31 < len(scores)  # many ties by construction


@pytest.mark.parametrize("kwargs, message", [
    ({"target_scores": np.full(80, 2.0)}, r"probabilities of the true label in \[0, 1\]"),
    ({"population_reference": np.full((3, 50), 0.5)}, "same 4 reference models"),
    ({"population_reference": np.full((4, 49), 0.5)}, r"shape \(reference models, 50\)"),
    ({"gamma": 0.0}, "gamma must be a positive number"),
    ({"offline_a": 1.5}, r"offline_a must be in \[0, 1\]"),
    ({"offline_a": 0.5, "online": True}, "offline RMIA only"),
    ({"population_target": []}, "at least one population point"),
])
def test_rmia_rejects_bad_input(kwargs, message):
    d = _data(9)
    arguments = {"target_scores": d["target"], "reference_scores": d["reference"],
                 "reference_in": d["ref_in"], "is_member": d["is_member"],
                 "population_target": d["pop_target"],
                 "population_reference": d["pop_reference"]}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        rmia_attack(**arguments)
