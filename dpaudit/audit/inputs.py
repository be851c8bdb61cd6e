"""What an audit starts from: its data (loaded, split, scaled) and the dp arm's noise."""

from __future__ import annotations

from dpaudit.config import AuditConfig
from dpaudit.data import AuditData, load_dataset, prepare, split_dataset
from dpaudit.training import derive_seed

__all__ = ["load_audit_data", "resolve_noise"]


def load_audit_data(config: AuditConfig) -> AuditData:
    """Loads, splits and scales the dataset the config names."""
    d = config.data
    dataset = load_dataset(d.dataset, label_column=d.label_column)
    n_pool = d.n_shadow_pool
    if n_pool is None and "shadow" not in config.attacks.names:
        n_pool = 0
    split = split_dataset(dataset, n_members=d.n_members, seed=derive_seed(config.seed, "split"),
                          n_shadow_pool=n_pool, n_test=d.n_test, stratify=d.stratify)
    return prepare(dataset, split, scaling=d.scaling)


def resolve_noise(config: AuditConfig, dataset_size: int) -> tuple[float, str]:
    """The dp arm's noise multiplier and a note on where it came from.

    With `dp.target_epsilon`, the noise is calibrated (RDP, never overshooting) for the
    number of steps `fit_private` will run: epochs * ceil(N / B).
    """
    d, t = config.dp, config.training
    if d.target_epsilon is None:
        return float(d.noise_multiplier), ""  # type: ignore[arg-type]
    from dpaudit import accounting

    steps = t.epochs * accounting.steps_per_epoch(dataset_size, t.batch_size)
    noise = accounting.calibrate_noise(
        target_epsilon=d.target_epsilon, dataset_size=dataset_size, batch_size=t.batch_size,
        delta=d.delta, steps=steps, sampling=d.sampling, num_microbatches=d.num_microbatches,
        accountant="rdp")
    return noise, (f"noise_multiplier {noise:.4g} calibrated to target epsilon "
                   f"{d.target_epsilon:g} (RDP) for {steps} steps")
