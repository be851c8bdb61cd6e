"""`dpaudit epsilon`: DP-SGD epsilon (RDP and PLD), or the noise for a target epsilon.

In ``--json`` output an infinite epsilon (no noise) is the string ``"inf"`` and an
epsilon that was not computed (that accountant not asked for, or the PLD over its
memory budget) is ``null``, as in results.json (`dpaudit.results`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from typing import Any

import click

__all__ = ["epsilon"]


def _strict_json(value: Any) -> Any:
    """+inf becomes "inf" (DP with no guarantee), NaN null: strict JSON, as results.json."""
    if isinstance(value, float) and not math.isfinite(value):
        return "inf" if value > 0 else None
    return value


def _payload(statement: Any) -> dict[str, Any]:
    return {k: _strict_json(v) for k, v in statement.to_dict().items()}


@click.command("epsilon")
@click.option("--dataset-size", type=click.IntRange(min=1), required=True, metavar="N",
              help="Number of training examples.")
@click.option("--batch-size", type=click.IntRange(min=1), required=True, metavar="B",
              help="Batch size (expected batch size under Poisson sampling); at most N.")
@click.option("--noise-multiplier", type=click.FloatRange(min=0), metavar="S",
              help="Noise std / l2_norm_clip (at most 1e6). Give this or --target-epsilon.")
@click.option("--target-epsilon", type=click.FloatRange(min=0, min_open=True), metavar="X",
              help="Print the smallest noise multiplier whose epsilon is <= X instead.")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), metavar="E",
              help="Epochs, priced as ceil(E*N/B) steps (TF Privacy). Or give --steps.")
@click.option("--steps", type=click.IntRange(min=1), metavar="T",
              help="Optimizer steps actually taken (at most 1e12), instead of --epochs.")
@click.option("--delta", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True),
              required=True, metavar="D", help="Target delta, in (0, 1); keep it below 1/N.")
@click.option("--sampling", type=click.Choice(["poisson", "shuffle"]), default=None,
              help="How batches were drawn. Not given: both are printed (model.fit "
                   "shuffles; dpaudit.dp.fit_private samples Poisson batches). For shuffle, "
                   "a valid bound without amplification is reported.")
@click.option("--num-microbatches", type=click.IntRange(min=1), metavar="M",
              help="TF Privacy microbatches per batch; M < B doubles the sensitivity.")
@click.option("--accountant", type=click.Choice(["rdp", "pld", "both"]), default=None,
              help="Which accountants to run (default both; RDP is cheap, the PLD is tighter "
                   "and its memory is bounded). With --target-epsilon: which epsilon must "
                   "meet the target (default rdp).")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (keys epsilon_rdp, epsilon_pld, noise_multiplier, "
                   "...; an infinite epsilon is \"inf\", one not computed is null).")
def epsilon(dataset_size: int, batch_size: int, noise_multiplier: float | None,
            target_epsilon: float | None, epochs: float | None, steps: int | None,
            delta: float, sampling: str | None, num_microbatches: int | None,
            accountant: str | None, as_json: bool) -> None:
    """Print the (epsilon, delta) of DP-SGD with the RDP and PLD accountants.

    Give --noise-multiplier to price a run, or --target-epsilon to calibrate the noise
    multiplier (never over the target). Give --epochs or --steps.

    Example: dpaudit epsilon --dataset-size 60000 --batch-size 256
    --noise-multiplier 1.1 --epochs 60 --delta 1e-5 --sampling poisson
    """
    try:
        _run(dataset_size, batch_size, noise_multiplier, target_epsilon, epochs, steps, delta,
             sampling, num_microbatches, accountant, as_json)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (`dpaudit epsilon ... | head`): not an error. Point stdout
        # at devnull so the interpreter's final flush does not raise again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # stdout without a descriptor (tests)
            pass
        finally:
            os.close(devnull)


def _run(dataset_size, batch_size, noise_multiplier, target_epsilon, epochs, steps, delta,
         sampling, num_microbatches, accountant, as_json) -> None:
    from dpaudit import accounting  # dp_accounting is slow to import; only when run

    if not (click.get_current_context().find_root().obj or {}).get("debug"):
        # dp_accounting warns when it drops an RDP order it cannot evaluate; dropping an
        # order can only raise epsilon (it is a minimum over orders), so it is noise here.
        logging.getLogger("absl").setLevel(logging.ERROR)

    if (noise_multiplier is None) == (target_epsilon is None):
        raise click.UsageError("give exactly one of --noise-multiplier and --target-epsilon")
    if (epochs is None) == (steps is None):
        raise click.UsageError("give exactly one of --epochs and --steps")
    given = sampling is not None
    sampling = sampling or "poisson"
    run: dict[str, Any] = dict(dataset_size=dataset_size, batch_size=batch_size,
                               delta=delta, steps=steps, epochs=epochs, sampling=sampling,
                               num_microbatches=num_microbatches)
    calibrated_with = accountant or "rdp"
    if target_epsilon is not None:
        noise_multiplier = accounting.calibrate_noise(target_epsilon=target_epsilon,
                                                      accountant=calibrated_with, **run)
    accountant = accountant or "both"
    statement = accounting.dp_sgd_privacy(noise_multiplier=noise_multiplier,
                                          accountant=accountant, **run)
    shuffled = None
    if not given:
        shuffled = accounting.dp_sgd_privacy(noise_multiplier=noise_multiplier,
                                             accountant=accountant,
                                             **dict(run, sampling="shuffle"))

    if as_json:
        payload = _payload(statement)
        if target_epsilon is not None:
            payload.update(target_epsilon=target_epsilon, calibrated_with=calibrated_with)
        if shuffled is not None:
            payload["shuffle"] = _payload(shuffled)
            payload["sampling_given"] = False
        click.echo(json.dumps(payload, allow_nan=False))
        return

    if target_epsilon is not None:
        click.echo(f"noise multiplier: {noise_multiplier:.6g} (smallest found whose "
                   f"{calibrated_with.upper()} epsilon is <= {target_epsilon:g} at delta = "
                   f"{delta:g}, for {sampling} sampling)")
    if shuffled is not None:
        click.echo("--sampling not given: priced both ways. Keras' model.fit draws shuffled "
                   "fixed-size batches, so a model trained with model.fit needs the "
                   "shuffle figure; the Poisson figure holds only for Poisson-sampled "
                   "batches (dpaudit.dp.fit_private, sampling='poisson').")
        click.echo(f"  shuffle (model.fit):      epsilon (RDP): {_fmt(shuffled.epsilon_rdp)}"
                   f"   epsilon (PLD): {_fmt(shuffled.epsilon_pld)}   (valid bound without "
                   "amplification)")
        click.echo(f"  poisson (fit_private):    epsilon (RDP): {_fmt(statement.epsilon_rdp)}"
                   f"   epsilon (PLD): {_fmt(statement.epsilon_pld)}")
        click.echo("Statement for Poisson sampling (pass --sampling shuffle for the shuffle "
                   "statement):")
    qualifier = ("  (shuffled batches: valid bound WITHOUT amplification by sampling)"
                 if sampling == "shuffle" else "")
    click.echo(f"epsilon (RDP): {_fmt(statement.epsilon_rdp)}{qualifier}")
    click.echo(f"epsilon (PLD): {_fmt(statement.epsilon_pld)}")
    click.echo(f"delta: {delta:g}")
    if sampling == "shuffle":
        click.echo("Poisson-subsampled figures, NOT a valid guarantee for shuffled batches "
                   f"(Chua et al., ICML 2024): RDP {_fmt(statement.poisson_epsilon_rdp)}, "
                   f"PLD {_fmt(statement.poisson_epsilon_pld)}")
    click.echo("")
    click.echo(statement.text())


def _fmt(value: float | None) -> str:
    if value is None:
        return "not computed"
    return "inf" if math.isinf(value) else f"{value:.4f}"
