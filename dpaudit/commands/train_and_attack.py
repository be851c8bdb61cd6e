"""`dpaudit train-and-attack`: train a DP model and its baseline, attack both, report.

Every setting of the configuration (dpaudit.config) has a flag here, generated from the
config's field table, so a flag always overrides the same field of `--config`.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from dpaudit.commands._common import (config_from_options, finish_run, fmt, load_policy_option,
                                      quiet_third_party_logs, setting_options, summary_table)

__all__ = ["train_and_attack", "pooled_lines"]


@click.command("train-and-attack")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with the audit settings (see examples/audit.toml); flags "
                   "override it.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate the results with this policy (see dpaudit gate); exit 1 if it fails.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary table.")
@setting_options
def train_and_attack(config_path: Path | None, policy_path: Path | None, quiet: bool,
                     **settings: Any) -> None:
    """Train a DP-SGD model and a non-DP baseline, attack both, write a report.

    Both arms use the same data, architecture, initial weights and batch sampling; the
    dp arm adds per-example clipping and noise. Each is attacked with membership
    inference (loss threshold, and LiRA and RMIA with reference models trained like the
    arm's target; also modified entropy and shadow models), and the accountant's epsilon
    is set beside what the attacks achieve. Writes results.json, scores.csv,
    report.html and the trained models to the output directory (--out). Running it
    again with the same settings and --out reuses the models already trained.

    Exit codes: 0 done (and gate passed), 1 gate failed, 2 bad input, 3 internal error.
    """
    from dpaudit.progress import ClickProgress, NullProgress

    config = config_from_options(config_path, settings)
    policy = load_policy_option(policy_path)
    quiet_third_party_logs()
    from dpaudit.audit import run_audit

    result = run_audit(config, progress=NullProgress() if quiet else ClickProgress(),
                       policy=policy)
    finish_run(result, Path(config.output.dir), quiet=quiet,
               summary=summary_table(result) + pooled_lines(result))


def pooled_lines(result: Any) -> str:
    """Per arm, the pooled reference attack with the highest TPR at 1% FPR, if any ran.

    The table's best attack is the target's own; its TPR at 1% FPR needs 1000
    non-members, which the pooled evaluation (models x examples) usually has.
    """
    lines = []
    for arm in result.arms:
        pooled = [a for a in arm.attacks if a.name.endswith("_pooled")]
        if not pooled:
            continue

        def tpr(a: Any, level: str = "0.01") -> float:
            value = a.tpr_at_fpr.get(level)
            return -1.0 if value is None or math.isnan(value) else value

        best = max(pooled, key=tpr)
        lines.append(f"{arm.name}: {best.name} over {best.details.get('n_reference', '?')} "
                     f"reference models: AUC {best.auc:.3f}, TPR@1%FPR "
                     f"{fmt(best.tpr_at_fpr.get('0.01'))}, TPR@0.1%FPR "
                     f"{fmt(best.tpr_at_fpr.get('0.001'))}")
    return "".join("\n" + line for line in lines)
