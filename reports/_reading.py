"""Reviewer-facing wording: the accuracy/leakage trade-off sentence and attack detail labels."""

from __future__ import annotations

from typing import Any, Mapping

from dpaudit.results import ArmResult

from . import _format as fmt

__all__ = ["tradeoff_sentence", "detail_rows", "DETAIL_LABELS"]

# Human labels for the attacks' extras; "(estimate)" marks numbers that are point
# estimates, not bounds holding with a stated confidence.
DETAIL_LABELS = {
    "epsilon_gdp": "epsilon estimate from the AUC, Gaussian DP (estimate, not a bound)",
    "gdp_mu": "Gaussian DP mu (estimate)",
    "gdp_mu_interval": "Gaussian DP mu interval",
    "n_shadow": "shadow models",
    "shadow_pool_size": "shadow pool size",
    "per_class": "one attack model per class",
    "classes_with_own_model": "classes with their own attack model",
    "attack_model": "attack classifier",
    "features": "attack features",
    "theoretical_epsilon": "theoretical epsilon",
    "canary_source": "canaries",
    "dataset_size": "dataset size",
    "batch_size": "batch size",
}


def detail_rows(details: Mapping[str, Any]) -> list[tuple[str, str]]:
    """An attack's extras as (human label, text).

    Unknown keys keep their name with underscores as spaces; an unknown key about
    epsilon or Gaussian DP is marked "(estimate)", so a point estimate never reads like
    a bound.
    """
    rows = []
    for key, text in fmt.flatten(details):
        label = DETAIL_LABELS.get(key)
        if label is None:
            label = key.replace("_", " ").replace(".", " · ")
            if "estimate" not in label and ("epsilon" in key or "gdp" in key):
                label += " (estimate)"
        rows.append((label, text))
    return rows


def tradeoff_sentence(dp: ArmResult, base: ArmResult) -> str:
    """What DP cost in accuracy, and whether the arms' strongest-attack AUC intervals overlap.

    E.g. "Accuracy cost of DP: test accuracy 88.0% (baseline) -> 66.7% (dp), 21.3 points
    lost; the strongest attacks' AUC intervals [0.51, 0.67] (dp) and [0.61, 0.76]
    (baseline) overlap: ...". "" when neither can be said.
    """
    parts = []
    a = base.utility.test_accuracy if base.utility else None
    b = dp.utility.test_accuracy if dp.utility else None
    if fmt.finite(a) and fmt.finite(b):
        change = (f"{100 * (a - b):.1f} points lost" if a >= b
                  else f"{100 * (b - a):.1f} points gained")
        parts.append(f"Accuracy cost of DP: test accuracy {fmt.pct(a)} ({base.name}) -> "
                     f"{fmt.pct(b)} ({dp.name}), {change}")
    x, y = dp.best_attack(), base.best_attack()
    if x is not None and y is not None and all(map(fmt.finite, (*x.auc_ci, *y.auc_ci))):
        overlap = x.auc_ci[0] <= y.auc_ci[1] and y.auc_ci[0] <= x.auc_ci[1]
        parts.append(
            f"the strongest attacks' AUC intervals {fmt.interval(x.auc_ci, 2)} ({dp.name}) "
            f"and {fmt.interval(y.auc_ci, 2)} ({base.name}) "
            + ("overlap: these attacks cannot tell the two models' leakage apart"
               if overlap else "do not overlap: DP measurably reduced the leakage"))
    return "; ".join(parts) + "." if parts else ""
