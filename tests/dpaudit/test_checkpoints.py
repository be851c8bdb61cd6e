"""Leakage over training: the callback's records and the results fields they end up in."""

import math

import numpy as np
import pytest

from dpaudit.audit.checkpoints import (ATTACK, checkpoint_epochs, leakage_from_history,
                                       measure_leakage)
from dpaudit.results import FPR_LEVELS


def test_checkpoint_epochs_spread_over_training_and_include_the_last():
    assert checkpoint_epochs(40) == [1, 11, 20, 30, 40]
    assert checkpoint_epochs(3) == [1, 2, 3]
    assert checkpoint_epochs(1) == [1] and checkpoint_epochs(0) == []


def test_leakage_is_split_out_of_the_history_at_the_measured_epochs():
    nan = math.nan
    history = {"loss": [1.0, 0.5, 0.2], "steps": [4, 8, 12],
               "leakage_auc": [0.55, nan, 0.7],
               "leakage_tpr_at_fpr_0.001": [nan, nan, nan],
               "leakage_tpr_at_fpr_0.01": [0.02, nan, 0.05],
               "leakage_tpr_at_fpr_0.1": [0.15, nan, 0.3]}
    leakage, rest = leakage_from_history(history)
    assert rest == {"loss": [1.0, 0.5, 0.2], "steps": [4, 8, 12]}
    assert leakage == {"attack": ATTACK, "epoch": [1, 3], "auc": [0.55, 0.7],
                       "tpr_at_fpr": {"0.001": [None, None], "0.01": [0.02, 0.05],
                                      "0.1": [0.15, 0.3]}}
    assert leakage_from_history({"loss": [1.0]}) == ({}, {"loss": [1.0]})


class _Fixed:
    """A 'model' returning fixed probabilities: members confident, non-members not."""

    def __init__(self, probs):
        self.probs = probs
        self.layers = []

    def __call__(self, x, training=False):
        return self.probs[np.asarray(x, dtype=int).ravel()]


def test_measure_leakage_is_the_loss_threshold_attack_on_the_model():
    """Members get p(label) 0.9, non-members 0.6: the loss threshold separates them
    perfectly, so AUC 1 and TPR 1 at every resolvable FPR (100 non-members resolve 0.1)."""
    pytest.importorskip("keras")
    n = 100
    probs = np.full((2 * n, 2), 0.0)
    probs[:n] = [0.9, 0.1]
    probs[n:] = [0.6, 0.4]
    x = np.arange(2 * n, dtype=float)[:, None]
    y = np.zeros(2 * n, dtype=int)
    out = measure_leakage(_Fixed(probs), x, y, np.arange(2 * n) < n)
    assert out["leakage_auc"] == pytest.approx(1.0)
    assert out["leakage_tpr_at_fpr_0.1"] == pytest.approx(1.0)
    assert math.isnan(out["leakage_tpr_at_fpr_0.001"])  # 100 non-members cannot resolve it
    assert sorted(out) == sorted(["leakage_auc"] + [f"leakage_tpr_at_fpr_{lv}"
                                                    for lv in FPR_LEVELS])
