"""Short views of an AuditResult: its `repr`, the table a notebook shows, a DataFrame.

Example:
    >>> from dpaudit.results import ArmResult, AuditResult
    >>> AuditResult(config={}, environment={}, data={"dataset": "digits"},
    ...             arms=(ArmResult("baseline", None, None, ()),))
    <AuditResult digits: baseline (no DP, no attacks)>
"""

from __future__ import annotations

import html
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # results imports this module for its __repr__
    from dpaudit.results import ArmResult, AuditResult

__all__ = ["result_dataframe", "result_html", "result_repr"]


def _number(value: float | None, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def _epsilon(arm: "ArmResult") -> str:
    return "no DP" if arm.epsilon is None else f"epsilon {_number(arm.epsilon, 2)}"


def _largest_bound(arm: "ArmResult") -> float:
    """The largest epsilon lower bound on `arm`; estimates (pooled reference attacks) are
    not bounds and are left out, as in the CLI's table and the gate."""
    return max((a.epsilon_lower_bound for a in arm.attacks
                if not a.is_estimate and not math.isnan(a.epsilon_lower_bound)),
               default=math.nan)


def result_repr(result: "AuditResult") -> str:
    """One line per audit: the dataset, then each arm's epsilon, best AUC and bound."""
    parts = []
    for arm in result.arms:
        best = arm.best_attack()
        if best is None:
            parts.append(f"{arm.name} ({_epsilon(arm)}, no attacks)")
            continue
        bound = _largest_bound(arm)
        parts.append(f"{arm.name} ({_epsilon(arm)}, best AUC {_number(best.auc)} "
                     f"[{best.name}], epsilon >= {_number(bound, 2)})")
    verdict = ""
    if result.verdict is not None:
        verdict = "; gate " + ("PASSED" if result.verdict.get("passed") else "FAILED")
    name = result.data.get("dataset", "audit")
    return f"<AuditResult {name}: {'; '.join(parts) or 'no arms'}{verdict}>"


def result_html(result: "AuditResult") -> str:
    """A small HTML table (arm, test accuracy, epsilon, best attack, AUC, TPR at 1% FPR,
    epsilon lower bound) for notebooks; the full report is `dpaudit.reports`."""
    head = ("arm", "test accuracy", "epsilon (theory)", "best attack", "AUC", "TPR @ 1% FPR",
            "epsilon lower bound")
    rows = []
    for arm in result.arms:
        best = arm.best_attack()
        bound = _largest_bound(arm)
        cells = (arm.name,
                 _number(arm.utility.test_accuracy if arm.utility else None),
                 "none (no DP)" if arm.epsilon is None else _number(arm.epsilon, 2),
                 best.name if best else "n/a",
                 _number(best.auc) if best else "n/a",
                 _number(best.tpr_at_fpr.get("0.01")) if best else "n/a",
                 _number(bound, 2))
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    caption = html.escape(f"dpaudit audit of {result.data.get('dataset', 'a model')}")
    return (f"<table><caption>{caption}</caption><thead>{header}</thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def result_dataframe(result: "AuditResult"):
    """One row per (arm, attack) with the headline numbers (`AuditResult.to_dataframe`);
    needs pandas."""
    import pandas as pd

    rows = []
    for arm in result.arms:
        base = {"arm": arm.name, "epsilon": arm.epsilon,
                "test_accuracy": arm.utility.test_accuracy if arm.utility else math.nan}
        for a in arm.attacks or [None]:
            row = dict(base)
            if a is not None:
                row.update(attack=a.name, auc=a.auc, auc_low=a.auc_ci[0],
                           auc_high=a.auc_ci[1], advantage=a.advantage,
                           epsilon_lower_bound=a.epsilon_lower_bound,
                           is_estimate=a.is_estimate, confidence=a.confidence,
                           **{f"tpr_at_fpr_{k}": v for k, v in a.tpr_at_fpr.items()})
            rows.append(row)
    return pd.DataFrame(rows)
