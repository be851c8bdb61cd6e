"""`dpaudit train-and-attack`: train a DP model and its baseline, attack both, report.

Every setting of the configuration (dpaudit.config) has a flag here, generated from the
config's field table, so a flag always overrides the same field of `--config`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable

import click

from dpaudit.config import FLAGS
from dpaudit.errors import GateFailed

__all__ = ["train_and_attack", "summary_table"]

_CLICK_TYPES = {"int": click.INT, "float": click.FLOAT, "str": click.STRING,
                "ints": click.STRING, "strs": click.STRING}


def _setting_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Adds one option per config field; a value of None means "not given"."""
    for key, (flag, kind, help_text) in reversed(list(FLAGS.items())):
        dest = "setting__" + key.replace(".", "__")
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


@click.command("train-and-attack")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with the audit settings (see examples/audit.toml); flags "
                   "override it.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate the results with this policy (see dpaudit gate); exit 1 if it fails.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary table.")
@_setting_options
def train_and_attack(config_path: Path | None, policy_path: Path | None, quiet: bool,
                     **settings: Any) -> None:
    """Train a DP-SGD model and a non-DP baseline, attack both, write a report.

    Both arms use the same data, architecture, initial weights and batch sampling; the
    dp arm adds per-example clipping and noise. Each is attacked with membership
    inference (loss threshold, modified entropy, shadow models), and the accountant's epsilon
    is set beside what the attacks achieve. Writes results.json, scores.csv,
    report.html and the trained models to the output directory (--out). Running it
    again with the same settings and --out reuses the models already trained.

    Exit codes: 0 done (and gate passed), 1 gate failed, 2 bad input, 3 internal error.
    """
    from dpaudit._progress import ClickProgress, NullProgress
    from dpaudit.config import load_config

    overrides = {key.removeprefix("setting__").replace("__", "."): value
                 for key, value in settings.items()}
    config = load_config(config_path, overrides)
    policy = None
    if policy_path is not None:
        from dpaudit.gate import load_policy

        policy = load_policy(policy_path)  # before training: a bad policy fails in seconds

    _quiet_third_party_logs()
    from dpaudit.pipeline import run_audit

    progress = NullProgress() if quiet else ClickProgress()
    result = run_audit(config, progress=progress, policy=policy)
    out = Path(config.output.dir)
    if not quiet:
        click.echo(summary_table(result))
        report = out / "report.html"
        click.echo(f"results: {out / 'results.json'}")
        if report.is_file():
            click.echo(f"report:  {report}")
    _print_contradictions(result)
    if result.verdict is not None:
        from dpaudit.gate import Verdict

        verdict = Verdict.from_dict(result.verdict)
        click.echo(verdict.format_text())
        if not verdict.passed:
            raise GateFailed()


def _quiet_third_party_logs() -> None:
    """Keeps TensorFlow's and absl's chatter out of the terminal (use --debug to see it)."""
    import logging
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if logging.getLogger().level > logging.DEBUG:
        for name in ("absl", "tensorflow"):
            logging.getLogger(name).setLevel(logging.ERROR)


def _print_contradictions(result: Any) -> None:
    from dpaudit._pipeline_output import contradictions

    for line in contradictions(result):
        click.secho(f"DP VIOLATION: {line}", fg="red", err=True)


def _fmt(value: float | None, digits: int = 3) -> str:
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
            _fmt(arm.utility.test_accuracy if arm.utility else None),
            "none (no DP)" if arm.epsilon is None else _fmt(arm.epsilon, 2),
            best.name if best else "n/a",
            f"{best.auc:.3f} [{best.auc_ci[0]:.2f}, {best.auc_ci[1]:.2f}]" if best else "n/a",
            _fmt(best.tpr_at_fpr.get("0.01")) if best else "n/a",
            _fmt(best.tpr_at_fpr.get("0.1")) if best else "n/a",
            _fmt(max(bounds), 2) if bounds else "n/a",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    notes = []
    if any(math.isnan(a.tpr_at_fpr.get("0.01", math.nan)) for arm in result.arms
           for a in arm.attacks):
        notes.append("n/a TPR: too few non-members to resolve that FPR (10 / FPR needed)")
    return "\n".join(lines + notes)
