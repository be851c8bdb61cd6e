"""Audit results for the report tests, built without training anything.

`make_result` draws member/non-member scores from two normal distributions (no model) and
derives ROC points, histograms and per-class AUCs from them, so every optional field of the
results contract is filled with realistic shapes and sizes.
"""

from __future__ import annotations

import functools
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
    per_class, per_class_counts = {}, {}
    for c in range(classes):
        mask = labels == c
        per_class[str(c)] = _roc(scores[mask], is_member[mask])[2]
        per_class_counts[str(c)] = [int((mask & is_member).sum()), int((mask & ~is_member).sum())]
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
        details={"n_shadow": 4} if name == "shadow" else {},
        per_class_counts=per_class_counts)


@functools.lru_cache(maxsize=32)  # brentq per delta: cached, every make_result needs one
def _gaussian_dp_curve(epsilon: float, delta: float, points: int) -> tuple:
    return tuple(_gaussian_dp_curve_uncached(epsilon, delta, points).items())


def gaussian_dp_curve(epsilon: float, delta: float = 1e-5, points: int = 61) -> dict:
    """See `_gaussian_dp_curve_uncached`; a fresh dict of fresh lists on every call."""
    return {k: list(v) for k, v in _gaussian_dp_curve(float(epsilon), float(delta), points)}


def _gaussian_dp_curve_uncached(epsilon: float, delta: float = 1e-5, points: int = 61) -> dict:
    """The exact (epsilon, delta) curve of the Gaussian mechanism whose epsilon at `delta`
    is `epsilon` (Balle & Wang, ICML 2018: delta(eps) = Phi(-eps/mu + mu/2)
    - e^eps Phi(-eps/mu - mu/2)): a valid DP curve, built without the accountant."""
    from scipy.optimize import brentq
    from scipy.stats import norm

    def delta_of(eps, mu):
        return norm.cdf(-eps / mu + mu / 2) - math.exp(eps) * norm.cdf(-eps / mu - mu / 2)

    mu = brentq(lambda m: delta_of(epsilon, m) - delta, 1e-3, 50)
    deltas = np.logspace(-10, math.log10(0.5), points)
    eps = [brentq(lambda e: delta_of(e, mu) - d, 0, 200) if delta_of(0, mu) > d else 0.0
           for d in deltas]
    return {"delta": deltas.tolist(), "epsilon": eps}


def make_result(*, seed: int = 0, attacks=("loss_threshold", "shadow"), epochs: int = 30,
                dp_lower_bound: float = 0.3, dataset: str = "digits",
                verdict=None, provenance: bool = True) -> AuditResult:
    """A two-arm result (baseline, dp) with every optional field filled.

    The dp arm's per-epoch epsilons are priced at five checkpoint epochs (NaN between) by
    the PLD accountant and end at its headline epsilon, as dpaudit writes them.
    """
    rng = np.random.default_rng(seed)
    arms = []
    for arm in ("baseline", "dp"):
        bound = dp_lower_bound if arm == "dp" else 1.2
        summaries = tuple(_attack(a, _ARM_SEPARATION[arm], rng, lower_bound=bound)
                          for a in attacks)
        privacy = None
        if arm == "dp":
            checkpoints = _checkpoints(epochs)
            per_epoch = [0.4 * math.sqrt(e) if e in checkpoints else math.nan
                         for e in range(1, epochs + 1)]
            privacy = PrivacyInfo(
                noise_multiplier=1.1, l2_norm_clip=1.0, num_microbatches=None, batch_size=64,
                sampling="poisson", steps=epochs * 10, epochs=float(epochs), dataset_size=600,
                delta=1e-5, epsilon_rdp=per_epoch[-1] * 1.05, epsilon_pld=per_epoch[-1],
                accounting_note="Poisson sampling with q = 64/600; RDP and PLD accountants.",
                epsilon_per_epoch=per_epoch, epsilon_per_epoch_accountant="pld",
                epsilon_delta_curve=gaussian_dp_curve(per_epoch[-1]))
        arms.append(ArmResult(
            name=arm, utility=Utility(0.99 if arm == "baseline" else 0.93,
                                      0.95 if arm == "baseline" else 0.91, 0.02, 0.2),
            privacy=privacy, attacks=summaries,
            history={"loss": [1.0, 0.5, 0.3]},
            leakage_per_epoch=_leakage(epochs, summaries[0].auc if summaries else 0.5)))
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
        arms=tuple(arms), verdict=verdict, timings={"train": 12.5, "attack": 3.25},
        provenance={"started_at": "2026-11-30T10:00:00+00:00",
                    "finished_at": "2026-11-30T10:00:40+00:00",
                    "data_sha256": "ab" * 32,
                    "models": {"baseline": {"file": "models/baseline-target.keras",
                                            "sha256": "cd" * 32},
                               "dp": {"file": "models/dp-target.keras",
                                      "sha256": "ef" * 32}}} if provenance else {})


def _checkpoints(epochs: int) -> list[int]:
    return sorted({int(round(e)) for e in np.linspace(1, epochs, min(5, epochs))})


def _leakage(epochs: int, final_auc: float) -> dict:
    """A loss-threshold AUC rising from chance to the final model's, at the checkpoints."""
    points = _checkpoints(epochs)
    aucs = [0.5 + (final_auc - 0.5) * e / epochs for e in points]
    return {"attack": "loss_threshold", "epoch": points, "auc": aucs,
            "tpr_at_fpr": {"0.001": [None] * len(points), "0.01": [0.01] * len(points),
                           "0.1": [0.1 + (a - 0.5) for a in aucs]}}


@pytest.fixture
def result() -> AuditResult:
    return make_result()


@pytest.fixture(scope="session")
def result_factory():
    """`make_result` itself, for tests that need variations."""
    return make_result
