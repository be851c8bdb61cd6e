"""Input checks and per-example statistics shared by the reference-model attacks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._validation import as_membership, as_scores

__all__ = [
    "LeaveOneOut",
    "SideStats",
    "as_reference",
    "masked_mean",
    "masked_variance",
    "side_stats",
]


def as_reference(target_scores: ArrayLike, reference_scores: ArrayLike,
                 reference_in: ArrayLike, is_member: ArrayLike | None, *,
                 target_name: str = "target_scores",
                 reference_name: str = "reference_scores",
                 in_name: str = "reference_in",
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(target (n,), reference (K, n) float64, reference_in (K, n) bool, is_member (n,)).

    Raises ValueError naming the argument and the shape expected.
    """
    target = as_scores(target_name, target_scores)
    n = len(target)
    if n == 0:
        raise ValueError(f"{target_name} must not be empty")
    try:
        reference = np.asarray(reference_scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{reference_name} must be an array of numbers: {exc}") from None
    if reference.ndim == 1 and len(reference) == n:
        reference = reference[None, :]  # one reference model
    if reference.ndim != 2 or reference.shape[1] != n or reference.shape[0] < 1:
        raise ValueError(f"{reference_name} must have shape (reference models, {n}) to "
                         f"match {target_name}, got shape {reference.shape}")
    if np.isnan(reference).any():
        row, col = np.argwhere(np.isnan(reference))[0]
        raise ValueError(f"{reference_name} contains NaN (model {row}, example {col}); "
                         "every reference model needs a score for every example")
    flags = np.asarray(reference_in)
    if flags.ndim == 1:
        flags = flags[None, :]
    if flags.shape != reference.shape:
        raise ValueError(f"{in_name} must have the shape of {reference_name}, "
                         f"{reference.shape}, got {flags.shape}")
    flags = as_membership(in_name, flags.ravel()).reshape(reference.shape)
    if is_member is None:  # scores only, no metrics
        return target, reference, flags, np.zeros(n, bool)
    members = as_membership("is_member", is_member)
    if len(members) != n:
        raise ValueError(f"is_member must have one flag per example ({n}, as "
                         f"{target_name}), got {len(members)}")
    return target, reference, flags, members


def masked_mean(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean over axis 0 of values where mask, count); the mean is NaN where count is 0."""
    count = mask.sum(axis=0)
    total = np.where(mask, values, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count, count


def masked_variance(values: np.ndarray, mask: np.ndarray,
                    mean: np.ndarray) -> np.ndarray:
    """Per-column variance (ddof 0) of values where mask, around `mean`; NaN if empty."""
    count = mask.sum(axis=0)
    squares = np.where(mask, (values - np.where(np.isnan(mean), 0.0, mean)) ** 2, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return squares.sum(axis=0) / count


@dataclass(frozen=True)
class SideStats:
    """Per-example statistics of one side (IN or OUT) of the reference models.

    Attributes:
      count: (n,) models on this side.
      mean: (n,) their mean score; NaN where count is 0.
      var: (n,) their variance (ddof 0); NaN where count is 0.
    """

    count: np.ndarray
    mean: np.ndarray
    var: np.ndarray


def side_stats(values: np.ndarray, mask: np.ndarray) -> SideStats:
    """SideStats of values (K, n) where mask, two-pass."""
    mean, count = masked_mean(values, mask)
    return SideStats(count, mean, masked_variance(values, mask, mean))


class LeaveOneOut:
    """SideStats of every model's M - 1 others, from totals: O(M n), not O(M^2 n).

    Sums are taken around each example's mean over all M models, so the one-pass
    variance E[x^2] - E[x]^2 suffers no cancellation from large means.
    """

    def __init__(self, values: np.ndarray, in_mask: np.ndarray):
        self._center = values.mean(axis=0)
        self._dev = values - self._center
        self._masks = {True: in_mask, False: ~in_mask}
        self._totals = {side: (mask.sum(axis=0), np.where(mask, self._dev, 0.0).sum(axis=0),
                               np.where(mask, self._dev ** 2, 0.0).sum(axis=0))
                        for side, mask in self._masks.items()}

    def stats(self, j: int, side: bool) -> SideStats:
        """SideStats of side IN (True) or OUT (False) over all models but model j."""
        mask_j = self._masks[side][j]
        dev_j = np.where(mask_j, self._dev[j], 0.0)
        count, first, second = self._totals[side]
        count = count - mask_j
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_dev = (first - dev_j) / count
            var = np.maximum((second - dev_j ** 2) / count - mean_dev ** 2, 0.0)
        return SideStats(count, self._center + mean_dev, np.where(count > 0, var, np.nan))
