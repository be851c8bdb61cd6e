"""Audit results in MLflow (https://mlflow.org): one MLflow run per audit.

`log_audit` records what an ML team compares across model versions: the settings (every
config field, flattened, as parameters), each arm's utility and epsilon, every attack
metric (AUC and its interval, advantage, TPR at each fixed FPR, the empirical epsilon
lower bound), the gate's verdict, and results.json and report.html as artifacts. It
needs the optional extra (`pip install 'dpaudit[mlflow]'`). Metric names are
``<arm>.<what>``, e.g. ``dp.epsilon_rdp`` or ``baseline.loss_threshold.auc``; undefined
(NaN) metrics and missing epsilons are left out rather than logged as numbers.

Example:
    >>> run_id = log_audit(result, "dpaudit-out")  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping

from dpaudit.errors import InputError

__all__ = ["DEFAULT_TRACKING_DIR", "tracking_uri", "audit_params", "audit_metrics",
           "log_audit"]

logger = logging.getLogger(__name__)

#: Where `--mlflow` without a URI logs: a file store in the working directory.
DEFAULT_TRACKING_DIR = "mlruns"
_MAX_PARAM_CHARS = 500  # the smallest limit of the MLflow versions we support


def tracking_uri(uri: str | None) -> str:
    """The tracking URI for `--mlflow [URI]`: a URI as given, a path as a file store."""
    if not uri:
        uri = DEFAULT_TRACKING_DIR
    if "://" in uri or uri.startswith(("file:", "databricks")):
        return uri
    return Path(uri).resolve().as_uri()


def _flatten(prefix: str, value: Any, into: dict[str, str]) -> None:
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, into)
        return
    if isinstance(value, (list, tuple)):
        value = ",".join(str(v) for v in value)
    into[prefix] = str(value)[:_MAX_PARAM_CHARS]


def audit_params(result: Any) -> dict[str, str]:
    """Every config field of the run, flattened to `section.field` -> text."""
    params: dict[str, str] = {}
    _flatten("", dict(result.config), params)
    return params


def _put(metrics: dict[str, float], name: str, value: Any) -> None:
    if value is None:
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        return
    if math.isfinite(number):
        metrics[name] = number


def audit_metrics(result: Any) -> dict[str, float]:
    """Utility, epsilon and attack metrics of every arm, and the verdict (1 pass, 0 fail)."""
    metrics: dict[str, float] = {}
    for arm in result.arms:
        if arm.utility is not None:
            for field in ("train_accuracy", "test_accuracy", "train_loss", "test_loss"):
                _put(metrics, f"{arm.name}.{field}", getattr(arm.utility, field))
        if arm.privacy is not None:
            _put(metrics, f"{arm.name}.epsilon_rdp", arm.privacy.epsilon_rdp)
            _put(metrics, f"{arm.name}.epsilon_pld", arm.privacy.epsilon_pld)
            _put(metrics, f"{arm.name}.noise_multiplier", arm.privacy.noise_multiplier)
            _put(metrics, f"{arm.name}.steps", arm.privacy.steps)
        for attack in arm.attacks:
            at = f"{arm.name}.{attack.name}"
            _put(metrics, f"{at}.auc", attack.auc)
            _put(metrics, f"{at}.auc_ci_low", attack.auc_ci[0])
            _put(metrics, f"{at}.auc_ci_high", attack.auc_ci[1])
            _put(metrics, f"{at}.advantage", attack.advantage)
            _put(metrics, f"{at}.epsilon_lower_bound", attack.epsilon_lower_bound)
            for fpr, tpr in attack.tpr_at_fpr.items():
                _put(metrics, f"{at}.tpr_at_fpr_{fpr}", tpr)
    if result.verdict is not None:
        metrics["verdict_passed"] = 1.0 if result.verdict.get("passed") else 0.0
    return metrics


@contextlib.contextmanager
def _file_store_allowed(uri: str):
    """Lets MLflow 3.x write a file store, which it refuses unless opted in.

    A local folder is what `--mlflow` promises by default (no server, no database
    driver); the opt-in is scoped to this call.
    """
    name = "MLFLOW_ALLOW_FILE_STORE"
    if not uri.startswith("file:") or name in os.environ:
        yield
        return
    os.environ[name] = "true"
    try:
        yield
    finally:
        os.environ.pop(name, None)


def log_audit(result: Any, out_dir: str | Path, *, uri: str | None = None,
              experiment: str = "dpaudit", run_name: str | None = None) -> str:
    """Logs one finished audit as an MLflow run; returns the run id.

    Args:
      result: the `dpaudit.results.AuditResult` of the run.
      out_dir: the run's output folder; its results.json and report.html (when written)
        become artifacts.
      uri: tracking URI or folder (None: ./mlruns, a local file store).
      experiment: MLflow experiment name (created if missing).
      run_name: MLflow run name (None: MLflow picks one).

    Raises:
      InputError: MLflow not installed, or the tracking store refused the run.
    """
    try:
        import mlflow
    except ImportError:
        raise InputError("--mlflow needs MLflow: pip install 'dpaudit[mlflow]'") from None
    out = Path(out_dir)
    target = tracking_uri(uri)
    with _file_store_allowed(target):
        run_id = _log(mlflow, target, result, out, experiment, run_name)
    logger.info("logged audit to MLflow %s, run %s", target, run_id)
    return run_id


def _log(mlflow: Any, target: str, result: Any, out: Path, experiment: str,
         run_name: str | None) -> str:
    try:
        client = mlflow.MlflowClient(tracking_uri=target)
        found = client.get_experiment_by_name(experiment)
        experiment_id = (found.experiment_id if found is not None
                         else client.create_experiment(experiment))
        tags = {"dpaudit.schema_version": str(result.schema_version)}
        if result.verdict is not None:
            tags["dpaudit.verdict"] = "passed" if result.verdict.get("passed") else "failed"
        if run_name:
            tags["mlflow.runName"] = run_name
        run = client.create_run(experiment_id, tags=tags)
        run_id = run.info.run_id
        status = "FAILED"
        try:
            for key, value in audit_params(result).items():
                client.log_param(run_id, key, value)
            for key, value in audit_metrics(result).items():
                client.log_metric(run_id, key, value)
            for name in ("results.json", "report.html"):
                if (out / name).is_file():
                    client.log_artifact(run_id, str(out / name))
            status = "FINISHED"
        finally:
            client.set_terminated(run_id, status=status)
    except mlflow.exceptions.MlflowException as e:
        raise InputError(f"--mlflow {target}: {e}") from None
    return run_id
