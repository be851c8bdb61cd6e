"""From one attack's per-example scores to the `AttackSummary` stored in results.json.

results.json must stay small and plottable, so the full ROC curve (one point per
distinct score) is downsampled. Privacy lives at low false-positive rates (Carlini
et al., "Membership Inference Attacks From First Principles", S&P 2022), so half of
the kept points are log-spaced in FPR and half linear, and the points are chosen
from the curve itself (never interpolated), so every kept point is achievable.

Example:
    >>> import numpy as np
    >>> from dpaudit import attacks
    >>> r = attacks.loss_threshold_attack(np.array([0.1, 0.2, 1.0, 2.0]),
    ...                                   np.array([True, True, False, False]))
    >>> summarize_attack(r, ids=np.arange(4)).auc
    1.0
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np

from dpaudit.results import AttackSummary

__all__ = ["summarize_attack", "downsample_roc", "fpr_key"]


def fpr_key(fpr: float) -> str:
    """The string key of an FPR level in results.json: 0.001 -> "0.001"."""
    return f"{float(fpr):g}"


def downsample_roc(fpr: np.ndarray, tpr: np.ndarray, max_points: int = 200
                   ) -> dict[str, list[float]]:
    """Keeps at most `max_points` ROC points: the ends, log-spaced and linear FPR levels.

    For each chosen FPR level the kept point is the curve's last point with
    FPR <= that level, i.e. the best TPR achievable there.
    """
    fpr = np.asarray(fpr, dtype=float)
    tpr = np.asarray(tpr, dtype=float)
    if fpr.size <= max_points:
        return {"fpr": fpr.tolist(), "tpr": tpr.tolist()}
    positive = fpr[fpr > 0]
    smallest = float(positive.min()) if positive.size else 1.0
    half = max(1, (max_points - 2) // 2)
    levels = np.concatenate([np.geomspace(smallest, 1.0, half), np.linspace(0.0, 1.0, half)])
    idx = np.searchsorted(fpr, levels, side="right") - 1
    idx = np.unique(np.clip(np.concatenate([[0, fpr.size - 1], idx]), 0, fpr.size - 1))
    if idx.size > max_points:  # ties among levels made fewer points; rarely needed
        keep = np.linspace(0, idx.size - 1, max_points).round().astype(int)
        idx = idx[np.unique(keep)]
    return {"fpr": fpr[idx].tolist(), "tpr": tpr[idx].tolist()}


def summarize_attack(result: Any, *, ids: np.ndarray | None = None,
                     labels: np.ndarray | None = None, max_roc_points: int = 200,
                     top_k: int = 10, details: Mapping[str, Any] | None = None
                     ) -> AttackSummary:
    """Turns an `attacks.AttackResult` into the results contract's `AttackSummary`.

    Args:
      result: the attack's result (name, scores, is_member, metrics).
      ids: example id of each score (default: positions 0..n-1).
      labels: class label of each example; enables the per-class AUC.
      max_roc_points: most ROC points kept.
      top_k: how many of the highest-scoring members to list as most exposed.
      details: attack-specific extras to store (merged over the result's own).

    Returns:
      The AttackSummary, with `tpr_at_fpr` keyed "0.001", "0.01", "0.1".
    """
    from dpaudit.attacks import metrics as attack_metrics

    scores = np.asarray(result.scores, dtype=float)
    is_member = np.asarray(result.is_member, dtype=bool)
    ids = np.arange(scores.size) if ids is None else np.asarray(ids)
    if ids.shape != scores.shape:
        raise ValueError(f"ids has shape {ids.shape}, scores {scores.shape}")
    m = result.metrics
    per_class: dict[str, float] = {}
    per_class_counts: dict[str, list[int]] = {}
    if labels is not None:
        per_class = {str(k): _finite_or_nan(v) for k, v in
                     attack_metrics.per_class_auc(scores, is_member, np.asarray(labels)).items()}
        # The report needs each class's sizes to put an interval on its AUC.
        for label in np.unique(np.asarray(labels)):
            in_class = np.asarray(labels) == label
            per_class_counts[str(label.item() if hasattr(label, "item") else label)] = [
                int((in_class & is_member).sum()), int((in_class & ~is_member).sum())]
    member_idx = np.flatnonzero(is_member)
    # Stable sort so ties keep id order: the list is reproducible.
    order = member_idx[np.argsort(-scores[member_idx], kind="stable")][:top_k]
    top = [{"id": int(ids[i]), "score": float(scores[i]),
            **({"label": int(labels[i])} if labels is not None else {})} for i in order]
    histogram = _quantile_histogram(scores, is_member, bins=30)
    extra = dict(getattr(result, "details", None) or {})
    extra.update(details or {})
    return AttackSummary(
        name=str(result.name),
        auc=float(m.auc),
        auc_ci=(float(m.auc_ci[0]), float(m.auc_ci[1])),
        advantage=float(m.advantage),
        tpr_at_fpr={fpr_key(k): float(v) for k, v in m.tpr_at_fpr.items()},
        epsilon_lower_bound=float(m.epsilon_lower_bound),
        confidence=float(m.confidence),
        n_members=int(m.n_members),
        n_nonmembers=int(m.n_nonmembers),
        roc=downsample_roc(m.fpr, m.tpr, max_roc_points),
        delta=float(m.delta),
        epsilon_lower_bound_method=str(getattr(m, "epsilon_lower_bound_method", "")),
        per_class_auc=per_class,
        per_class_counts=per_class_counts,
        top_exposed=tuple(top),
        score_histogram={k: [float(x) for x in np.asarray(v).ravel()]
                         for k, v in histogram.items()},
        details={**({"epsilon_gdp": float(m.epsilon_gdp)}
                    if getattr(m, "epsilon_gdp", None) is not None else {}), **extra},
    )


def _quantile_histogram(scores: np.ndarray, is_member: np.ndarray,
                        bins: int) -> dict[str, list[float]]:
    """Counts over bins holding equal shares of the pooled scores (fewer where scores tie).

    Equal-width bins put almost every example of a memorising model in one bin (loss
    near 0), so members and non-members cannot be told apart on the page; bins at the
    pooled quantiles spread them over the whole axis. Infinite scores join the end bins.
    """
    finite = scores[np.isfinite(scores)]
    if finite.size == 0:
        finite = np.zeros(1)
    edges = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size < 2:
        edges = np.array([edges[0] - 0.5, edges[0] + 0.5])
    clipped = np.clip(scores, edges[0], edges[-1])
    return {"edges": edges.tolist(),
            "members": np.histogram(clipped[is_member], bins=edges)[0].tolist(),
            "nonmembers": np.histogram(clipped[~is_member], bins=edges)[0].tolist()}


def _finite_or_nan(value: Any) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return math.nan
    return value
