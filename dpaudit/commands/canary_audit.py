"""`dpaudit canary-audit`: an epsilon lower bound from canaries, held against the accountant.

Same configuration and flags as train-and-attack (dpaudit.config), plus the canary
settings. The library does the work (`dpaudit.canary.run_canary_audit`); this command
parses, prints and sets the exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from dpaudit.commands._common import (check_data_spec, config_from_options,
                                      estimate_output_bytes, finish_run, fmt, force_option,
                                      load_policy_option, load_tensorflow,
                                      quiet_third_party_logs, setting_options)

__all__ = ["canary_audit"]


@click.command("canary-audit")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="TOML file with the audit settings (see examples/audit.toml); flags "
                   "override it.")
@click.option("--mode", type=click.Choice(["whitebox", "blackbox"]), default="whitebox",
              show_default=True,
              help="whitebox: Dirac gradient canaries inside dpaudit's DP-SGD step, every "
                   "update observed (audits the DP implementation). blackbox: mislabelled "
                   "examples trained with the config's model or --trainer, scored by the "
                   "final model's loss.")
@click.option("--canaries", "num_canaries", type=click.IntRange(min=2),
              help="Canaries per run, each included with probability 1/2 "
                   "[default: 1000 whitebox, 100 blackbox].")
@click.option("--runs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Independent training runs.")
@click.option("--method", type=click.Choice(["one-run", "multi-run"]), default="one-run",
              show_default=True,
              help="one-run: Steinke-Nasr-Jagielski bound from the canaries' coins. "
                   "multi-run: Clopper-Pearson with a threshold from held-out runs "
                   "(+ Gaussian-DP bound in whitebox mode).")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also apply this gate policy (see dpaudit gate). Without one, only the "
                   "DP consistency check runs.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary.")
@force_option
@setting_options
def canary_audit(config_path: Path | None, mode: str, num_canaries: int | None, runs: int,
                 method: str, policy_path: Path | None, quiet: bool, force: bool,
                 **settings: Any) -> None:
    """Audit the DP guarantee with canaries: can the accountant's epsilon be refuted?

    Plants canaries, each in the training set with probability 1/2, trains with the
    config's DP settings, and turns how well the canaries' scores reveal their coins
    into an epsilon lower bound that holds with the configured confidence
    (attacks.confidence). A bound above the accountant's epsilon means the DP training
    or its accounting is broken. Writes results.json, scores.csv and report.html to
    --out, like train-and-attack (arm "dp", attacks named canary_<mode>_<method>).

    Exit codes: 0 no contradiction (and policy passed), 1 DP guarantee contradicted or
    policy failed, 2 bad input, 3 internal error.
    """
    from dpaudit.progress import ClickProgress, NullProgress

    from dpaudit.run_folder import check_output_folder, claim_run_folder

    config = config_from_options(config_path, settings)
    policy = load_policy_option(policy_path)
    if mode == "blackbox":
        check_data_spec(config.data.dataset, "--dataset")
    out = Path(config.output.dir)
    check_output_folder(out, force=force)
    load_tensorflow()
    quiet_third_party_logs()
    from dpaudit.canary import run_canary_audit

    progress = NullProgress() if quiet else ClickProgress()
    need = estimate_output_bytes((num_canaries or 1000) * runs, 2, 1)
    with claim_run_folder(out, force=force, need_bytes=need):
        result = run_canary_audit(config, mode=mode, method=method, num_canaries=num_canaries,
                                  runs=runs, progress=progress, policy=policy)
    # The verdict is always there: without a policy the gate runs its DP consistency check.
    finish_run(result, out, quiet=quiet, summary=_summary(result.arm("dp")))


def _summary(arm: Any) -> str:
    theory = arm.epsilon
    lines = [f"accountant epsilon: {fmt(theory)} (delta {arm.privacy.delta:g})"]
    for attack in arm.attacks:
        d = attack.details
        verdict = ("CONTRADICTS the accountant" if theory is not None
                   and attack.epsilon_lower_bound > theory else "below the accountant")
        lines.append(f"{attack.name}: epsilon >= {fmt(attack.epsilon_lower_bound)} "
                     f"(confidence {attack.confidence:g}; {d.get('num_canaries')} canaries x "
                     f"{d.get('runs')} runs) -- {verdict}")
    return "\n".join(lines)

