"""What the audit commands (train-and-attack, attack, canary-audit) share.

Config flags generated from the config's field table, the policy option, and the
end of a run: summary table, output paths, DP-violation lines and the gate's exit code.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Callable

import click

from dpaudit.config import FLAGS
from dpaudit.errors import GateFailed

__all__ = ["setting_options", "config_from_options", "load_policy_option", "mlflow_option",
           "check_mlflow_option", "log_mlflow_option",
           "quiet_third_party_logs", "finish_run", "summary_table", "fmt"]

_CLICK_TYPES = {"int": click.INT, "float": click.FLOAT, "str": click.STRING,
                "ints": click.STRING, "strs": click.STRING}
_PREFIX = "setting__"


def setting_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Adds one option per config field; a value of None means "not given"."""
    for key, (flag, kind, help_text) in reversed(list(FLAGS.items())):
        dest = _PREFIX + key.replace(".", "__")
        base = kind.rstrip("?")
        if base == "bool":
            name = flag[2:]
            option = click.option(f"--{name}/--no-{name}", dest, default=None,
                                  help=f"{help_text} [{key}]")
        else:
            option = click.option(flag, dest, type=_CLICK_TYPES[base], default=None,
                                  help=f"{help_text} [{key}]")
        function = option(function)
    return function


def config_from_options(config_path: Path | None, settings: dict[str, Any]):
    """The validated AuditConfig: `--config` file, then the flags of `setting_options`."""
    from dpaudit.config import load_config

    overrides = {key.removeprefix(_PREFIX).replace("__", "."): value
                 for key, value in settings.items()}
    return load_config(config_path, overrides)


def load_policy_option(policy_path: Path | None):
    """Loads `--policy` before any training, so a bad policy fails in seconds."""
    if policy_path is None:
        return None
    from dpaudit.gate import load_policy

    return load_policy(policy_path)


def mlflow_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """`--mlflow [URI]`: log the run to MLflow (no URI: the file store ./mlruns)."""
    return click.option(
        "--mlflow", "mlflow_uri", is_flag=False, flag_value="mlruns", default=None,
        metavar="[URI]",
        help="Log settings, metrics, verdict, results.json and report.html to MLflow: a "
             "tracking URI, or a folder for a local file store (default ./mlruns). Needs "
             "pip install 'dpaudit[mlflow]'.")(function)


def check_mlflow_option(mlflow_uri: str | None) -> None:
    """Fails before any training when --mlflow is given but MLflow is not installed."""
    import importlib.util

    from dpaudit.errors import InputError

    if mlflow_uri is None:
        return
    try:
        missing = importlib.util.find_spec("mlflow") is None
    except ValueError:  # a module entry without a spec: treat as absent
        missing = True
    if missing:
        raise InputError("--mlflow needs MLflow: pip install 'dpaudit[mlflow]'")


def log_mlflow_option(result: Any, out_dir: Path, mlflow_uri: str | None, *,
                      quiet: bool) -> None:
    """Logs the finished run to MLflow when --mlflow was given."""
    if mlflow_uri is None:
        return
    from dpaudit.tracking import log_audit, tracking_uri

    run_id = log_audit(result, out_dir, uri=mlflow_uri)
    if not quiet:
        click.echo(f"MLflow: run {run_id} in {tracking_uri(mlflow_uri)}", err=True)


def quiet_third_party_logs() -> None:
    """Keeps absl's and TensorFlow's Python-side chatter out of the terminal.

    dp-accounting logs "failed to converge" for RDP orders it drops (which can only
    raise epsilon); --debug shows it all.
    """
    if logging.getLogger().level > logging.DEBUG:
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)


def finish_run(result: Any, out_dir: Path, *, quiet: bool, summary: str | None = None) -> None:
    """Prints the run's summary and outputs, any DP violation, and the gate's verdict.

    Raises GateFailed (exit 1) when a gate ran and failed.
    """
    from dpaudit.evidence import contradictions

    if not quiet:
        click.echo(summary if summary is not None else summary_table(result))
        click.echo(f"results: {out_dir / 'results.json'}")
        if (out_dir / "report.html").is_file():
            click.echo(f"report:  {out_dir / 'report.html'}")
    for found in contradictions(result):
        click.secho(f"DP VIOLATION: {found}", fg="red", err=True)
    if result.verdict is None:
        return
    from dpaudit.gate import Verdict

    verdict = Verdict.from_dict(result.verdict)
    if not quiet or not verdict.passed:
        click.echo(verdict.format_text())
    if not verdict.passed:
        raise GateFailed()


def fmt(value: float | None, digits: int = 3) -> str:
    """A number for a terminal table; None and NaN read "n/a"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}f}"


def summary_table(result: Any) -> str:
    """The end-of-run table: per arm, utility, theoretical epsilon and the best attack."""
    header = ("arm", "test acc", "epsilon (theory)", "best attack", "AUC",
              "TPR@1%FPR", "TPR@10%FPR", "epsilon lower bound")
    rows = [header]
    for arm in result.arms:
        best = arm.best_attack()
        bounds = [a.epsilon_lower_bound for a in arm.attacks
                  if not math.isnan(a.epsilon_lower_bound)]
        rows.append((
            arm.name,
            fmt(arm.utility.test_accuracy if arm.utility else None),
            "none (no DP)" if arm.epsilon is None else fmt(arm.epsilon, 2),
            best.name if best else "n/a",
            f"{best.auc:.3f} [{best.auc_ci[0]:.2f}, {best.auc_ci[1]:.2f}]" if best else "n/a",
            fmt(best.tpr_at_fpr.get("0.01")) if best else "n/a",
            fmt(best.tpr_at_fpr.get("0.1")) if best else "n/a",
            fmt(max(bounds), 2) if bounds else "n/a",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if any(math.isnan(a.tpr_at_fpr.get("0.01", math.nan)) for arm in result.arms
           for a in arm.attacks):
        lines.append("n/a TPR: too few non-members to resolve that FPR (10 / FPR needed)")
    return "\n".join(lines)
