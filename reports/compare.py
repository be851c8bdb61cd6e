"""Several audits on one page: how candidate models compare before a release.

`dpaudit report a/results.json b/results.json ...` writes this page. Each run's arms are
placed on the privacy-utility plane (test accuracy against epsilon), where a DP arm's
epsilon is drawn as the interval from the strongest attack's empirical lower bound (what
the evidence proves) to the accountant's epsilon (what theory promises); an arm without
DP has only the lower bound. A second figure shows each attack's TPR at 1% FPR per run,
the metric membership-inference work reports first (Carlini et al., "Membership
inference attacks from first principles", S&P 2022, https://arxiv.org/abs/2112.03570).
A table lists what exactly each run audited (date, hashes) beside its headline numbers.

Example:
    >>> from dpaudit.results import load_results
    >>> runs = [("v1", load_results("a/results.json")), ("v2", load_results("b/results.json"))]
    >>> write_comparison(runs, "comparison.html")  # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import os
from pathlib import Path
from typing import Sequence

import jinja2
from markupsafe import Markup

from dpaudit import __version__
from dpaudit.errors import InputError
from dpaudit.files import atomic_write_text
from dpaudit.results import ArmResult, AuditResult

from . import _embed
from . import _format as fmt
from ._context import format_date
from .figures import _PALETTE, Figure, _figure, _text
from .figures_training import headline_accountant

__all__ = ["render_comparison", "write_comparison", "privacy_utility_figure",
           "tpr_per_run_figure", "run_label"]

Run = tuple[str, AuditResult]


def run_label(path: str | os.PathLike, taken: Sequence[str] = ()) -> str:
    """A short name for a results file: its folder's name ("runs/v2/results.json" -> "v2"),
    made unique against `taken` with a counter."""
    path = Path(path)
    base = path.parent.name if path.name == "results.json" and path.parent.name else path.stem
    label, k = base, 2
    while label in taken:
        label, k = f"{base} ({k})", k + 1
    return label


def _strongest_bound(arm: ArmResult) -> float:
    bounds = [a.epsilon_lower_bound for a in arm.attacks if math.isfinite(a.epsilon_lower_bound)]
    return max(bounds) if bounds else math.nan


def privacy_utility_figure(runs: Sequence[Run]) -> Figure | None:
    """Test accuracy against epsilon, one marker per (run, arm).

    A DP arm sits at its theoretical epsilon with a bar reaching left to its strongest
    empirical lower bound; an arm without DP sits (hollow) at its lower bound only, since
    it has no guarantee.
    """
    fig = _figure("Privacy–utility: test accuracy vs epsilon", "epsilon (empirical lower "
                  "bound to theoretical)", "test accuracy")
    for i, (label, result) in enumerate(runs):
        color = _PALETTE[i % len(_PALETTE)]
        for arm in result.arms:
            acc = arm.utility.test_accuracy if arm.utility else math.nan
            bound = _strongest_bound(arm)
            if not math.isfinite(acc):
                continue
            name = f"{_text(label)} · {_text(arm.name)}"
            if arm.epsilon is not None and math.isfinite(arm.epsilon):
                low = bound if math.isfinite(bound) else arm.epsilon
                fig["data"].append({
                    "type": "scatter", "x": [arm.epsilon], "y": [acc], "mode": "markers",
                    "name": name, "marker": {"color": color, "size": 11, "symbol": "circle"},
                    "error_x": {"type": "data", "symmetric": False, "array": [0],
                                "arrayminus": [max(arm.epsilon - low, 0.0)],
                                "color": color, "thickness": 2, "width": 6},
                    "customdata": [[_eps(bound), headline_accountant(arm)]],
                    "hovertemplate": "epsilon %{x:.3g} (%{customdata[1]}), proven ≥ "
                                     "%{customdata[0]}<br>test accuracy %{y:.1%}"})
            elif math.isfinite(bound):
                fig["data"].append({
                    "type": "scatter", "x": [bound], "y": [acc], "mode": "markers",
                    "name": f"{name} (no DP: lower bound only)",
                    "marker": {"color": color, "size": 11, "symbol": "circle-open",
                               "line": {"width": 2}},
                    "hovertemplate": "no guarantee; proven epsilon ≥ %{x:.3g}"
                                     "<br>test accuracy %{y:.1%}"})
    if not fig["data"]:
        return None
    fig["layout"]["xaxis"]["rangemode"] = "tozero"
    fig["layout"]["yaxis"]["tickformat"] = ".0%"
    fig["layout"]["height"] = 420
    return fig


def tpr_per_run_figure(runs: Sequence[Run], fpr: float = 0.01) -> Figure | None:
    """Each attack's TPR at `fpr` per (run, arm), as grouped bars (gaps where the run had
    too few non-members to resolve that FPR)."""
    columns = [(label, arm) for label, result in runs for arm in result.arms]
    attacks = list(dict.fromkeys(a.name for _, arm in columns for a in arm.attacks))
    fig = _figure(f"TPR at {fpr:.0%} FPR per run", "run · model", f"TPR at {fpr:.0%} FPR")
    def resolvable(arm: ArmResult) -> bool:
        return any(fmt.finite(fmt.tpr_at(a.tpr_at_fpr, fpr)) for a in arm.attacks)

    # A run without a bar must say why rather than read as "TPR 0".
    x = [f"{_text(label)} · {_text(arm.name)}"
         + ("" if resolvable(arm) else " (n/a: too few non-members)") for label, arm in columns]
    for i, name in enumerate(attacks):
        values = []
        for _, arm in columns:
            hit = next((a for a in arm.attacks if a.name == name), None)
            tpr = fmt.tpr_at(hit.tpr_at_fpr, fpr) if hit is not None else math.nan
            values.append(tpr if fmt.finite(tpr) else None)
        if not any(v is not None for v in values):
            continue
        fig["data"].append({"type": "bar", "x": x, "y": values, "name": _text(name),
                            "marker": {"color": _PALETTE[i % len(_PALETTE)]},
                            "hovertemplate": "%{x}: TPR %{y:.1%}"})
    if not fig["data"]:
        return None
    fig["layout"].update(barmode="group")
    fig["layout"]["xaxis"]["type"] = "category"
    fig["layout"]["yaxis"]["tickformat"] = ".0%"
    return fig


def _eps(x: float | None) -> str:
    return f"{x:.3g}" if fmt.finite(x) else fmt.NA


def _rows(runs: Sequence[Run]) -> list[dict[str, str]]:
    rows = []
    for label, result in runs:
        prov = result.provenance if isinstance(result.provenance, dict) else {}
        digest = prov.get("data_sha256")
        for arm in result.arms:
            best = arm.best_attack()
            tprs = [fmt.tpr_at(a.tpr_at_fpr, 0.01) for a in arm.attacks]
            tprs = [t for t in tprs if fmt.finite(t)]
            p = arm.privacy
            rows.append({
                "run": label, "arm": arm.name,
                "date": fmt.value(format_date(prov.get("started_at"))),
                "data": f"{digest[:12]}…" if isinstance(digest, str) else fmt.NA,
                "test_accuracy": fmt.pct(arm.utility.test_accuracy if arm.utility else None),
                "epsilon": (f"{arm.epsilon:.3g} ({headline_accountant(arm)}, δ "
                            f"{fmt.delta(p.delta)})" if arm.epsilon is not None else "none"),
                "noise": fmt.value(p.noise_multiplier) if p is not None else fmt.NA,
                "auc": (f"{fmt.num(best.auc)} {fmt.interval(best.auc_ci, 2)}"
                        if best is not None else fmt.NA),
                "tpr_1": fmt.pct(max(tprs)) if tprs else fmt.NA,
                "bound": _eps(_strongest_bound(arm)),
            })
    return rows


def render_comparison(runs: Sequence[Run], *,
                      generated_at: _dt.datetime | None = None) -> str:
    """The comparison page for `runs`, (label, AuditResult) pairs, as one HTML document.

    Raises:
      InputError: fewer than one run.
    """
    if not runs:
        raise InputError("give at least one results file to compare")
    generated_at = generated_at or _dt.datetime.now(_dt.timezone.utc)
    plots = []
    for fig in (privacy_utility_figure(runs), tpr_per_run_figure(runs)):
        if fig is not None:
            plots.append({"id": f"plot-{len(plots) + 1}", "json": _embed.figure_json(fig)})
    return _template().render(
        dpaudit_version=__version__, css=_embed.stylesheet(), plotly_js=_embed.plotly_js(),
        init_js=Markup(_embed.INIT_JS), csp=_embed.content_security_policy(),
        generated=format_date(generated_at), rows=_rows(runs), plots=plots,
        labels=[label for label, _ in runs])


def write_comparison(runs: Sequence[Run], path: str | os.PathLike, *,
                     generated_at: _dt.datetime | None = None) -> Path:
    """Renders the comparison page and writes it to `path` atomically; returns the path."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the page's file name, "
                         "e.g. comparison.html")
    atomic_write_text(path, render_comparison(runs, generated_at=generated_at))
    return path


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True, undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    return env.get_template("compare.html")
