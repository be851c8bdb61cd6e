"""Figures of how privacy evolved during training: epsilon and leakage per epoch.

Same conventions as `reports.figures` (plain plotly JSON, None when nothing to plot,
never raising on missing optional fields).
"""

from __future__ import annotations

import math
from typing import Sequence

from dpaudit.results import ArmResult

from .figures import Figure, _figure, _floats, _none_if_nan, _text, arm_color

__all__ = ["ACCOUNTANT_NAMES", "per_epoch_accountant", "headline_accountant",
           "epsilon_per_epoch_figure", "leakage_per_epoch_figure"]

ACCOUNTANT_NAMES = {"pld": "PLD", "rdp": "RDP"}


def per_epoch_accountant(arm: ArmResult) -> str:
    """"PLD" or "RDP": the accountant of the arm's per-epoch epsilons (RDP in old files)."""
    p = arm.privacy
    name = p.epsilon_per_epoch_accountant if p is not None else ""
    return ACCOUNTANT_NAMES.get(name, name.upper() or "RDP")


def headline_accountant(arm: ArmResult) -> str:
    """"PLD" or "RDP": the accountant whose epsilon is the headline's (the smaller)."""
    p = arm.privacy
    if p is None or arm.epsilon is None:
        return ""
    return "PLD" if p.epsilon_pld is not None and p.epsilon_pld == arm.epsilon else "RDP"


def epsilon_per_epoch_figure(arms: Sequence[ArmResult]) -> Figure | None:
    """Theoretical epsilon after each epoch for every DP arm, from one named accountant.

    The series ends at the headline's epsilon (dpaudit prices it with the headline's
    accountant, at a few epochs when that is the slower PLD). An older results file holds
    RDP epsilons per epoch while its headline may be PLD's: the headline's value is then
    marked at the last epoch, named, so the chart never disagrees with the headline
    silently. A dotted line marks the arm's strongest empirical lower bound on the final
    model, so the reader sees how much of the spent budget the attacks can demonstrate.
    """
    names = set()
    fig = _figure("Privacy budget spent per epoch", "epoch", "theoretical epsilon")
    for i, arm in enumerate(arms):
        if arm.privacy is None:
            continue
        eps = [_none_if_nan(e) for e in _floats(arm.privacy.epsilon_per_epoch)]
        if not any(e is not None for e in eps):
            continue
        color = arm_color(arm.name, i)
        accountant = per_epoch_accountant(arm)
        names.add(accountant)
        fig["data"].append({
            "type": "scatter", "x": list(range(1, len(eps) + 1)), "y": eps,
            "mode": "lines+markers", "connectgaps": True,
            "name": f"{_text(arm.name)}: epsilon ({accountant})",
            "line": {"color": color, "width": 2},
            "hovertemplate": f"epoch %{{x}}: epsilon %{{y:.3g}} ({accountant})"})
        last = next((e for e in reversed(eps) if e is not None), None)
        headline = arm.epsilon
        if headline is not None and last is not None and not math.isclose(
                last, headline, rel_tol=1e-9):
            which = headline_accountant(arm)
            names.add(which)
            fig["data"].append({
                "type": "scatter", "x": [len(eps)], "y": [headline], "mode": "markers",
                "name": f"{_text(arm.name)}: headline epsilon ({which})",
                "marker": {"symbol": "diamond", "size": 12, "color": color},
                "hovertemplate": f"headline epsilon %{{y:.3g}} ({which})"})
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
    fig["layout"]["title"]["text"] += f" ({' and '.join(sorted(names))} accountant)"
    fig["layout"]["xaxis"]["rangemode"] = "tozero"
    if len(fig["data"][0]["x"]) <= 20:
        fig["layout"]["xaxis"]["dtick"] = 1
    fig["layout"]["yaxis"]["rangemode"] = "tozero"
    return fig


def leakage_per_epoch_figure(arms: Sequence[ArmResult]) -> Figure | None:
    """A cheap attack's AUC on each arm's target during training, beside epsilon.

    TF Privacy's privacy report plots attack metrics per epoch; dpaudit records the
    loss-threshold attack (Yeom et al., CSF 2018) at a few epochs
    (`dpaudit.audit.checkpoints`). The left axis is its AUC (0.5: no leakage); the right
    axis the DP arms' epsilon at the same epochs, from the accountant named in the legend,
    ending at the headline's value.
    """
    fig = _figure("Leakage over training", "epoch", "attack AUC")
    attack = ""
    has_eps = False
    for i, arm in enumerate(arms):
        leak = arm.leakage_per_epoch or {}
        epochs = _floats(leak.get("epoch"))
        auc = _floats(leak.get("auc"))
        if not epochs or len(auc) != len(epochs):
            continue
        attack = str(leak.get("attack") or "attack")
        fig["data"].append({
            "type": "scatter", "x": epochs, "y": [_none_if_nan(a) for a in auc],
            "mode": "lines+markers", "name": f"{_text(arm.name)}: {_text(attack)} AUC",
            "line": {"color": arm_color(arm.name, i), "width": 2},
            "hovertemplate": "epoch %{x}: AUC %{y:.3f}"})
    if not fig["data"]:
        return None
    for i, arm in enumerate(arms):
        eps = _floats(arm.privacy.epsilon_per_epoch) if arm.privacy is not None else []
        points = [(e + 1, v) for e, v in enumerate(eps) if math.isfinite(v)]
        if not points:
            continue
        has_eps = True
        accountant = per_epoch_accountant(arm)
        fig["data"].append({
            "type": "scatter", "x": [p[0] for p in points], "y": [p[1] for p in points],
            "yaxis": "y2", "mode": "lines+markers",
            "name": f"{_text(arm.name)}: epsilon ({accountant})",
            "line": {"color": arm_color(arm.name, i), "dash": "dot", "width": 1.5},
            "marker": {"symbol": "square-open"},
            "hovertemplate": f"epoch %{{x}}: epsilon %{{y:.3g}} ({accountant})"})
    fig["layout"]["title"]["text"] = f"Leakage over training: {_text(attack)} attack"
    fig["layout"]["xaxis"]["rangemode"] = "tozero"
    if has_eps:
        fig["layout"]["yaxis2"] = {"overlaying": "y", "side": "right", "rangemode": "tozero",
                                   "tickmode": "auto",
                                   "showgrid": False, "automargin": True,
                                   "title": {"text": "theoretical epsilon"}}
        fig["layout"]["margin"]["r"] = 60
    return fig
