"""Tests of dpaudit.audit.summary: AttackSummary from an attack, ROC downsampling."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from dpaudit import attacks
from dpaudit.results import ArmResult, AuditResult
from dpaudit.audit.summary import downsample_roc, fpr_key, summarize_attack

# Small samples make some metrics unresolvable on purpose; the warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::attacks.MetricWarning")


def _normal_scores(n: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    # Quantiles instead of random draws: deterministic and exactly shaped.
    q = stats.norm.ppf((np.arange(n) + 0.5) / n)
    return np.r_[q + shift, q], np.r_[np.ones(n, bool), np.zeros(n, bool)]


def test_fpr_keys():
    assert [fpr_key(f) for f in (0.001, 0.01, 0.1)] == ["0.001", "0.01", "0.1"]


def test_summary_carries_the_metrics_and_string_keys():
    scores, member = _normal_scores(2000, 1.0)
    result = attacks.loss_threshold_attack(-scores, member, seed=0)
    s = summarize_attack(result, ids=np.arange(4000) + 100, labels=np.arange(4000) % 3)
    m = result.metrics
    assert s.name == "loss_threshold"
    assert s.auc == pytest.approx(m.auc) and s.auc_ci == pytest.approx(m.auc_ci)
    assert set(s.tpr_at_fpr) == {"0.001", "0.01", "0.1"}
    assert s.tpr_at_fpr["0.1"] == pytest.approx(m.tpr_at_fpr[0.1])
    assert s.n_members == s.n_nonmembers == 2000
    assert set(s.per_class_auc) == {"0", "1", "2"}
    assert len(s.roc["fpr"]) <= 200
    assert sum(s.score_histogram["members"]) == 2000
    assert "epsilon_gdp" in s.details


def test_top_exposed_are_the_highest_scoring_members_with_their_ids():
    scores = np.array([0.1, 0.9, 0.5, 0.95, 0.3, 0.99])
    member = np.array([True, True, True, False, True, False])
    result = attacks.AttackResult(name="x", scores=scores, is_member=member,
                                  metrics=attacks.evaluate(scores, member))
    s = summarize_attack(result, ids=np.array([10, 11, 12, 13, 14, 15]), top_k=2,
                         labels=np.array([0, 1, 0, 1, 0, 1]))
    assert [t["id"] for t in s.top_exposed] == [11, 12]
    assert s.top_exposed[0] == {"id": 11, "score": 0.9, "label": 1}


def test_downsampled_roc_is_on_the_curve_and_keeps_low_fpr():
    fpr = np.r_[0.0, np.sort(np.random.default_rng(0).uniform(size=5000)), 1.0]
    tpr = np.sqrt(fpr)
    roc = downsample_roc(fpr, tpr, max_points=100)
    kept_f, kept_t = np.array(roc["fpr"]), np.array(roc["tpr"])
    assert len(kept_f) <= 100
    assert kept_f[0] == 0.0 and kept_f[-1] == 1.0
    assert np.all(np.diff(kept_f) >= 0)
    # Every kept point is a real point of the curve (no interpolation).
    assert np.isin(kept_f, fpr).all()
    np.testing.assert_array_equal(kept_t, np.sqrt(kept_f))
    # Log spacing keeps about a quarter of the points below FPR 0.01; linear would keep ~1.
    assert (kept_f[(kept_f > 0)] < 0.01).sum() >= 10


def test_short_roc_is_kept_whole():
    roc = downsample_roc(np.array([0, 0.5, 1]), np.array([0, 0.7, 1]))
    assert roc == {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.7, 1.0]}


def test_summary_round_trips_through_results_json():
    scores, member = _normal_scores(300, 0.5)
    s = summarize_attack(attacks.loss_threshold_attack(-scores, member), ids=np.arange(600))
    result = AuditResult(config={}, environment={}, data={},
                         arms=(ArmResult(name="model", utility=None, privacy=None,
                                         attacks=(s,)),))
    again = AuditResult.from_dict(json.loads(result.to_json()))
    a = again.arms[0].attacks[0]
    assert a.auc == pytest.approx(s.auc)
    assert a.roc["fpr"] == pytest.approx(list(s.roc["fpr"]))
    assert [t["id"] for t in a.top_exposed] == [t["id"] for t in s.top_exposed]
