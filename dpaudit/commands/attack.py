"""`dpaudit attack`: membership-inference audit of a Keras model trained elsewhere."""

from __future__ import annotations

from pathlib import Path

import click

from dpaudit.commands._common import (check_data_spec, estimate_output_bytes, finish_run,
                                      force_option, load_policy_option, load_tensorflow,
                                      pooled_lines, quiet_third_party_logs, summary_table)
from dpaudit.config import ATTACK_NAMES, OPTIMIZERS

__all__ = ["attack"]


@click.command("attack")
@click.option("--model", "model_path", required=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="Trained model, .keras or .h5 (loaded with safe mode on).")
@click.option("--members", required=True, metavar="DATA",
              help="Examples the model was trained on: digits, csv:PATH, npz:PATH, mnist:train.")
@click.option("--nonmembers", required=True, metavar="DATA",
              help="Examples it was not trained on, same distribution (e.g. mnist:test).")
@click.option("--shadow-model", type=click.Choice(["logreg", "mlp", "cnn"]),
              help="Run the shadow-model attack (and lira, lira_offline, rmia if named in "
                   "--attacks) with models of this architecture.")
@click.option("--trainer", metavar="MODULE:FUNCTION",
              help="Run the shadow-model attack with shadow models from your trainer, "
                   "called as function(x, y, *, seed, private=False).")
@click.option("--shadow-data", metavar="DATA",
              help="The attacker's own data for shadow models (default: half the non-members, "
                   "which then leave the evaluation).")
@click.option("--shadow-models", "n_shadow", type=click.IntRange(min=1), default=4,
              show_default=True, help="Number of shadow models.")
@click.option("--reference-models", "n_reference", type=click.IntRange(min=1), default=8,
              show_default=True,
              help="Reference models for lira, lira_offline and rmia (trained like the shadow "
                   "models, on random halves of members + non-members).")
@click.option("--attacks", "attack_names", metavar="NAMES",
              help="Comma-separated: " + ", ".join(ATTACK_NAMES)
                   + " (default: loss_threshold, modified_entropy, and shadow when a shadow recipe "
                     "is given).")
@click.option("--epochs", type=click.IntRange(min=1), help="Shadow training epochs.")
@click.option("--batch-size", type=click.IntRange(min=1), help="Shadow training batch size.")
@click.option("--learning-rate", type=click.FloatRange(min=0, min_open=True),
              help="Shadow training learning rate.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), help="Shadow training optimizer.")
@click.option("--label-column", default="label", show_default=True,
              help="Label column of CSV inputs.")
@click.option("--scaling", type=click.Choice(["auto", "none"]), default="auto",
              show_default=True,
              help="auto: digits / 16 and MNIST / 255 (as models are usually trained); files "
                   "as they are. none: everything as it is.")
@click.option("--max-examples", type=click.IntRange(min=2),
              help="Evaluate at most this many members and as many non-members (seeded).")
@click.option("--delta", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=1e-5, show_default=True, help="delta of the epsilon lower bounds.")
@click.option("--confidence", type=click.FloatRange(0, 1, min_open=True, max_open=True),
              default=0.95, show_default=True, help="Confidence level of the bounds.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default="dpaudit-attack", show_default=True, help="Output directory.")
@click.option("--policy", "policy_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Gate the results with this policy; exit 1 if it fails.")
@click.option("--executor", default="local", show_default=True,
              help="Where shadow and reference models train: local | ray (a local Ray) | "
                   "ray:ADDRESS (an existing cluster).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summary table.")
@force_option
def attack(model_path: Path, members: str, nonmembers: str, shadow_model: str | None,
           trainer: str | None, shadow_data: str | None, n_shadow: int, n_reference: int,
           attack_names: str | None, epochs: int | None, batch_size: int | None,
           learning_rate: float | None, optimizer: str | None, label_column: str,
           scaling: str, max_examples: int | None, delta: float, confidence: float,
           seed: int, out_dir: Path, policy_path: Path | None, executor: str, quiet: bool,
           force: bool) -> None:
    """Audit a trained Keras model with membership inference.

    Example, for the Syft-Keras tutorial's model (trained on all of MNIST's training
    set): dpaudit attack --model short-conv-mnist.h5 --members mnist:train
    --nonmembers mnist:test --shadow-model cnn --max-examples 2000

    Writes results.json (one arm, "model", with no DP claim), scores.csv and
    report.html to --out. Exit codes: 0 done (gate passed), 1 gate failed, 2 bad input.
    """
    from dpaudit.config import AttacksConfig, load_config
    from dpaudit.errors import InputError
    from dpaudit.execution import parse_executor
    from dpaudit.progress import ClickProgress, NullProgress

    if shadow_model and trainer:
        raise InputError("give --shadow-model or --trainer, not both")
    parse_executor(executor)
    with_shadow = bool(shadow_model or trainer)
    overrides = {"attacks.n_shadow": n_shadow, "attacks.n_reference": n_reference,
                 "attacks.confidence": confidence,
                 "attacks.names": attack_names or (
                     "loss_threshold,modified_entropy,shadow" if with_shadow
                     else "loss_threshold,modified_entropy"),
                 "training.epochs": epochs, "training.batch_size": batch_size,
                 "training.learning_rate": learning_rate, "training.optimizer": optimizer}
    if batch_size is not None:  # shadow-pool size is checked against it later
        overrides["data.n_members"] = max(batch_size, 2)
    partial = load_config(None, overrides)
    attacks_config: AttacksConfig = partial.attacks
    training = partial.training if any(v is not None for v in
                                       (epochs, batch_size, learning_rate, optimizer)) else None
    policy = load_policy_option(policy_path)
    from dpaudit.audit.external import check_model_file

    check_model_file(model_path)
    for spec, flag in ((members, "--members"), (nonmembers, "--nonmembers"),
                       (shadow_data, "--shadow-data")):
        check_data_spec(spec, flag)
    from dpaudit.run_folder import check_output_folder, claim_run_folder

    check_output_folder(out_dir, force=force)
    load_tensorflow()
    quiet_third_party_logs()
    from dpaudit.audit import audit_model

    need = estimate_output_bytes(2 * (max_examples or 70000), len(attacks_config.names), 1)
    with claim_run_folder(out_dir, force=force, need_bytes=need):
        result = audit_model(model_path, members=members, nonmembers=nonmembers,
                             shadow_model=shadow_model, trainer=trainer,
                             shadow_data=shadow_data,
                             label_column=label_column, scaling=scaling,
                             max_examples=max_examples, attacks=attacks_config,
                             training=training, delta=delta, seed=seed, out_dir=out_dir,
                             progress=NullProgress() if quiet else ClickProgress(),
                             policy=policy, executor=executor)
    finish_run(result, out_dir, quiet=quiet,
               summary=summary_table(result) + pooled_lines(result))
