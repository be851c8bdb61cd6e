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

Labels must be class indices 0..C-1 with every class present (labels 10..12 are refused
with the labels found, not remapped). Sizes are checked before allocating: an .npz's arrays
by their headers, a CSV by its file size, against $DPAUDIT_MAX_INPUT_MB (default 2048 MiB as
float32); compressed CSVs are refused. CSV headers must not repeat a name, and a saved row
index (an unnamed first column, or one holding 0..N-1) is refused. Example ids are row indices into the dataset as
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


def load_dataset(spec: str, *, label_column: str = "label",
                 every_class: bool = True) -> Dataset:
    """Loads and validates a dataset.

    Args:
      spec: "digits", "csv:PATH", "npz:PATH", "mnist", "mnist:train" or "mnist:test".
      label_column: the CSV column holding the labels.
      every_class: require the labels to be exactly 0..C-1, every class present (a
        model is trained on them: labels 10..12 would silently make a 13-class model).
        False for data scored by a model trained elsewhere, whose labels are checked
        against the model's outputs instead.

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
        return _dataset(spec, x, y, arg, every_class=every_class,
                        labels_at=f"{arg}: column {label_column!r}")
    if kind == "npz" and arg:
        x, y, n_test = _readers.read_npz(arg)
        return _dataset(spec, x, y, arg, n_source_test=n_test, every_class=every_class,
                        labels_at=f"{arg}: labels")
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
             value_range: tuple[float, float] | None = None, every_class: bool = False,
             labels_at: str = "") -> Dataset:
    x = check_features(x, source)
    y = check_labels(y, source)
    if x.shape[0] != y.shape[0]:
        raise InputError(f"{source}: {x.shape[0]} feature rows but {y.shape[0]} labels")
    if every_class:
        _check_every_class(y, labels_at or source)
    num_classes = int(y.max()) + 1
    logger.debug("loaded %s: %d rows, input shape %s, %d classes", spec, len(y),
                 x.shape[1:], num_classes)
    return Dataset(name=str(spec), x=x, y=y, num_classes=num_classes,
                   n_source_test=int(n_source_test), value_range=value_range)


def _check_every_class(y: np.ndarray, where: str) -> None:
    """Labels 0..C-1 with each class present; otherwise says which labels were found and
    how to number them (refused rather than remapped: ids in the outputs stay the user's)."""
    found = np.unique(y)
    if len(found) == int(found[-1]) + 1:
        return
    shown = ", ".join(str(v) for v in found[:10]) + (", ..." if len(found) > 10 else "")
    mapping = ", ".join(f"{v}->{i}" for i, v in enumerate(found[:4].tolist()))
    raise InputError(f"{where}: labels must be class indices 0..C-1 with every class present; "
                     f"found {len(found)} distinct labels {{{shown}}}, which would train a "
                     f"{int(found[-1]) + 1}-class model; renumber them 0..{len(found) - 1} "
                     f"(e.g. {mapping}{', ...' if len(found) > 4 else ''})")
