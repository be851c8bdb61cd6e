"""`dpaudit suggest-clip`: per-example gradient-norm quantiles and a suggested l2_norm_clip."""

from __future__ import annotations

import json

import click

__all__ = ["suggest_clip"]


@click.command("suggest-clip")
@click.option("--dataset", default="digits", show_default=True,
              help="digits | csv:PATH | npz:PATH | mnist (as in train-and-attack).")
@click.option("--model", "model_name", type=click.Choice(["logreg", "mlp", "cnn"]),
              default="mlp", show_default=True, help="Architecture, at its initial weights.")
@click.option("--members", "n_members", type=click.IntRange(min=2), default=100,
              show_default=True,
              help="Training examples measured: the members of train-and-attack's split.")
@click.option("--seed", type=click.IntRange(min=0, max=2**31 - 1), default=0,
              show_default=True, help="Seed of the split and of the initial weights.")
@click.option("--scaling", type=click.Choice(["auto", "none", "minmax", "standard"]),
              default="auto", show_default=True, help="Feature scaling, as in train-and-attack.")
@click.option("--label-column", default="label", show_default=True,
              help="Label column of a CSV dataset.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (l2_norm_clip, quantiles, n_examples, ...).")
def suggest_clip(dataset: str, model_name: str, n_members: int, seed: int, scaling: str,
                 label_column: str, as_json: bool) -> None:
    """Suggest l2_norm_clip: the median per-example gradient norm (Abadi et al. 2016).

    Measures the norms of the model's per-example gradients (cross-entropy loss) on the
    training examples that `train-and-attack` would use with the same --dataset,
    --members and --seed, and prints their median, 75th and 90th percentiles.

    Example: dpaudit suggest-clip --dataset digits --model mlp
    """
    from dpaudit import data
    from dpaudit.commands._common import load_tensorflow

    # The data first: a bad path or column is reported before TensorFlow loads.
    loaded = data.load_dataset(dataset, label_column=label_column)
    split = data.split_dataset(loaded, n_members=n_members, seed=seed)
    audit_data = data.prepare(loaded, split, scaling=scaling)
    load_tensorflow()
    from dpaudit.dp import suggest_clip as measure
    from dpaudit.training import models

    model = models.build_model(model_name, input_shape=audit_data.input_shape,
                               num_classes=audit_data.num_classes, seed=seed)
    result = measure(model, audit_data.members.x, audit_data.members.y,
                     loss_fn="sparse_categorical_crossentropy")
    if as_json:
        payload = {"dataset": dataset, "model": model_name, **result.to_dict()}
        click.echo(json.dumps(payload, allow_nan=False))
        return
    click.echo(f"per-example gradient norms of {model_name!r} on {result.n_examples} "
               f"examples of {dataset!r}:")
    for q, v in result.quantiles.items():
        click.echo(f"  {100 * q:g}th percentile: {v:.4g}")
    click.echo(f"  mean: {result.mean_norm:.4g}   max: {result.max_norm:.4g}")
    click.echo(f"suggested l2_norm_clip: {result.l2_norm_clip:.4g}")
    click.echo(result.note)
