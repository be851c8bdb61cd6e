"""`dpaudit train-and-attack`: train a DP model and its baseline, attack both, report.

Every setting of the configuration (dpaudit.config) has a flag here, generated from the
config's field table, so a flag always overrides the same field of `--config`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dpaudit.commands._common import (check_data_spec, check_mlflow_option, config_from_options,
                                      estimate_output_bytes, finish_run, force_option,
                                      load_policy_option, load_tensorflow, log_mlflow_option,
                                      mlflow_option, pooled_lines, quiet_third_party_logs,
                                      setting_options, summary_table)

__all__ = ["train_and_attack"]


@click.command("train-and-attack")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with the audit settings (see examples/audit.toml); flags "
                   "override it.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate the results with this policy (see dpaudit gate); exit 1 if it fails.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary table.")
@force_option
@mlflow_option
@setting_options
def train_and_attack(config_path: Path | None, policy_path: Path | None, quiet: bool,
                     force: bool, mlflow_uri: str | None, **settings: Any) -> None:
    """Train a DP-SGD model and a non-DP baseline, attack both, write a report.

    Both arms use the same data, architecture, initial weights and batch sampling; the
    dp arm adds per-example clipping and noise. Each is attacked with membership
    inference (loss threshold, and LiRA and RMIA with reference models trained like the
    arm's target; also modified entropy and shadow models), and the accountant's epsilon
    is set beside what the attacks achieve. Writes results.json, scores.csv,
    report.html and the trained models to the output directory (--out). Running it
    again with the same settings and --out reuses the models already trained.

    --out must be a new or empty folder or an earlier dpaudit run (--force overrides);
    the outputs appear together when the run ends, never mixed with an earlier run's.

    Exit codes: 0 done (and gate passed), 1 gate failed, 2 bad input, 3 internal error.
    """
    from dpaudit.progress import ClickProgress, NullProgress

    from dpaudit.run_folder import check_output_folder, claim_run_folder

    config = config_from_options(config_path, settings)
    policy = load_policy_option(policy_path)
    check_data_spec(config.data.dataset, "--dataset")
    check_mlflow_option(mlflow_uri)
    out = Path(config.output.dir)
    check_output_folder(out, force=force)
    load_tensorflow()
    quiet_third_party_logs()
    from dpaudit.audit import run_audit

    need = estimate_output_bytes(2 * config.data.n_members, len(config.attacks.names), 2)
    with claim_run_folder(out, force=force, need_bytes=need):
        result = run_audit(config, progress=NullProgress() if quiet else ClickProgress(),
                           policy=policy)
    log_mlflow_option(result, out, mlflow_uri, quiet=quiet)
    finish_run(result, out, quiet=quiet, summary=summary_table(result) + pooled_lines(result))
