"""Audit results for the report tests, built without training anything.

`make_result` draws member/non-member scores from two normal distributions (no model) and
derives ROC points, histograms and per-class AUCs from them, so every optional field of the
results contract is filled with realistic shapes and sizes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dpaudit.results import ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility

DATA = Path(__file__).parent / "data"
_ARM_SEPARATION = {"baseline": 0.9, "dp": 0.15}


def _roc(scores: np.ndarray, is_member: np.ndarray, points: int = 200):
    order = np.argsort(-scores, kind="stable")
    hits = is_member[order]
    tpr = np.concatenate([[0.0], np.cumsum(hits) / hits.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(~hits) / (~hits).sum()])
    keep = np.unique(np.linspace(0, len(tpr) - 1, points).astype(int))
    auc = float(np.trapezoid(tpr, fpr))
    return fpr[keep].tolist(), tpr[keep].tolist(), auc


def _attack(name: str, separation: float, rng: np.random.Generator, *,
            n: int = 600, classes: int = 10, lower_bound: float = 0.3) -> AttackSummary:
    is_member = np.arange(2 * n) < n
    labels = rng.integers(0, classes, 2 * n)
    scores = rng.normal(0.0, 1.0, 2 * n) + separation * is_member
    fpr, tpr, auc = _roc(scores, is_member)
    edges = np.linspace(scores.min(), scores.max(), 31)
    per_class = {}
    for c in range(classes):
        mask = labels == c
        per_class[str(c)] = _roc(scores[mask], is_member[mask])[2]
    top = np.argsort(-np.where(is_member, scores, -np.inf))[:20]
    return AttackSummary(
        name=name, auc=auc, auc_ci=(auc - 0.03, auc + 0.03), advantage=0.1 + separation / 4,
        tpr_at_fpr={"0.001": math.nan, "0.01": 0.01 + separation / 20, "0.1": 0.1 + separation / 5},
        epsilon_lower_bound=lower_bound, confidence=0.95, n_members=n, n_nonmembers=n,
        roc={"fpr": fpr, "tpr": tpr}, delta=1e-5,
        epsilon_lower_bound_method="clopper_pearson",
        per_class_auc=per_class,
        top_exposed=tuple({"id": int(i), "score": float(scores[i]), "label": int(labels[i])}
                          for i in top),
        score_histogram={"edges": edges.tolist(),
                         "members": np.histogram(scores[is_member], edges)[0].tolist(),
                         "nonmembers": np.histogram(scores[~is_member], edges)[0].tolist()},
        details={"n_shadow": 4} if name == "shadow" else {})


def make_result(*, seed: int = 0, attacks=("loss_threshold", "shadow"), epochs: int = 30,
                dp_lower_bound: float = 0.3, dataset: str = "digits",
                verdict=None) -> AuditResult:
    """A two-arm result (baseline, dp) with every optional field filled."""
    rng = np.random.default_rng(seed)
    arms = []
    for arm in ("baseline", "dp"):
        bound = dp_lower_bound if arm == "dp" else 1.2
        summaries = tuple(_attack(a, _ARM_SEPARATION[arm], rng, lower_bound=bound)
                          for a in attacks)
        privacy = None
        if arm == "dp":
            per_epoch = (0.4 * np.sqrt(np.arange(1, epochs + 1))).tolist()
            privacy = PrivacyInfo(
                noise_multiplier=1.1, l2_norm_clip=1.0, num_microbatches=None, batch_size=64,
                sampling="poisson", steps=epochs * 10, epochs=float(epochs), dataset_size=600,
                delta=1e-5, epsilon_rdp=per_epoch[-1] * 1.05, epsilon_pld=per_epoch[-1],
                accounting_note="Poisson sampling with q = 64/600; RDP and PLD accountants.",
                epsilon_per_epoch=per_epoch)
        arms.append(ArmResult(
            name=arm, utility=Utility(0.99 if arm == "baseline" else 0.93,
                                      0.95 if arm == "baseline" else 0.91, 0.02, 0.2),
            privacy=privacy, attacks=summaries,
            history={"loss": [1.0, 0.5, 0.3]}))
    return AuditResult(
        config={"seed": seed, "dataset": {"name": dataset}, "model": {"name": "mlp",
                                                                       "hidden": [256, 256]},
                "dp": {"noise_multiplier": 1.1, "l2_norm_clip": 1.0, "delta": 1e-5}},
        # The shapes dpaudit.audit writes: no date (equal runs give equal files) and
        # the ids of every example of the split.
        environment={"python": "3.11.7", "platform": "Linux-x86_64",
                     "packages": {"dpaudit": "0.1.0", "tensorflow-cpu": "2.21.0"},
                     "device": "CPU", "seed": seed},
        data={"dataset": dataset, "num_classes": 10, "input_shape": [64], "seed": seed,
              "n_members": 600, "n_nonmembers": 600, "n_shadow_pool": 597, "n_test": 600,
              "ids": {"members": list(range(600)), "nonmembers": list(range(600, 1200))}},
        arms=tuple(arms), verdict=verdict, timings={"train": 12.5, "attack": 3.25})


@pytest.fixture
def result() -> AuditResult:
    return make_result()


@pytest.fixture(scope="session")
def result_factory():
    """`make_result` itself, for tests that need variations."""
    return make_result
