"""What an audit writes: scores.csv, report.html, results.json, and checks on them.

The three are staged and swapped in together (`write_outputs`); results.json goes last, so
its presence means the run finished; an interrupted run leaves the previous run's files
intact and unmixed.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import platform
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Iterable

from dpaudit.evidence import contradictions
from dpaudit.files import atomic_write_text
from dpaudit.results import AuditResult, save_results
from dpaudit.run_folder import STAGING_PREFIX, commit_staged

__all__ = ["environment", "write_scores", "write_outputs", "warn_contradictions"]

logger = logging.getLogger(__name__)

_PACKAGES = ("dpaudit", "tensorflow", "tensorflow-cpu", "keras", "numpy", "dp-accounting",
             "scikit-learn")


def environment(seed: int) -> dict[str, object]:
    """Versions, device and seed; deliberately no date, so equal runs give equal files."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import tensorflow as tf

        gpus = [d.name for d in tf.config.list_physical_devices("GPU")]
    except Exception:  # noqa: BLE001 - environment info must never fail the audit
        gpus = []
    return {"python": platform.python_version(), "platform": platform.platform(),
            "packages": versions, "device": ", ".join(gpus) if gpus else "CPU",
            "seed": int(seed)}


def write_scores(path: Path, rows: Iterable[tuple[str, str, int, int, float]]) -> None:
    """scores.csv: arm, attack, example_id, is_member, score (repr floats: round-trip exact)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["arm", "attack", "example_id", "is_member", "score"])
    for arm, attack, example_id, is_member, score in rows:
        writer.writerow([arm, attack, example_id, is_member,
                         repr(float(score)) if math.isfinite(score) else ""])
    atomic_write_text(path, buffer.getvalue())


def warn_contradictions(result: AuditResult) -> None:
    """Logs every contradiction `dpaudit.evidence.contradictions` finds."""
    for found in contradictions(result):
        logger.warning("%s", found)


def write_outputs(result: AuditResult, score_rows: list, out: Path, *, report: bool) -> None:
    """scores.csv, report.html (when wanted) and results.json, swapped into `out` together.

    They are written into a staging folder inside `out` first; only when all three are
    complete are they moved into place (`dpaudit.run_folder.commit_staged`). A Ctrl-C or a
    full disk while writing leaves `out` as it was: the previous run's outputs, not a mix.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=out))
    try:
        write_scores(staging / "scores.csv", score_rows)
        if report:
            write_report(result, staging / "report.html")
        save_results(result, staging / "results.json")
        commit_staged(staging, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_report(result: AuditResult, path: Path) -> Path | None:
    """The HTML report via reports.write_report; skipped with a log line if unavailable."""
    try:
        from dpaudit.reports import write_report as _write
    except ImportError:
        logger.warning("report.html skipped: the reports package has no write_report yet")
        return None
    return _write(result, path)
