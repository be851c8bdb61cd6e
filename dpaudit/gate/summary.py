"""The gate's verdict as a Markdown step summary (`dpaudit gate --summary FILE`).

GitHub Actions shows the Markdown appended to the file named by `$GITHUB_STEP_SUMMARY` on
the run's page; a reviewer sees the verdict, each rule and the headline figures without
downloading the report. The file is appended to (other steps may have written to it) and
rewritten atomically, so a failure leaves the previous content intact.

Every string from the results (arm and attack names, messages) is escaped: GitHub renders
HTML inside step summaries, and a `|` would split a table cell.

Example:
    >>> text = markdown_summary(verdict, result)  # doctest: +SKIP
    >>> append_summary("summary.md", text)        # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

from dpaudit.errors import InputError
from dpaudit.files import atomic_write_text
from dpaudit.gate.rules import ALWAYS_ON, format_value
from dpaudit.gate.verdict import Verdict
from dpaudit.results import AuditResult

__all__ = ["markdown_summary", "append_summary"]

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "`": "\\`", "*": "\\*",
            "_": "\\_", "[": "\\[", "]": "\\]", "#": "\\#"}
_ESCAPE_RE = re.compile(r"[&<>|`*_\[\]#]")


def _md(text: object) -> str:
    """Text safe inside a Markdown table cell: no HTML, no cell breaks, one line."""
    flat = " ".join(str(text).split())
    return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], flat)


def _num(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.{digits}g}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{100 * x:.1f}%"


def _delta(x: float | None) -> str:
    """1e-05 -> "1e-5"."""
    if x is None or not math.isfinite(x):
        return "n/a"
    mantissa, exponent = f"{x:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _tpr_at_1pct(tpr_at_fpr: dict) -> float:
    for key, value in tpr_at_fpr.items():
        try:
            if math.isclose(float(key), 0.01):
                return value
        except (TypeError, ValueError):
            continue
    return math.nan


def markdown_summary(verdict: Verdict, result: AuditResult) -> str:
    """The verdict, each rule, and each arm's headline figures as GitHub Markdown.

    Args:
      verdict: the gate's verdict on `result`.
      result: the audit the verdict judged.

    Returns:
      Markdown text ending in a newline.
    """
    failed = verdict.failures
    n = len(verdict.rules)
    if failed:
        title = f"## ❌ dpaudit gate FAILED: {len(failed)} of {n} rules failed"
    else:
        title = f"## ✅ dpaudit gate passed: {n} rules checked, none failed"
    lines = [title, "", f"Policy: {_md(verdict.policy or 'none')}"]
    if not verdict.contradiction_check:
        lines += ["", "> **Warning:** the DP consistency check was OFF for this run."]
    lines += ["", "### Headline figures", "",
              "| arm | test accuracy | epsilon (theory) | strongest attack | AUC [95% CI] "
              "| TPR at 1% FPR | empirical epsilon lower bound |",
              "| --- | ---: | --- | --- | --- | ---: | ---: |"]
    for arm in result.arms:
        p = arm.privacy
        if arm.epsilon is None:
            eps = "none (no DP)"
        else:
            which = "PLD" if p.epsilon_pld is not None and p.epsilon_pld == arm.epsilon else "RDP"
            eps = f"{_num(arm.epsilon)} ({which}, delta {_delta(p.delta)})"
        best = arm.best_attack()
        tprs = [_tpr_at_1pct(a.tpr_at_fpr) for a in arm.attacks]
        tprs = [t for t in tprs if math.isfinite(t)]
        bounds = [a.epsilon_lower_bound for a in arm.attacks
                  if math.isfinite(a.epsilon_lower_bound)]
        auc = "n/a" if best is None else (
            f"{best.auc:.3f} [{_num(best.auc_ci[0])}, {_num(best.auc_ci[1])}]")
        lines.append(" | ".join([
            f"| {_md(arm.name)}",
            _pct(arm.utility.test_accuracy if arm.utility else None), eps,
            _md(best.name) if best else "n/a", auc,
            _pct(max(tprs)) if tprs else "n/a",
            (_num(max(bounds)) if bounds else "n/a") + " |"]))
    lines += ["", "### Rules", "", "| | arm | rule | measured | limit | reason |",
              "| --- | --- | --- | ---: | --- | --- |"]
    for o in verdict.rules:
        sign = "≥" if o.comparison == ">=" else "≤"
        limit = "" if math.isnan(o.limit) else f"{sign} {format_value(o.limit)}"
        origin = f" (from {o.origin})" if o.origin and o.origin != ALWAYS_ON else ""
        lines.append(f"| {'✅ pass' if o.passed else '❌ FAIL'} | {_md(o.arm)} | "
                     f"{_md(o.rule)} | {_md(format_value(o.measured))} | {_md(limit)} | "
                     f"{_md(o.message + origin)} |")
    if verdict.notes:
        lines += ["", "Notes:", ""] + [f"- {_md(note)}" for note in verdict.notes]
    return "\n".join(lines) + "\n"


def append_summary(path: str | os.PathLike, text: str) -> Path:
    """Appends `text` to the file at `path` (created if missing), atomically.

    Raises:
      InputError: `path` is a directory or cannot be read.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--summary {path}: is a directory; give a file, e.g. "
                         "\"$GITHUB_STEP_SUMMARY\"")
    try:
        before = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"--summary {path}: cannot read the existing file ({e})") from None
    if before and not before.endswith("\n"):
        before += "\n"
    atomic_write_text(path, before + ("\n" if before else "") + text)
    return path
