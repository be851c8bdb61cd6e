"""AuditResult -> a self-contained HTML report (no TensorFlow).

Example:
  >>> from dpaudit.results import load_results
  >>> from reports import write_report
  >>> write_report(load_results("runs/demo/results.json"), "report.html")  # doctest: +SKIP
"""

from .render import render_html, write_report

__all__ = ["render_html", "write_report"]
