"""The member / non-member / shadow / test split of a dataset, and feature scaling.

Feature scaling never uses the audited examples: the members' privacy guarantee
covers training only, so a scaler fitted on members would leak outside the DP
accounting. ``auto`` uses the fixed range of the built-in datasets (digits 0..16,
MNIST 0..255) and otherwise standardises with statistics of the public rows
(shadow pool and test set).

Example:
    >>> from dpaudit.data import load_dataset
    >>> ds = load_dataset("digits")
    >>> split = split_dataset(ds, n_members=200, seed=0)
    >>> data = prepare(ds, split, scaling="auto")
    >>> data.members.x.shape
    (200, 64)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from dpaudit.data.datasets import Dataset
from dpaudit.errors import InputError

__all__ = ["SCALINGS", "Split", "Part", "AuditData", "split_dataset", "prepare"]

logger = logging.getLogger(__name__)

# Feature scalings; config validates against this one tuple.
SCALINGS = ("auto", "none", "minmax", "standard")


@dataclass(frozen=True)
class Split:
    """Disjoint example ids (rows of the Dataset) drawn from `seed`."""

    seed: int
    members: np.ndarray
    nonmembers: np.ndarray
    shadow: np.ndarray
    test: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "n_members": len(self.members),
                "n_nonmembers": len(self.nonmembers), "n_shadow_pool": len(self.shadow),
                "n_test": len(self.test),
                "ids": {"members": self.members.tolist(), "nonmembers": self.nonmembers.tolist(),
                        "shadow_pool": self.shadow.tolist(), "test": self.test.tolist()}}


@dataclass(frozen=True)
class Part:
    """Scaled features, labels and example ids of one part of the split."""

    x: np.ndarray
    y: np.ndarray
    ids: np.ndarray

    def __len__(self) -> int:
        return int(self.y.shape[0])


@dataclass(frozen=True)
class AuditData:
    """Everything the pipeline trains and attacks on."""

    name: str
    num_classes: int
    input_shape: tuple[int, ...]
    members: Part
    nonmembers: Part
    shadow: Part
    test: Part
    split: Split
    scaling: str

    def summary(self) -> dict[str, Any]:
        """The `data` section of results.json."""
        return {"dataset": self.name, "num_classes": self.num_classes,
                "input_shape": list(self.input_shape), "scaling": self.scaling,
                **self.split.to_dict()}


def split_dataset(dataset: Dataset, *, n_members: int, seed: int,
                  n_shadow_pool: int | None = None, n_test: int | None = None,
                  stratify: bool = True) -> Split:
    """Draws disjoint members, non-members (same number), shadow pool and test set.

    Args:
      dataset: the loaded dataset.
      n_members: members of the target model (= number of non-members).
      seed: seed of the draw; the same seed gives the same ids.
      n_shadow_pool: size of the shadow pool (the attacker's data); default
        2 * n_members, so each shadow model can train on as many examples as the target.
      n_test: size of the test set; default all remaining rows, at most 10,000. When
        the source has its own test split, the test set is drawn from it.

    Raises:
      InputError: the dataset is too small for the requested sizes.
    """
    n_members = int(n_members)
    n_shadow = 2 * n_members if n_shadow_pool is None else int(n_shadow_pool)
    if n_members < 1:
        raise InputError(f"n_members must be >= 1, got {n_members}")
    if n_shadow < 0:
        raise InputError(f"n_shadow_pool must be >= 0, got {n_shadow}")
    n_pool = len(dataset) - dataset.n_source_test
    rng = np.random.default_rng(seed)
    pool = rng.permutation(n_pool)
    needed = 2 * n_members + n_shadow
    own_test = dataset.n_source_test > 0
    min_test = 0 if own_test else 1
    if needed + min_test > n_pool:
        raise InputError(
            f"dataset {dataset.name!r} has {n_pool} rows to draw from, but {n_members} members "
            f"+ {n_members} non-members + {n_shadow} shadow pool"
            + ("" if own_test else " + a test set") + f" need {needed + min_test}; "
            "lower data.n_members or data.n_shadow_pool")
    if stratify:
        pool = _stratified_order(dataset.y[:n_pool], pool, n_members)
    members = pool[:n_members]
    nonmembers = pool[n_members:2 * n_members]
    shadow = pool[2 * n_members:needed]
    if own_test:
        test = n_pool + rng.permutation(dataset.n_source_test)
    else:
        test = pool[needed:]
    limit = 10_000 if n_test is None else int(n_test)
    if limit < 1:
        raise InputError(f"n_test must be >= 1, got {limit}")
    test = test[:limit]
    return Split(seed=int(seed), members=np.sort(members), nonmembers=np.sort(nonmembers),
                 shadow=np.sort(shadow), test=np.sort(test))


def _stratified_order(labels: np.ndarray, pool: np.ndarray, n_members: int) -> np.ndarray:
    """Reorders the shuffled `pool` so its first 2 * n_members rows are members then
    non-members with identical per-class counts (largest-remainder allocation)."""
    pool_labels = labels[pool]
    classes, counts = np.unique(pool_labels, return_counts=True)
    # Each class can give at most half its rows to each side.
    capacity = counts // 2
    share = n_members * counts / counts.sum()
    take = np.minimum(np.floor(share).astype(int), capacity)
    order = np.argsort(-(share - np.floor(share)), kind="stable")  # largest remainder first
    while take.sum() < n_members:
        room = [i for i in order if take[i] < capacity[i]]
        if not room:
            raise InputError(f"cannot draw {n_members} members and as many non-members with "
                             "equal label counts; lower data.n_members or set "
                             "data.stratify = false")
        for i in room[:n_members - take.sum()]:
            take[i] += 1
    members, nonmembers = [], []
    for c, k in zip(classes, take):
        rows = pool[pool_labels == c]  # keeps the shuffled order within the class
        members.append(rows[:k])
        nonmembers.append(rows[k:2 * k])
    used = np.concatenate(members + nonmembers)
    remaining = pool[~np.isin(pool, used)]  # shuffled order kept for shadow pool and test
    return np.concatenate([np.concatenate(members), np.concatenate(nonmembers), remaining])


def prepare(dataset: Dataset, split: Split, *, scaling: str = "auto") -> AuditData:
    """Scales the features (statistics from public rows only) and cuts the split."""
    if scaling not in SCALINGS:
        raise InputError(f"unknown scaling {scaling!r}; expected one of {', '.join(SCALINGS)}")
    public = np.concatenate([split.shadow, split.test])
    x, described = _scale(dataset, public, scaling)

    def part(ids: np.ndarray) -> Part:
        return Part(x=x[ids], y=dataset.y[ids], ids=ids.astype(np.int64))

    return AuditData(name=dataset.name, num_classes=dataset.num_classes,
                     input_shape=dataset.input_shape, members=part(split.members),
                     nonmembers=part(split.nonmembers), shadow=part(split.shadow),
                     test=part(split.test), split=split, scaling=described)


def _scale(dataset: Dataset, public: np.ndarray, scaling: str) -> tuple[np.ndarray, str]:
    x = dataset.x
    if scaling == "none":
        return x, "none"
    if scaling == "auto" and dataset.value_range is not None:
        lo, hi = dataset.value_range
        return ((x - lo) / (hi - lo)).astype(np.float32), f"fixed range [{lo:g}, {hi:g}] -> [0, 1]"
    if len(public) == 0:
        raise InputError(f"scaling {scaling!r} needs public rows (shadow pool or test set) "
                         "to fit on; use scaling 'none'")
    ref = x[public]
    if scaling == "minmax":
        lo, hi = float(ref.min()), float(ref.max())
        span = hi - lo if hi > lo else 1.0
        return ((x - lo) / span).astype(np.float32), "minmax (fitted on shadow pool + test set)"
    mean = ref.mean(axis=0)
    std = ref.std(axis=0)
    std = np.where(std > 0, std, 1.0)  # constant features stay constant instead of NaN
    return ((x - mean) / std).astype(np.float32), "standard (fitted on shadow pool + test set)"
