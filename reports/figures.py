"""Plotly figure builders for the audit report.

Every builder takes results-contract objects and returns a `plotly.graph_objects.Figure`,
or None when the results hold nothing to plot (the report then says "not available").
Builders never raise on missing or malformed optional fields: old results files and
partial runs still render.

Text that comes from the results (arm, attack and class names) is HTML-escaped before it
reaches plotly, whose labels understand a subset of HTML: a class named `<b>x</b>` shows
as typed rather than in bold.
"""

from __future__ import annotations

import functools
import html
import logging
import math
from typing import Any, Sequence

import plotly.graph_objects as go

from dpaudit.results import ArmResult, AttackSummary
from reports.evidence import EvidenceRow

__all__ = ["roc_figure", "score_histogram_figure", "epsilon_per_epoch_figure",
           "per_class_auc_figure", "theory_vs_evidence_figure", "arm_color"]

logger = logging.getLogger(__name__)

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
_ARM_COLORS = {"baseline": "#D55E00", "dp": "#0072B2"}
_PALETTE = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
_MEMBER_COLOR = "#E69F00"
_NONMEMBER_COLOR = "#56B4E9"
_BUG_COLOR = "#C0392B"
_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"


def arm_color(name: str, index: int = 0) -> str:
    """The colour of an arm in every figure (baseline vermillion, dp blue)."""
    return _ARM_COLORS.get(name, _PALETTE[index % len(_PALETTE)])


def roc_figure(attack_name: str,
               curves: Sequence[tuple[str, AttackSummary]]) -> go.Figure | None:
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
        fig.add_trace(go.Scatter(
            x=list(fpr), y=list(tpr), mode="lines", name=_text(arm) + auc,
            line={"color": arm_color(arm, i), "width": 2},
            hovertemplate="FPR %{x:.3g}<br>TPR %{y:.3g}"))
    if not fig.data:
        return None
    floor = math.log10(lowest) - 0.1
    fig.add_trace(go.Scatter(x=[lowest, 1.0], y=[lowest, 1.0], mode="lines",
                             name="random guess", hoverinfo="skip",
                             line={"color": "#888888", "dash": "dash", "width": 1}))
    # Decades only: minor log ticks crowd a small plot.
    fig.update_xaxes(type="log", range=[floor, 0.02], dtick=1, exponentformat="power")
    fig.update_yaxes(type="log", range=[floor, 0.02], dtick=1, exponentformat="power")
    return fig


def score_histogram_figure(arm_name: str, attack: AttackSummary) -> go.Figure | None:
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
        fig.add_trace(go.Bar(x=centers, y=fractions, width=widths, name=label,
                             marker={"color": color, "line": {"width": 0}}, opacity=0.65,
                             hovertemplate="score %{x:.3g}: %{y:.1%}"))
    fig.update_layout(barmode="overlay", bargap=0)
    return fig


def epsilon_per_epoch_figure(arms: Sequence[ArmResult]) -> go.Figure | None:
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
        fig.add_trace(go.Scatter(
            x=list(range(1, len(eps) + 1)), y=eps, mode="lines+markers",
            name=f"{_text(arm.name)}: epsilon (RDP)", line={"color": color, "width": 2},
            hovertemplate="epoch %{x}: epsilon %{y:.3g}"))
        bounds = [a.epsilon_lower_bound for a in arm.attacks
                  if math.isfinite(a.epsilon_lower_bound)]
        if bounds and max(bounds) > 0:
            fig.add_trace(go.Scatter(
                x=[1, len(eps)], y=[max(bounds)] * 2, mode="lines",
                name=f"{_text(arm.name)}: strongest empirical lower bound",
                line={"color": color, "dash": "dot", "width": 1.5},
                hovertemplate="lower bound %{y:.3g}"))
    if not fig.data:
        return None
    fig.update_xaxes(rangemode="tozero", dtick=1 if len(fig.data[0].x) <= 20 else None)
    fig.update_yaxes(rangemode="tozero")
    return fig


def per_class_auc_figure(attack_name: str,
                         curves: Sequence[tuple[str, AttackSummary]]) -> go.Figure | None:
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
        fig.add_trace(go.Bar(
            x=[_text(c) for c in classes], y=[_none_if_nan(v - 0.5) for v in values],
            base=0.5, customdata=[_none_if_nan(v) for v in values], name=_text(arm),
            marker={"color": arm_color(arm, i)},
            hovertemplate="class %{x}: AUC %{customdata:.3f}"))
    if not fig.data:
        return None
    fig.add_hline(y=0.5, line={"color": "#888888", "dash": "dash", "width": 1})
    fig.update_xaxes(type="category")
    fig.update_layout(barmode="group")
    return fig


def theory_vs_evidence_figure(rows: Sequence[EvidenceRow]) -> go.Figure | None:
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
        fig.add_trace(go.Bar(
            x=[r.lower_bound for r in mine], y=[_text(r.arm) for r in mine], orientation="h",
            name=f"{_text(attack)}: lower bound",
            marker={"color": _PALETTE[i % len(_PALETTE)],
                    "line": {"color": [_BUG_COLOR if r.is_bug else "rgba(0,0,0,0)"
                                       for r in mine],
                             "width": [3 if r.is_bug else 0 for r in mine]}},
            hovertemplate="epsilon >= %{x:.3g}"))
    theory = {r.arm: r.theoretical_epsilon for r in rows
              if r.theoretical_epsilon is not None and math.isfinite(r.theoretical_epsilon)}
    if theory:
        fig.add_trace(go.Scatter(
            x=list(theory.values()), y=[_text(a) for a in theory], mode="markers",
            name="theoretical epsilon",
            marker={"symbol": "diamond", "size": 15, "color": "#222222",
                    "line": {"color": "#ffffff", "width": 1.5}},
            hovertemplate="theoretical epsilon %{x:.3g}"))
    if not fig.data:
        return None
    bounds = [r.lower_bound for r in rows if math.isfinite(r.lower_bound)]
    if bounds and max(bounds) <= 0:
        fig.add_annotation(text="no attack certifies any leakage: every lower bound is 0",
                           xref="paper", yref="paper", x=0.02, y=0.5, showarrow=False,
                           xanchor="left", font={"color": "#6b7280"})
    fig.update_xaxes(rangemode="tozero")
    fig.update_yaxes(type="category", categoryorder="array",
                     categoryarray=[_text(a) for a in reversed(arms)])
    fig.update_layout(barmode="group", height=170 + 70 * len(arms), bargap=0.3)
    return fig


@functools.lru_cache(maxsize=1)
def _style() -> go.layout.Template:
    """A small white theme: plotly's named templates cost ~20 ms per figure to apply."""
    axis = {"automargin": True, "gridcolor": "#EBF0F8", "linecolor": "#D5DCE6", "ticks": "",
            "zerolinecolor": "#EBF0F8", "zerolinewidth": 2, "title": {"standoff": 12}}
    return go.layout.Template(layout={
        "paper_bgcolor": "#ffffff", "plot_bgcolor": "#ffffff", "colorway": list(_PALETTE),
        "hoverlabel": {"align": "left"}, "xaxis": axis, "yaxis": axis})


def _figure(title: str, xtitle: str, ytitle: str) -> go.Figure:
    fig = go.Figure(layout={"template": _style()})
    fig.update_layout(
        height=340,
        title={"text": _text(title), "x": 0.01, "xanchor": "left", "y": 0.98,
               "yref": "container", "yanchor": "top", "font": {"size": 15}},
        font={"family": _FONT, "size": 12, "color": "#1f2937"},
        # The legend sits between the title and the plot, clear of the x-axis title
        # whatever the figure's height.
        margin={"l": 60, "r": 20, "t": 72, "b": 50},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "x": 0},
        hoverlabel={"font": {"family": _FONT}})
    fig.update_xaxes(title_text=xtitle)
    fig.update_yaxes(title_text=ytitle)
    return fig


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
