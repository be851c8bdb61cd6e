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
from typing import Any, Mapping, Sequence

from dpaudit.results import AttackSummary

from . import _theory
from .evidence import EvidenceRow

__all__ = ["Figure", "roc_figure", "score_histogram_figure", "per_class_auc_figure",
           "per_class_intervals", "theory_vs_evidence_figure", "arm_color"]

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


def roc_figure(attack_name: str, curves: Sequence[tuple[str, AttackSummary]],
               guarantees: Mapping[str, Mapping[str, Sequence[float]]] | None = None
               ) -> Figure | None:
    """ROC curves of one attack against each arm, on log-log axes.

    The low-FPR corner is where a membership attack matters (Carlini et al., 2022,
    "Membership inference attacks from first principles", https://arxiv.org/abs/2112.03570),
    so both axes are logarithmic; points with FPR or TPR of 0 cannot be drawn there and are
    dropped. The diagonal is a random guess.

    For each arm in `guarantees` (the DP arms) the highest ROC its accountant's
    (epsilon, delta) curve allows is drawn dashed in the arm's colour (`reports._theory`,
    Kairouz et al. 2015); measured points whose TPR is above it with the attack's
    confidence are marked with a red cross: the guarantee is contradicted there.

    Args:
      attack_name: shown in the title.
      curves: (arm name, that arm's summary of this attack) pairs.
      guarantees: {arm name: {"delta": [...], "epsilon": [...]}} for arms with DP.
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
    for i, (arm, attack) in enumerate(curves):
        curve = (guarantees or {}).get(arm)
        if curve:
            fig["data"].extend(_ceiling_traces(arm, i, attack, curve, lowest))
    floor = math.log10(lowest) - 0.1
    fig["data"].append({"type": "scatter", "x": [lowest, 1.0], "y": [lowest, 1.0],
                        "mode": "lines", "name": "random guess", "hoverinfo": "skip",
                        "line": dict(_GUIDE)})
    # Decades only: minor log ticks crowd a small plot.
    for axis in ("xaxis", "yaxis"):
        fig["layout"][axis].update(type="log", range=[floor, 0.02], dtick=1,
                                   exponentformat="power")
    return fig


def _ceiling_traces(arm: str, index: int, attack: AttackSummary,
                    curve: Mapping[str, Sequence[float]], lowest: float) -> list[dict]:
    eps, deltas = _floats(curve.get("epsilon")), _floats(curve.get("delta"))
    pairs = [(e, d) for e, d in zip(eps, deltas) if math.isfinite(e) and math.isfinite(d)]
    if not pairs or len(eps) != len(deltas):
        return []
    grid = [10 ** (math.log10(lowest) + k * (0 - math.log10(lowest)) / 80) for k in range(81)]
    ceiling = _theory.roc_ceiling(grid, *zip(*pairs)).tolist()
    traces = [{"type": "scatter", "x": grid, "y": ceiling, "mode": "lines",
               "name": f"{_text(arm)}: highest ROC its guarantee allows",
               "line": {"color": arm_color(arm, index), "dash": "dash", "width": 1.5},
               "hovertemplate": "guarantee allows TPR ≤ %{y:.3g} at FPR %{x:.3g}"}]
    confidence = attack.confidence if math.isfinite(attack.confidence) else 0.95
    bad = _theory.contradicting_points(
        {"fpr": _floats((attack.roc or {}).get("fpr")),
         "tpr": _floats((attack.roc or {}).get("tpr"))},
        {"epsilon": [e for e, _ in pairs], "delta": [d for _, d in pairs]},
        n_members=attack.n_members, n_nonmembers=attack.n_nonmembers, confidence=confidence)
    if bad:
        traces.append({"type": "scatter", "x": [f for f, _ in bad], "y": [t for _, t in bad],
                       "mode": "markers", "name": f"{_text(arm)}: above the guarantee "
                       f"({100 * confidence:.3g}% confidence): contradiction",
                       "marker": {"symbol": "x", "size": 10, "color": _BUG_COLOR},
                       "hovertemplate": "CONTRADICTION: FPR %{x:.3g}, TPR %{y:.3g}"})
    return traces


def score_histogram_figure(arm_name: str, attack: AttackSummary) -> Figure | None:
    """Member vs non-member distribution of one attack's scores on one arm.

    The x axis is the score's percentile among all examples (members and non-members
    pooled), each bin as wide as its share of them: a memorising model puts nearly every
    loss near 0, where a linear score axis shows one bar, while percentiles spread the
    examples over the axis, so where members outrank non-members is visible. dpaudit
    stores bins at the pooled quantiles (equal widths here); older linear bins are drawn
    on the same axis. Bars show the fraction of each group per bin, so groups of
    different sizes compare; hovering shows the bin's score range.
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
    pooled = [(m if math.isfinite(m) else 0.0) + (n if math.isfinite(n) else 0.0)
              for m, n in zip(members, nonmembers)]
    total = sum(pooled)
    if total <= 0:
        return None
    starts, share = [], 0.0
    for count in pooled:
        starts.append(100 * share)
        share += count / total
    widths = [100 * c / total for c in pooled]
    keep = [i for i, w in enumerate(widths) if w > 0]
    ranges = [f"{edges[i]:.3g} to {edges[i + 1]:.3g}" for i in keep]
    fig = _figure(f"{arm_name}: {attack.name}",
                  "score percentile, all examples (higher: more likely a member)",
                  "fraction of group")
    for label, counts, color in (("members", members, _MEMBER_COLOR),
                                 ("non-members", nonmembers, _NONMEMBER_COLOR)):
        group = sum(c for c in counts if math.isfinite(c))
        fractions = [counts[i] / group if group > 0 and math.isfinite(counts[i]) else None
                     for i in keep]
        fig["data"].append({"type": "bar", "x": [starts[i] + widths[i] / 2 for i in keep],
                            "y": fractions, "width": [widths[i] for i in keep],
                            "customdata": ranges, "name": label, "opacity": 0.65,
                            "marker": {"color": color, "line": {"width": 0}},
                            "hovertemplate": "scores %{customdata}: %{y:.1%}"})
    fig["layout"].update(barmode="overlay", bargap=0)
    fig["layout"]["xaxis"].update(range=[0, 100], ticksuffix="%")
    return fig


def per_class_auc_figure(attack_name: str,
                         curves: Sequence[tuple[str, AttackSummary]]) -> Figure | None:
    """Attack AUC on each class's examples with its 95% interval, from the 0.5 of a guess.

    A class holds only a few members, so its AUC is noisy: each bar carries the
    Hanley-McNeil interval (`per_class_intervals`), and classes whose interval spans 0.5
    are left out (they show no leakage distinguishable from chance); the title says how
    many. Without the class sizes (older results) no interval can be given and nothing is
    drawn.
    """
    fig = _figure(f"Per-class AUC: {attack_name}", "class", "attack AUC (95% interval)")
    classes: list[str] = []
    shown: dict[str, dict[str, tuple[float, float, float]]] = {}
    hidden = total = 0
    for arm, attack in curves:
        rows = per_class_intervals(attack)
        total += len(attack.per_class_auc or {})
        kept = {c: v for c, v in rows.items() if not (v[1] <= 0.5 <= v[2])}
        hidden += len(attack.per_class_auc or {}) - len(kept)
        shown[arm] = kept
        classes += [c for c in kept if c not in classes]
    classes.sort(key=_class_order)
    for i, (arm, _) in enumerate(curves):
        kept = shown.get(arm) or {}
        if not kept:
            continue
        values = [kept.get(c, (math.nan,) * 3) for c in classes]
        fig["data"].append({
            "type": "bar", "x": [_text(c) for c in classes],
            "y": [_none_if_nan(v[0] - 0.5) for v in values], "base": 0.5,
            "error_y": {"type": "data", "symmetric": False,
                        "array": [_none_if_nan(v[2] - v[0]) for v in values],
                        "arrayminus": [_none_if_nan(v[0] - v[1]) for v in values],
                        "color": "#374151", "thickness": 1.2, "width": 4},
            "customdata": [[_none_if_nan(x) for x in v] for v in values], "name": _text(arm),
            "marker": {"color": arm_color(arm, i)},
            "hovertemplate": "class %{x}: AUC %{customdata[0]:.3f} "
                             "[%{customdata[1]:.3f}, %{customdata[2]:.3f}]"})
    if not fig["data"]:
        return None
    if hidden:
        # Said under the axis: a longer title is clipped in a half-width plot.
        fig["layout"]["xaxis"]["title"]["text"] = (f"class ({hidden} of {total} class "
                                                   "results hidden: interval spans 0.5)")
    fig["layout"]["shapes"] = [{"type": "line", "xref": "paper", "x0": 0, "x1": 1,
                                "yref": "y", "y0": 0.5, "y1": 0.5, "line": dict(_GUIDE)}]
    fig["layout"]["xaxis"]["type"] = "category"
    fig["layout"]["barmode"] = "group"
    return fig


def per_class_intervals(attack: AttackSummary, z: float = 1.959964
                        ) -> dict[str, tuple[float, float, float]]:
    """{class: (auc, low, high)} with the Hanley-McNeil normal interval at level z.

    Hanley & McNeil, "The meaning and use of the area under a ROC curve", Radiology 1982:
    Var(AUC) = (A(1-A) + (m-1)(Q1-A^2) + (n-1)(Q2-A^2)) / (m n), Q1 = A/(2-A),
    Q2 = 2A^2/(1+A), for m members and n non-members. Classes without recorded sizes,
    with an empty group or a NaN AUC are left out.
    """
    out = {}
    counts = attack.per_class_counts or {}
    for label, auc in (attack.per_class_auc or {}).items():
        sizes = counts.get(label)
        if not sizes or len(sizes) != 2 or not math.isfinite(auc):
            continue
        m, n = int(sizes[0]), int(sizes[1])
        if m < 1 or n < 1:
            continue
        q1, q2 = auc / (2 - auc), 2 * auc ** 2 / (1 + auc)
        var = (auc * (1 - auc) + (m - 1) * (q1 - auc ** 2) + (n - 1) * (q2 - auc ** 2)) / (m * n)
        half = z * math.sqrt(max(var, 0.0))
        out[str(label)] = (auc, max(0.0, auc - half), min(1.0, auc + half))
    return out


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
