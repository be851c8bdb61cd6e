"""Data checks of issue 14.9-14.11: labels 0..C-1, sizes checked before allocating, and CSV
headers (duplicates, saved row indices)."""

import io
import zipfile

import numpy as np
import pandas as pd
import pytest

from dpaudit.data import load_dataset
from dpaudit.errors import InputError


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return f"csv:{path}"


def test_labels_that_skip_classes_are_refused_naming_column_and_labels(tmp_path):
    # Wine-style labels 10..12 would train a 13-class model.
    spec = _csv(tmp_path, "a,b,target\n" + "".join(f"{i},{i % 3},{10 + i % 3}\n"
                                                   for i in range(9)))
    with pytest.raises(InputError, match=r"column 'target'.*found 3 distinct labels "
                                         r"\{10, 11, 12\}.*renumber them 0..2.*10->0"):
        load_dataset(spec, label_column="target")
    # A model trained elsewhere may use a subset of its classes: checked against the model.
    assert load_dataset(spec, label_column="target", every_class=False).num_classes == 13


def test_a_huge_label_is_refused_before_anything_is_allocated(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2)), y=np.array([0, 1, 0, 1_000_000_000]))
    with pytest.raises(InputError, match="1000000000 at row 3"):
        load_dataset(f"npz:{tmp_path / 'd.npz'}")


def _npz_with_header(path, shape, payload: bytes):
    """An .npz whose x declares `shape` but holds `payload` (a lying header)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape})
    y = io.BytesIO()
    np.save(y, np.array([0, 1]))
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", buffer.getvalue() + payload)
        archive.writestr("y.npy", y.getvalue())


def test_npz_sizes_are_checked_from_the_headers(tmp_path, monkeypatch):
    lying = tmp_path / "lying.npz"
    _npz_with_header(lying, (2, 100_000_000), b"\0" * 32)
    with pytest.raises(InputError, match="declares shape .* the file is corrupt"):
        load_dataset(f"npz:{lying}")
    # A well-formed archive that would expand beyond the limit (here 1 MiB): refused by
    # its header; the 2 MB zeros compress to a few KB, as in the 2 GB case.
    big = tmp_path / "big.npz"
    np.savez_compressed(big, x=np.zeros((1000, 512)), y=np.arange(1000) % 2)
    monkeypatch.setenv("DPAUDIT_MAX_INPUT_MB", "1")
    with pytest.raises(InputError, match=r"array 'x' of shape \(1000, 512\).*DPAUDIT_MAX_INPUT_MB"):
        load_dataset(f"npz:{big}")
    monkeypatch.setenv("DPAUDIT_MAX_INPUT_MB", "4")
    assert load_dataset(f"npz:{big}").x.shape == (1000, 512)


def test_compressed_and_oversized_csv_are_refused(tmp_path, monkeypatch):
    frame = pd.DataFrame({"a": np.arange(50) % 7, "label": np.arange(50) % 2})
    frame.to_csv(tmp_path / "d.csv.gz", index=False)
    with pytest.raises(InputError, match="gzip-compressed.*decompress it first"):
        load_dataset(f"csv:{tmp_path / 'd.csv.gz'}")
    frame.to_csv(tmp_path / "d.csv", index=False)
    monkeypatch.setenv("DPAUDIT_MAX_INPUT_MB", "0.0001")
    with pytest.raises(InputError, match="CSV text of"):
        load_dataset(f"csv:{tmp_path / 'd.csv'}")


def test_duplicate_label_header_is_refused(tmp_path):
    spec = _csv(tmp_path, "a,label,label\n1,0,0\n2,1,1\n3,0,0\n")
    with pytest.raises(InputError, match="duplicate column name.*'label'"):
        load_dataset(spec)


@pytest.mark.parametrize("write_index", ["pandas", "id"])
def test_a_saved_row_index_is_not_a_feature(tmp_path, write_index):
    frame = pd.DataFrame({"a": [0.5, 1.5, 2.5, 0.1], "label": [0, 1, 0, 1]})
    if write_index == "pandas":
        frame.to_csv(tmp_path / "d.csv")  # index=True: an unnamed first column
        match = "'Unnamed: 0' has no name"
    else:
        frame.insert(0, "id", range(4))
        frame.to_csv(tmp_path / "d.csv", index=False)
        match = "'id' holds the row numbers"
    with pytest.raises(InputError, match=match + ".*index=False"):
        load_dataset(f"csv:{tmp_path / 'd.csv'}")
