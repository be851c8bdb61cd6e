"""Datasets for an audit: loading and validating them.

Dataset specs (`load_dataset`):

* ``digits`` - scikit-learn's 8x8 handwritten digits (1,797 rows, 64 features
  0..16, 10 classes), shipped with scikit-learn: the embedded default.
* ``csv:PATH`` - one row per example, a header, a label column (``label_column``)
  and numeric feature columns.
* ``npz:PATH`` - arrays ``x`` and ``y``, or ``x_train``/``y_train`` plus
  ``x_test``/``y_test`` (the test arrays become the test set). Loaded without pickle.
* ``mnist`` - the Keras MNIST file, read from the Keras cache
  (``$KERAS_HOME/datasets/mnist.npz``, default ``~/.keras/datasets/mnist.npz``).
  Never downloaded: the audit must not reach the network. ``mnist:train`` and
  ``mnist:test`` select one half (for `dpaudit attack`).

Labels must be class indices 0..C-1. Example ids are row indices into the dataset as
loaded (training rows first, then the source's test rows).

Splits and scaling: `dpaudit.data.splits`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from dpaudit.data import readers as _readers
from dpaudit.data.readers import check_features, check_labels
from dpaudit.errors import InputError

__all__ = ["DATASET_NAMES", "Dataset", "load_dataset"]

logger = logging.getLogger(__name__)

DATASET_NAMES = ("digits", "csv:PATH", "npz:PATH", "mnist")


@dataclass(frozen=True)
class Dataset:
    """Validated examples as loaded, before splitting and scaling.

    Attributes:
      name: the spec it was loaded from, e.g. "digits" or "csv:data.csv".
      x: float32 features, shape (N, ...).
      y: int64 class indices, shape (N,).
      num_classes: max label + 1.
      n_source_test: the last `n_source_test` rows are the source's own test split.
      value_range: the known (min, max) of the features, for fixed-range scaling.
    """

    name: str
    x: np.ndarray
    y: np.ndarray
    num_classes: int
    n_source_test: int = 0
    value_range: tuple[float, float] | None = None

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(int(d) for d in self.x.shape[1:])


def load_dataset(spec: str, *, label_column: str = "label") -> Dataset:
    """Loads and validates a dataset.

    Args:
      spec: "digits", "csv:PATH", "npz:PATH", "mnist", "mnist:train" or "mnist:test".
      label_column: the CSV column holding the labels.

    Raises:
      InputError: unknown spec, missing file or column, non-numeric or NaN features,
        labels that are not class indices; the message names the file and column.
    """
    kind, _, arg = str(spec).partition(":")
    if kind == "digits" and not arg:
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return _dataset(spec, bunch.data, bunch.target, "digits", value_range=(0.0, 16.0))
    if kind == "csv" and arg:
        x, y = _readers.read_csv(arg, label_column)
        return _dataset(spec, x, y, arg)
    if kind == "npz" and arg:
        x, y, n_test = _readers.read_npz(arg)
        return _dataset(spec, x, y, arg, n_source_test=n_test)
    if kind == "mnist" and arg in ("", "train", "test"):
        (x_train, y_train), (x_test, y_test) = _readers.read_cached_mnist()
        if arg == "train":
            x, y, n_test = x_train, y_train, 0
        elif arg == "test":
            x, y, n_test = x_test, y_test, 0
        else:
            x = np.concatenate([x_train, x_test])
            y = np.concatenate([y_train, y_test])
            n_test = len(y_test)
        # Channel axis, as in the tutorial: (N, 28, 28) -> (N, 28, 28, 1).
        return _dataset(spec, x[..., None], y, "mnist", n_source_test=n_test,
                        value_range=(0.0, 255.0))
    raise InputError(f"unknown dataset {spec!r}; expected one of {', '.join(DATASET_NAMES)}")


def _dataset(spec: str, x: Any, y: Any, source: str, *, n_source_test: int = 0,
             value_range: tuple[float, float] | None = None) -> Dataset:
    x = check_features(x, source)
    y = check_labels(y, source)
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{source}: {x.shape[0]} feature rows but {y.shape[0]} labels")
    num_classes = int(y.max()) + 1
    logger.debug("loaded %s: %d rows, input shape %s, %d classes", spec, len(y),
                 x.shape[1:], num_classes)
    return Dataset(name=str(spec), x=x, y=y, num_classes=num_classes,
                   n_source_test=int(n_source_test), value_range=value_range)
