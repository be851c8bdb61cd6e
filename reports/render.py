"""AuditResult -> one self-contained HTML page (plotly figures in a jinja2 template).

The page embeds plotly.js once and everything else inline: it opens offline from file://
and makes no network request. Every string from the results is escaped by jinja2's
autoescape; figure JSON is escaped for <script> context (see `reports._embed`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import logging
import os
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from dpaudit import __version__
from dpaudit.errors import InputError
from dpaudit.files import atomic_write_text
from dpaudit.results import AuditResult

from . import _context, _embed, _views, figures, figures_training
from . import _format as fmt
from .evidence import compare_arm

__all__ = ["render_html", "write_report"]

logger = logging.getLogger(__name__)


def render_html(result: AuditResult, *, generated_at: _dt.datetime | None = None) -> str:
    """Renders the audit report for `result` as a complete HTML document.

    Args:
      result: an audit result, e.g. from `dpaudit.results.load_results`.
      generated_at: the report's date (default: now). results.json carries no date, so
        that equal runs give equal files; pass a fixed time for a reproducible page.

    Returns:
      The HTML text (several MB: it embeds plotly.js).

    Example:
      >>> from dpaudit.results import load_results
      >>> html = render_html(load_results("runs/demo/results.json"))  # doctest: +SKIP
    """
    generated_at = generated_at or _dt.datetime.now(_dt.timezone.utc)
    evidence = [row for arm in result.arms for row in compare_arm(arm)]
    plots = _Plots()
    attack_names = list(dict.fromkeys(a.name for arm in result.arms for a in arm.attacks))

    def by_attack(name: str):
        return [(arm.name, a) for arm in result.arms for a in arm.attacks if a.name == name]

    guarantees = {arm.name: arm.privacy.epsilon_delta_curve for arm in result.arms
                  if arm.epsilon is not None and arm.privacy.epsilon_delta_curve}

    context: dict[str, Any] = {
        "dpaudit_version": __version__,
        "css": _embed.stylesheet(),
        "plotly_js": _embed.plotly_js(),
        "init_js": Markup(_embed.INIT_JS),
        "csp": _embed.content_security_policy(),
        "headline": _context.headline(result, evidence),
        "verdict": _views.verdict_view(result.verdict),
        "generated": _context.format_date(generated_at),
        "summary": _context.run_summary(result, generated_at=generated_at),
        "arms": _context.arm_rows(result),
        "attacks": _context.attack_rows(result),
        "evidence": _context.evidence_view(result),
        "accounting": _context.accounting_view(result),
        "exposed": _views.exposed_view(result),
        "config": list(fmt.flatten(result.config)),
        "environment": list(fmt.flatten(result.environment)),
        "data": list(fmt.flatten(result.data)),
        "provenance": list(fmt.flatten(result.provenance)),
        "timings": [(k, f"{v:.1f} s" if fmt.finite(v) else fmt.value(v))
                    for k, v in (result.timings or {}).items()],
        "schema_version": result.schema_version,
        "theory_plot": plots.add(figures.theory_vs_evidence_figure(evidence)),
        "roc_plots": plots.add_all(figures.roc_figure(n, by_attack(n), guarantees)
                                   for n in attack_names),
        "has_guarantee_curve": bool(guarantees),
        "histogram_plots": plots.add_all(
            figures.score_histogram_figure(arm.name, a)
            for arm in result.arms for a in arm.attacks),
        "epsilon_plot": plots.add(figures_training.epsilon_per_epoch_figure(result.arms)),
        "leakage_plot": plots.add(figures_training.leakage_per_epoch_figure(result.arms)),
        "leakage_rows": _views.leakage_rows(result),
        "per_class_plots": plots.add_all(
            figures.per_class_auc_figure(n, by_attack(n)) for n in attack_names),
    }
    context["plots"] = plots.all
    return _template().render(**context)


def write_report(result: AuditResult, path: str | os.PathLike, *,
                 generated_at: _dt.datetime | None = None) -> Path:
    """Renders the report and writes it to `path` atomically; returns the path.

    `generated_at` is passed to `render_html`.

    A failure while rendering or writing leaves no file (and any previous report intact).

    Raises:
      InputError: when `path` is an existing directory.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the report's file name, "
                         "e.g. report.html")
    html = render_html(result, generated_at=generated_at)
    atomic_write_text(path, html)
    logger.info("wrote %s (%.1f MB)", path, len(html) / 1e6)
    return path


class _Plots:
    """Gives each figure a page-unique element id and keeps its script-safe JSON."""

    def __init__(self) -> None:
        self.all: list[dict[str, str]] = []

    def add(self, fig) -> dict[str, str] | None:
        if fig is None:
            return None
        plot = {"id": f"plot-{len(self.all) + 1}", "json": _embed.figure_json(fig)}
        self.all.append(plot)
        return plot

    def add_all(self, figs) -> list[dict[str, str]]:
        return [p for p in (self.add(f) for f in figs) if p is not None]


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader(__package__, "templates"),
        autoescape=True,  # every string from the results is user-controlled
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html")
