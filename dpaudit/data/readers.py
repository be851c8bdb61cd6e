"""File readers and validators behind `dpaudit.data.datasets` (CSV, npz, the cached MNIST file).

Every problem becomes an `InputError` whose message names the file, the column or
array, and what was expected. Nothing here imports TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from dpaudit.errors import InputError

__all__ = ["check_features", "check_labels", "read_csv", "read_npz", "read_cached_mnist",
           "mnist_cache_candidates", "MNIST_SHA256", "MAX_CLASSES", "max_input_bytes"]

logger = logging.getLogger(__name__)

# The hash Keras' `mnist.load_data` checks; a file with another hash is used as is,
# with a warning.
MNIST_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
# Labels are class indices into a model's output: beyond this many classes a label is a
# typo or an id (a label of 1e9 would one-hot into an out-of-memory crash).
MAX_CLASSES = 100_000
# How much a dataset may take in memory as float32, unless DPAUDIT_MAX_INPUT_MB says
# otherwise: checked against what a file declares before anything is allocated, so a small
# compressed file cannot expand into an out-of-memory kill.
_DEFAULT_MAX_INPUT_MB = 2048
_COMPRESSED_SUFFIXES = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma", ".zip": "zip",
                        ".zst": "zstd", ".tar": "tar"}
# Column names under which a column holding 0..N-1 is a saved row index, not a feature.
_INDEX_NAMES = frozenset({"index", "id", "idx", "row", "row_id"})
# Files already warned about, so `mnist:train` and `mnist:test` in one run warn once.
_WARNED: set[str] = set()


def check_features(x: Any, source: str) -> np.ndarray:
    """Returns `x` as float32 of shape (N, ...); rejects non-numeric and non-finite values."""
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{source}: features must be numeric, got dtype {arr.dtype}")
    if arr.ndim < 2:
        raise InputError(f"{source}: features must have shape (examples, ...), "
                         f"got shape {arr.shape}")
    if arr.shape[0] == 0:
        raise InputError(f"{source}: no examples")
    arr = arr.astype(np.float32)
    bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise InputError(f"{source}: {len(rows)} example(s) have NaN or infinite features "
                         f"(first: row {rows[0]}); remove or impute them")
    return arr


def check_labels(y: Any, source: str) -> np.ndarray:
    """Returns labels as int64 class indices 0..C-1 (C >= 2), shape (N,)."""
    arr = np.asarray(y)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        hint = " (one-hot? pass argmax)" if arr.ndim == 2 else ""
        raise InputError(f"{source}: labels must be class indices of shape (examples,), "
                         f"got shape {arr.shape}{hint}")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{source}: labels must be class indices 0..C-1, got non-numeric "
                         f"values (e.g. {_item(arr.ravel()[0])!r})")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.round(arr))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(f"{source}: labels must be class indices 0..C-1, "
                             f"got {arr[i].item()!r} at row {i}")
    if arr.size and arr.max() >= MAX_CLASSES:
        i = int(np.argmax(arr))
        raise InputError(f"{source}: labels must be class indices 0..C-1, got {_item(arr[i])!r} "
                         f"at row {i} (more than {MAX_CLASSES} classes: an id or a typo?)")
    labels = arr.astype(np.int64)
    if labels.size and labels.min() < 0:
        i = int(np.argmin(labels))
        raise InputError(f"{source}: labels must be class indices 0..C-1, got {labels[i]} "
                         f"at row {i}")
    if len(np.unique(labels)) < 2:
        raise InputError(f"{source}: labels must contain at least 2 classes, "
                         f"got {np.unique(labels).tolist()}")
    return labels


def max_input_bytes() -> int:
    """The memory a dataset may take as float32: $DPAUDIT_MAX_INPUT_MB MiB (default 2048)."""
    raw = os.environ.get("DPAUDIT_MAX_INPUT_MB", "")
    try:
        mb = float(raw) if raw.strip() else _DEFAULT_MAX_INPUT_MB
    except ValueError:
        raise InputError(f"environment variable DPAUDIT_MAX_INPUT_MB must be a number of "
                         f"MiB, got {raw!r}") from None
    if not mb > 0:
        raise InputError(f"environment variable DPAUDIT_MAX_INPUT_MB must be > 0, got {raw!r}")
    return int(mb * 2 ** 20)


def _too_big(name: str, what: str, size: int) -> InputError:
    limit = max_input_bytes()
    return InputError(f"{name}: {what} {size / 2**20:.0f} MiB, above the input limit of "
                      f"{limit / 2**20:.0f} MiB; subsample the data or raise the limit with "
                      "DPAUDIT_MAX_INPUT_MB")


def _item(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def read_csv(path: str, label_column: str) -> tuple[np.ndarray, np.ndarray]:
    """Reads a CSV with a header: the label column and numeric feature columns."""
    import pandas as pd

    file = _existing(path)
    compression = _COMPRESSED_SUFFIXES.get(file.suffix.lower())
    if compression is not None:
        raise InputError(f"{path}: a {compression}-compressed file; csv: reads plain CSV text "
                         "only (its size is checked before reading), so decompress it first")
    size = file.stat().st_size
    if size > max_input_bytes():
        raise _too_big(path, "CSV text of", size)
    header = _csv_header(file, path)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        raise InputError(f"{path}: duplicate column name(s) {', '.join(map(repr, duplicates))} "
                         "in the header; every column needs its own name (a second "
                         "label column would become a feature that leaks the label)")
    try:
        frame = pd.read_csv(file)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: CSV file is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, OSError) as e:
        raise InputError(f"{path}: cannot parse CSV ({str(e).splitlines()[0]})") from None
    if label_column not in frame.columns:
        columns = ", ".join(map(str, frame.columns[:12])) + (", ..." if frame.shape[1] > 12 else "")
        raise InputError(f"{path}: no label column {label_column!r} (columns: {columns}); "
                         "set --label-column / data.label_column")
    features = frame.drop(columns=[label_column])
    if features.shape[1] == 0:
        raise InputError(f"{path}: no feature columns besides the label column {label_column!r}")
    _refuse_index_columns(features, path, header)
    for column in features.columns:
        values = features[column]
        numeric = pd.to_numeric(values, errors="coerce")
        not_numeric = numeric.isna() & values.notna()
        if not_numeric.any():
            i = int(np.flatnonzero(not_numeric.to_numpy())[0])
            raise InputError(f"{path}: column {column!r} is not numeric (row {i}: "
                             f"{values.iloc[i]!r})")
        missing = numeric.isna() | ~np.isfinite(numeric.to_numpy(dtype=float, na_value=np.nan))
        if missing.any():
            rows = np.flatnonzero(missing.to_numpy())
            raise InputError(f"{path}: column {column!r} has {len(rows)} NaN/missing value(s) "
                             f"(first at row {rows[0]}); remove or impute them")
    labels = frame[label_column]
    numeric_labels = pd.to_numeric(labels, errors="coerce")
    if (numeric_labels.isna() & labels.notna()).any():
        i = int(np.flatnonzero((numeric_labels.isna() & labels.notna()).to_numpy())[0])
        raise InputError(f"{path}: column {label_column!r}: labels must be class indices "
                         f"0..C-1, got {labels.iloc[i]!r} at row {i}")
    if numeric_labels.isna().any():
        i = int(np.flatnonzero(numeric_labels.isna().to_numpy())[0])
        raise InputError(f"{path}: column {label_column!r} has a missing label at row {i}")
    x = features.apply(pd.to_numeric).to_numpy(dtype=np.float64)
    y = check_labels(numeric_labels.to_numpy(), f"{path}: column {label_column!r}")
    return x, y


def _csv_header(file: Path, path: str) -> list[str]:
    """The header's column names as written (pandas renames a duplicate "label" to
    "label.1", which would hide it)."""
    import csv

    try:
        with open(file, newline="", encoding="utf-8-sig") as f:
            return [name.strip() for name in next(csv.reader(f), [])]
    except (UnicodeDecodeError, csv.Error) as e:
        raise InputError(f"{path}: cannot parse CSV header ({e})") from None


def _refuse_index_columns(features: Any, path: str, header: list[str]) -> None:
    """A row index saved with the data (pandas' `to_csv` without index=False: an unnamed
    column; or a column named like an index, e.g. "id", holding 0..N-1) is not a feature:
    it tells a model the row number, so it is refused with how to drop it."""
    for k, column in enumerate(features.columns):
        name = str(column)
        unnamed = name.startswith("Unnamed: ") and (k >= len(header) or not header[k])
        values = features[column].to_numpy()
        # Only an index-like name: a synthetic feature may well count 0..N-1.
        counts_rows = (name.strip().lower() in _INDEX_NAMES and len(values) > 2
                       and values.dtype.kind in "iu"
                       and np.array_equal(values, np.arange(len(values))))
        if unnamed or counts_rows:
            why = ("has no name" if unnamed else "holds the row numbers 0..N-1")
            raise InputError(f"{path}: column {name!r} {why}: a saved row index, not a "
                             "feature; drop it (pandas: to_csv(..., index=False))")


def read_npz(path: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Reads x/y or x_train/y_train(/x_test/y_test); returns (x, y, number of test rows)."""
    file = _existing(path)
    arrays = _load_npz(file, path)
    keys = set(arrays)
    if {"x", "y"} <= keys:
        return check_features(arrays["x"], f"{path}: array 'x'"), \
            check_labels(arrays["y"], f"{path}: array 'y'"), 0
    if {"x_train", "y_train"} <= keys:
        x = check_features(arrays["x_train"], f"{path}: array 'x_train'")
        y = check_labels(arrays["y_train"], f"{path}: array 'y_train'")
        if {"x_test", "y_test"} <= keys:
            x_test = check_features(arrays["x_test"], f"{path}: array 'x_test'")
            y_test = check_labels(arrays["y_test"], f"{path}: array 'y_test'")
            if x_test.shape[1:] != x.shape[1:]:
                raise InputError(f"{path}: x_test examples have shape {x_test.shape[1:]}, "
                                 f"x_train examples {x.shape[1:]}")
            return np.concatenate([x, x_test]), np.concatenate([y, y_test]), len(y_test)
        return x, y, 0
    raise InputError(f"{path}: expected arrays 'x' and 'y', or 'x_train' and 'y_train' "
                     f"(optionally 'x_test', 'y_test'); found {sorted(keys) or 'none'}")


def mnist_cache_candidates() -> list[Path]:
    """Where Keras' `mnist.load_data` keeps its file: $KERAS_HOME (or ~/.keras), then /tmp."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return [Path(home) / "datasets" / "mnist.npz", Path("/tmp/.keras/datasets/mnist.npz")]


def read_cached_mnist():
    """Reads the cached Keras MNIST file; never downloads it.

    Reads the file directly rather than through `keras.datasets.mnist.load_data`,
    because that function downloads a fresh copy when the cached file's hash differs.
    """
    candidates = mnist_cache_candidates()
    file = next((p for p in candidates if p.is_file()), None)
    if file is None:
        raise InputError(f"mnist: {candidates[0]} not found; dpaudit never downloads data. "
                         "Copy mnist.npz (keras.datasets.mnist's file) there, or set KERAS_HOME")
    with open(file, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != MNIST_SHA256 and str(file) not in _WARNED:
        _WARNED.add(str(file))
        logger.warning("%s is not the official MNIST file (sha256 differs); using it as is", file)
    arrays = _load_npz(file, str(file))
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise InputError(f"{file}: not a Keras MNIST file (missing {', '.join(missing)})")
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def _existing(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.exists():
        raise InputError(f"{path}: file not found")
    if not file.is_file():
        raise InputError(f"{path}: not a file")
    return file


def _check_npz_sizes(file: Path, name: str) -> None:
    """Reads each array's header (shape, dtype) and refuses, before anything is allocated,
    an archive whose arrays would exceed the input limit as float32, or whose header
    declares more data than the archive member holds."""
    if not zipfile.is_zipfile(file):
        return  # np.load reports what it is
    total = 0
    try:
        with zipfile.ZipFile(file) as archive:
            for info in archive.infolist():
                if not info.filename.endswith(".npy"):
                    continue
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read_header(member)
                    header_bytes = member.tell()
                count = int(np.prod(shape, dtype=object))
                declared = count * dtype.itemsize
                array = info.filename[:-4]
                if dtype.hasobject:
                    continue  # refused by np.load without pickle
                if declared > info.file_size - header_bytes:
                    raise InputError(f"{name}: array {array!r} declares shape {tuple(shape)} "
                                     f"({declared} bytes) but holds "
                                     f"{info.file_size - header_bytes}; the file is corrupt")
                total += count * 4  # what the float32 copy will take
                if total > max_input_bytes():
                    raise _too_big(name, f"array {array!r} of shape {tuple(shape)} would take",
                                   total)
    except InputError:
        raise
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{name}: not a readable .npz file ({e})") from None


def _load_npz(file: Path, name: str) -> dict[str, np.ndarray]:
    _check_npz_sizes(file, name)
    try:
        loaded = np.load(file, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise InputError(f"{name}: a single .npy array, expected an .npz archive")
        with loaded:
            return {k: loaded[k] for k in loaded.files}
    except InputError:
        raise
    except ValueError as e:
        # allow_pickle=False refuses object arrays: never unpickle user files.
        raise InputError(f"{name}: cannot read .npz without pickle ({e})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{name}: not a readable .npz file ({e})") from None
