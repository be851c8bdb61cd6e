"""Plotly figure builders for the audit report.

Every builder takes results-contract objects and returns a plotly figure as plain JSON data
(`{"data": [...], "layout": {...}}`, the schema plotly.js reads), or None when the results
hold nothing to plot (the report then says "not available"). Building dicts rather than
`plotly.graph_objects.Figure`s keeps a report under half a second; the tests validate every
builder's output with `plotly.graph_objects.Figure(fig)`, which rejects unknown properties.
Builders never raise on missing or malformed optional fields: old results files and
partial runs still render.

Text that comes from the results (arm, attack and class names) is HTML-escaped before it
reaches plotly, whose labels understand a subset of HTML: a class named `<b>x</b>` shows
as typed rather than in bold.
"""

from __future__ import annotations

import html
import logging
import math
from typing import Any, Sequence

from dpaudit.results import ArmResult, AttackSummary

from .evidence import EvidenceRow

__all__ = ["Figure", "roc_figure", "score_histogram_figure", "epsilon_per_epoch_figure",
           "per_class_auc_figure", "theory_vs_evidence_figure", "arm_color"]

logger = logging.getLogger(__name__)

Figure = dict[str, Any]
"""A plotly figure as JSON data: {"data": [trace, ...], "layout": {...}}."""

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
_ARM_COLORS = {"baseline": "#D55E00", "dp": "#0072B2"}
_PALETTE = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
_MEMBER_COLOR = "#E69F00"
_NONMEMBER_COLOR = "#56B4E9"
_BUG_COLOR = "#C0392B"
_GUIDE = {"color": "#888888", "dash": "dash", "width": 1}
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def arm_color(name: str, index: int = 0) -> str:
    """The colour of an arm in every figure (baseline vermillion, dp blue)."""
    return _ARM_COLORS.get(name, _PALETTE[index % len(_PALETTE)])


def roc_figure(attack_name: str,
               curves: Sequence[tuple[str, AttackSummary]]) -> Figure | None:
    """ROC curves of one attack against each arm, on log-log axes.

    The low-FPR corner is where a membership attack matters (Carlini et al., 2022,
    "Membership inference attacks from first principles", https://arxiv.org/abs/2112.03570),
    so both axes are logarithmic; points with FPR or TPR of 0 cannot be drawn there and are
    dropped. The diagonal is a random guess.

    Args:
      attack_name: shown in the title.
      curves: (arm name, that arm's summary of this attack) pairs.
    """
    fig = _figure(f"ROC: {attack_name}", "false-positive rate (log)",
                  "true-positive rate (log)")
    lowest = 1.0
    for i, (arm, attack) in enumerate(curves):
        points = _roc_points(attack.roc)
        if not points:
            continue
        fpr, tpr = zip(*points)
        lowest = min(lowest, min(fpr), min(tpr))
        if attack.n_nonmembers > 0:
            lowest = min(lowest, 1.0 / attack.n_nonmembers)
        auc = f" (AUC {attack.auc:.3f})" if math.isfinite(attack.auc) else ""
        fig["data"].append({
            "type": "scatter", "x": list(fpr), "y": list(tpr), "mode": "lines",
            "name": _text(arm) + auc, "line": {"color": arm_color(arm, i), "width": 2},
            "hovertemplate": "FPR %{x:.3g}<br>TPR %{y:.3g}"})
    if not fig["data"]:
        return None
    floor = math.log10(lowest) - 0.1
    fig["data"].append({"type": "scatter", "x": [lowest, 1.0], "y": [lowest, 1.0],
                        "mode": "lines", "name": "random guess", "hoverinfo": "skip",
                        "line": dict(_GUIDE)})
    # Decades only: minor log ticks crowd a small plot.
    for axis in ("xaxis", "yaxis"):
        fig["layout"][axis].update(type="log", range=[floor, 0.02], dtick=1,
                                   exponentformat="power")
    return fig


def score_histogram_figure(arm_name: str, attack: AttackSummary) -> Figure | None:
    """Member vs non-member distribution of one attack's scores on one arm.

    Bars show the fraction of each group per bin, so groups of different sizes compare.
    """
    hist = attack.score_histogram or {}
    edges = _floats(hist.get("edges"))
    members = _floats(hist.get("members"))
    nonmembers = _floats(hist.get("nonmembers"))
    if not edges or len(members) != len(edges) - 1 or len(nonmembers) != len(members):
        if hist:
            logger.warning("score_histogram of %s/%s has inconsistent lengths; not plotted",
                           arm_name, attack.name)
        return None
    centers = [(a + b) / 2 for a, b in zip(edges, edges[1:])]
    widths = [b - a for a, b in zip(edges, edges[1:])]
    fig = _figure(f"{arm_name}: {attack.name}", _score_axis(attack.name), "fraction of group")
    for label, counts, color in (("members", members, _MEMBER_COLOR),
                                 ("non-members", nonmembers, _NONMEMBER_COLOR)):
        total = sum(c for c in counts if math.isfinite(c))
        fractions = [c / total if total > 0 and math.isfinite(c) else None for c in counts]
        fig["data"].append({"type": "bar", "x": centers, "y": fractions, "width": widths,
                            "name": label, "opacity": 0.65,
                            "marker": {"color": color, "line": {"width": 0}},
                            "hovertemplate": "score %{x:.3g}: %{y:.1%}"})
    fig["layout"].update(barmode="overlay", bargap=0)
    return fig


def epsilon_per_epoch_figure(arms: Sequence[ArmResult]) -> Figure | None:
    """Theoretical (RDP) epsilon after each epoch for every DP arm.

    A dotted line marks the arm's strongest empirical lower bound on the final model, so
    the reader sees how much of the spent budget the attacks can demonstrate.
    """
    fig = _figure("Privacy budget spent per epoch", "epoch", "theoretical epsilon")
    for i, arm in enumerate(arms):
        if arm.privacy is None:
            continue
        eps = [_none_if_nan(e) for e in _floats(arm.privacy.epsilon_per_epoch)]
        if not any(e is not None for e in eps):
            continue
        color = arm_color(arm.name, i)
        fig["data"].append({
            "type": "scatter", "x": list(range(1, len(eps) + 1)), "y": eps,
            "mode": "lines+markers", "name": f"{_text(arm.name)}: epsilon (RDP)",
            "line": {"color": color, "width": 2},
            "hovertemplate": "epoch %{x}: epsilon %{y:.3g}"})
        bounds = [a.epsilon_lower_bound for a in arm.attacks
                  if math.isfinite(a.epsilon_lower_bound)]
        if bounds and max(bounds) > 0:
            fig["data"].append({
                "type": "scatter", "x": [1, len(eps)], "y": [max(bounds)] * 2,
                "mode": "lines", "name": f"{_text(arm.name)}: strongest empirical lower bound",
                "line": {"color": color, "dash": "dot", "width": 1.5},
                "hovertemplate": "lower bound %{y:.3g}"})
    if not fig["data"]:
        return None
    fig["layout"]["xaxis"]["rangemode"] = "tozero"
    if len(fig["data"][0]["x"]) <= 20:
        fig["layout"]["xaxis"]["dtick"] = 1
    fig["layout"]["yaxis"]["rangemode"] = "tozero"
    return fig


def per_class_auc_figure(attack_name: str,
                         curves: Sequence[tuple[str, AttackSummary]]) -> Figure | None:
    """Attack AUC on each class's examples, bars drawn from the 0.5 of a random guess."""
    fig = _figure(f"Per-class AUC: {attack_name}", "class", "attack AUC")
    classes: list[str] = []
    for _, attack in curves:
        classes += [c for c in (attack.per_class_auc or {}) if c not in classes]
    classes.sort(key=_class_order)
    for i, (arm, attack) in enumerate(curves):
        aucs = attack.per_class_auc or {}
        if not aucs:
            continue
        values = [aucs.get(c, math.nan) for c in classes]
        fig["data"].append({
            "type": "bar", "x": [_text(c) for c in classes],
            "y": [_none_if_nan(v - 0.5) for v in values], "base": 0.5,
            "customdata": [_none_if_nan(v) for v in values], "name": _text(arm),
            "marker": {"color": arm_color(arm, i)},
            "hovertemplate": "class %{x}: AUC %{customdata:.3f}"})
    if not fig["data"]:
        return None
    fig["layout"]["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1,
                                "yref": "y", "y0": 0.5, "y1": 0.5, "line": dict(_GUIDE)}]
    fig["layout"]["xaxis"]["type"] = "category"
    fig["layout"]["barmode"] = "group"
    return fig


def theory_vs_evidence_figure(rows: Sequence[EvidenceRow]) -> Figure | None:
    """Per arm: each attack's empirical lower bound (bars) and the theoretical epsilon (diamond).

    A bar reaching past the diamond is a DP bug; its bar is outlined in red.
    """
    arms = list(dict.fromkeys(r.arm for r in rows))
    fig = _figure("Theoretical epsilon vs empirical lower bounds", "epsilon", "")
    attacks = list(dict.fromkeys(r.attack for r in rows))
    for i, attack in enumerate(attacks):
        mine = [r for r in rows if r.attack == attack and math.isfinite(r.lower_bound)]
        if not mine:
            continue
        fig["data"].append({
            "type": "bar", "orientation": "h", "x": [r.lower_bound for r in mine],
            "y": [_text(r.arm) for r in mine], "name": f"{_text(attack)}: lower bound",
            "marker": {"color": _PALETTE[i % len(_PALETTE)],
                       "line": {"color": [_BUG_COLOR if r.is_bug else "rgba(0,0,0,0)"
                                          for r in mine],
                                "width": [3 if r.is_bug else 0 for r in mine]}},
            "hovertemplate": "epsilon >= %{x:.3g}"})
    theory = {r.arm: r.theoretical_epsilon for r in rows
              if r.theoretical_epsilon is not None and math.isfinite(r.theoretical_epsilon)}
    if theory:
        fig["data"].append({
            "type": "scatter", "x": list(theory.values()), "y": [_text(a) for a in theory],
            "mode": "markers", "name": "theoretical epsilon",
            "marker": {"symbol": "diamond", "size": 15, "color": "#222222",
                       "line": {"color": "#ffffff", "width": 1.5}},
            "hovertemplate": "theoretical epsilon %{x:.3g}"})
    if not fig["data"]:
        return None
    bounds = [r.lower_bound for r in rows if math.isfinite(r.lower_bound)]
    if bounds and max(bounds) <= 0:
        fig["layout"]["annotations"] = [{
            "text": "no attack certifies any leakage: every lower bound is 0",
            "xref": "paper", "yref": "paper", "x": 0.02, "y": 0.5, "showarrow": False,
            "xanchor": "left", "font": {"color": "#6b7280"}}]
    fig["layout"]["xaxis"]["rangemode"] = "tozero"
    fig["layout"]["yaxis"].update(type="category", categoryorder="array",
                                  categoryarray=[_text(a) for a in reversed(arms)])
    fig["layout"].update(barmode="group", height=170 + 70 * len(arms), bargap=0.3)
    return fig


def _figure(title: str, xtitle: str, ytitle: str) -> Figure:
    """An empty figure in the report's white style, with a title and axis titles."""
    def axis(text: str) -> dict[str, Any]:
        return {"automargin": True, "gridcolor": "#EBF0F8", "linecolor": "#D5DCE6",
                "zerolinecolor": "#EBF0F8", "zerolinewidth": 2,
                "title": {"text": text, "standoff": 12}}

    return {"data": [], "layout": {
        "height": 340, "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff",
        "colorway": list(_PALETTE),
        "title": {"text": _text(title), "x": 0.01, "xanchor": "left", "y": 0.98,
                  "yref": "container", "yanchor": "top", "font": {"size": 15}},
        "font": {"family": _FONT, "size": 12, "color": "#1f2937"},
        # The legend sits between the title and the plot, clear of the x-axis title
        # whatever the figure's height.
        "margin": {"l": 60, "r": 20, "t": 72, "b": 50},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        "hoverlabel": {"font": {"family": _FONT}, "align": "left"},
        "xaxis": axis(xtitle), "yaxis": axis(ytitle)}}


def _text(value: Any) -> str:
    return html.escape(str(value), quote=False)


def _score_axis(attack_name: str) -> str:
    if "loss" in attack_name:
        return "score = -loss (higher: more likely a member)"
    return "attack score (higher: more likely a member)"


def _floats(values: Any) -> list[float]:
    try:
        return [math.nan if v is None else float(v) for v in values or ()]
    except (TypeError, ValueError):
        return []


def _none_if_nan(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _roc_points(roc: Any) -> list[tuple[float, float]]:
    if not roc:
        return []
    fpr, tpr = _floats(roc.get("fpr")), _floats(roc.get("tpr"))
    if len(fpr) != len(tpr):
        logger.warning("ROC with %d FPR and %d TPR values; not plotted", len(fpr), len(tpr))
        return []
    return [(f, t) for f, t in zip(fpr, tpr)
            if math.isfinite(f) and math.isfinite(t) and f > 0 and t > 0]


def _class_order(label: str) -> tuple[int, float, str]:
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)
