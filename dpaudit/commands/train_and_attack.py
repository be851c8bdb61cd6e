"""`dpaudit train-and-attack`: train a DP model and its baseline, attack both, report.

Every setting of the configuration (dpaudit.config) has a flag here, generated from the
config's field table, so a flag always overrides the same field of `--config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dpaudit.commands._common import (check_mlflow_option, config_from_options, finish_run,
                                      load_policy_option, log_mlflow_option, mlflow_option,
                                      quiet_third_party_logs, setting_options)

__all__ = ["train_and_attack"]


@click.command("train-and-attack")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with the audit settings (see examples/audit.toml); flags "
                   "override it.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate the results with this policy (see dpaudit gate); exit 1 if it fails.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary table.")
@mlflow_option
@setting_options
def train_and_attack(config_path: Path | None, policy_path: Path | None, quiet: bool,
                     mlflow_uri: str | None, **settings: Any) -> None:
    """Train a DP-SGD model and a non-DP baseline, attack both, write a report.

    Both arms use the same data, architecture, initial weights and batch sampling; the
    dp arm adds per-example clipping and noise. Each is attacked with membership
    inference (loss threshold, modified entropy, shadow models), and the accountant's epsilon
    is set beside what the attacks achieve. Writes results.json, scores.csv,
    report.html and the trained models to the output directory (--out). Running it
    again with the same settings and --out reuses the models already trained.

    Exit codes: 0 done (and gate passed), 1 gate failed, 2 bad input, 3 internal error.
    """
    from dpaudit.progress import ClickProgress, NullProgress

    config = config_from_options(config_path, settings)
    policy = load_policy_option(policy_path)
    check_mlflow_option(mlflow_uri)
    quiet_third_party_logs()
    from dpaudit.audit import run_audit

    result = run_audit(config, progress=NullProgress() if quiet else ClickProgress(),
                       policy=policy)
    log_mlflow_option(result, Path(config.output.dir), mlflow_uri, quiet=quiet)
    finish_run(result, Path(config.output.dir), quiet=quiet)
