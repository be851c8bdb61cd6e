"""Tests of dpaudit.data.datasets: loaders, validation messages, reproducible disjoint splits."""

from __future__ import annotations

import numpy as np
import pytest

from dpaudit.data import load_dataset, prepare, split_dataset
from dpaudit.errors import InputError


def _csv(tmp_path, text, name="d.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_digits_is_the_embedded_default():
    ds = load_dataset("digits")
    assert ds.x.shape == (1797, 64) and ds.x.dtype == np.float32
    assert ds.num_classes == 10 and ds.value_range == (0.0, 16.0)


def test_split_is_disjoint_reproducible_and_sized():
    ds = load_dataset("digits")
    a = split_dataset(ds, n_members=100, seed=1)
    b = split_dataset(ds, n_members=100, seed=1)
    c = split_dataset(ds, n_members=100, seed=2)
    for name in ("members", "nonmembers", "shadow", "test"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.members, c.members)
    parts = [a.members, a.nonmembers, a.shadow, a.test]
    assert [len(p) for p in parts] == [100, 100, 200, 1797 - 400]
    assert len(np.unique(np.concatenate(parts))) == sum(len(p) for p in parts)
    d = a.to_dict()
    assert d["n_members"] == 100 and d["ids"]["members"] == a.members.tolist()


def test_split_too_large_names_the_sizes():
    ds = load_dataset("digits")
    with pytest.raises(InputError, match="1797 rows to draw from"):
        split_dataset(ds, n_members=600, seed=0)


def test_prepare_scales_digits_by_its_fixed_range_and_keeps_ids():
    ds = load_dataset("digits")
    split = split_dataset(ds, n_members=50, seed=0, n_test=30)
    data = prepare(ds, split)
    assert data.members.x.max() <= 1.0 and data.members.x.min() >= 0.0
    np.testing.assert_allclose(data.members.x, ds.x[split.members] / 16.0, rtol=1e-6)
    np.testing.assert_array_equal(data.members.y, ds.y[split.members])
    assert len(data.test) == 30
    assert data.summary()["dataset"] == "digits"


def test_standard_scaling_uses_only_public_rows(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    y = np.arange(40) % 2
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset(f"npz:{tmp_path / 'd.npz'}")
    split = split_dataset(ds, n_members=5, seed=0)
    moved = ds.x.copy()
    moved[split.members] += 1000.0  # members must not influence the statistics
    data_a = prepare(ds, split, scaling="standard")
    from dpaudit.data import Dataset
    data_b = prepare(Dataset(ds.name, moved, ds.y, ds.num_classes), split, scaling="standard")
    np.testing.assert_allclose(data_a.test.x, data_b.test.x)
    public = np.concatenate([split.shadow, split.test])
    np.testing.assert_allclose(
        data_a.test.x, (ds.x[split.test] - ds.x[public].mean(0)) / ds.x[public].std(0),
        rtol=1e-5)


def test_csv_with_label_column(tmp_path):
    path = _csv(tmp_path, "a,b,target\n1,2,0\n3,4,1\n5,6,1\n")
    ds = load_dataset(f"csv:{path}", label_column="target")
    np.testing.assert_array_equal(ds.x, [[1, 2], [3, 4], [5, 6]])
    np.testing.assert_array_equal(ds.y, [0, 1, 1])


def test_npz_with_own_test_split_draws_test_from_it(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "t.npz", x_train=rng.normal(size=(30, 2, 2)), y_train=np.arange(30) % 3,
             x_test=rng.normal(size=(8, 2, 2)), y_test=np.arange(8) % 3)
    ds = load_dataset(f"npz:{tmp_path / 't.npz'}")
    assert ds.n_source_test == 8 and ds.input_shape == (2, 2)
    split = split_dataset(ds, n_members=5, seed=0)
    assert sorted(split.test.tolist()) == list(range(30, 38))
    assert max(split.shadow.max(), split.members.max(), split.nonmembers.max()) < 30


def test_mnist_reads_the_keras_cache_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "datasets" / "mnist.npz",
             x_train=rng.integers(0, 256, (20, 28, 28), dtype=np.uint8), y_train=np.arange(20) % 10,
             x_test=rng.integers(0, 256, (6, 28, 28), dtype=np.uint8), y_test=np.arange(6) % 10)
    ds = load_dataset("mnist")
    assert ds.x.shape == (26, 28, 28, 1) and ds.n_source_test == 6
    assert load_dataset("mnist:test").x.shape == (6, 28, 28, 1)
    data = prepare(ds, split_dataset(ds, n_members=3, seed=0))
    assert data.members.x.max() <= 1.0


def test_mnist_missing_from_cache_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr("dpaudit.data.readers.mnist_cache_candidates",
                        lambda: [tmp_path / "datasets" / "mnist.npz"])
    with pytest.raises(InputError, match=r"datasets/mnist.npz not found; dpaudit never downloads"):
        load_dataset("mnist")


@pytest.mark.parametrize("text, label, message", [
    ("a,b\n1,2\n3,4\n", "label", "no label column 'label' (columns: a, b); set --label-column"),
    ("a,label\nx,0\ny,1\n", "label", "column 'a' is not numeric (row 0: 'x')"),
    ("a,label\n1,0\n,1\n", "label", "column 'a' has 1 NaN/missing value(s) (first at row 1)"),
    ("a,label\n1,0\nnan,1\n", "label", "column 'a' has 1 NaN/missing value(s)"),
    ("a,label\n1,0\n2,1.5\n", "label", "labels must be class indices 0..C-1, got 1.5 at row 1"),
    ("a,label\n1,0\n2,-1\n", "label", "labels must be class indices 0..C-1, got -1 at row 1"),
    ("a,label\n1,cat\n2,dog\n", "label", "labels must be class indices 0..C-1, got 'cat'"),
    ("a,label\n1,1\n2,1\n", "label", "labels must contain at least 2 classes"),
    ("label\n1\n0\n", "label", "no feature columns"),
    ("", "label", "CSV file is empty"),
])
def test_csv_errors_name_file_and_column(tmp_path, text, label, message):
    path = _csv(tmp_path, text)
    with pytest.raises(InputError) as info:
        load_dataset(f"csv:{path}", label_column=label)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nope.csv: file not found"):
        load_dataset(f"csv:{tmp_path / 'nope.csv'}")
    with pytest.raises(InputError, match=r"nope.npz: file not found"):
        load_dataset(f"npz:{tmp_path / 'nope.npz'}")


@pytest.mark.parametrize("arrays, message", [
    ({"a": np.zeros(3)}, "expected arrays 'x' and 'y'"),
    ({"x": np.zeros((3, 2)), "y": np.zeros((3, 10))}, "one-hot? pass argmax"),
    ({"x": np.array([[1.0], [np.nan], [2.0]]), "y": np.array([0, 1, 0])},
     "array 'x': 1 example(s) have NaN or infinite features (first: row 1)"),
    ({"x": np.array([["a"], ["b"]]), "y": np.array([0, 1])}, "features must be numeric"),
    ({"x": np.zeros((3, 2)), "y": np.array([0, 1])}, "3 feature rows but 2 labels"),
])
def test_npz_errors(tmp_path, arrays, message):
    np.savez(tmp_path / "d.npz", **arrays)
    with pytest.raises(InputError, match=None) as info:
        load_dataset(f"npz:{tmp_path / 'd.npz'}")
    assert message in str(info.value)


def test_npz_that_is_not_an_archive(tmp_path):
    (tmp_path / "bad.npz").write_text("hello")
    with pytest.raises(InputError, match="bad.npz: "):
        load_dataset(f"npz:{tmp_path / 'bad.npz'}")


def test_npz_object_arrays_are_refused_without_unpickling(tmp_path):
    np.savez(tmp_path / "o.npz", x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=[0, 1])
    with pytest.raises(InputError, match="without pickle"):
        load_dataset(f"npz:{tmp_path / 'o.npz'}")


@pytest.mark.parametrize("spec", ["imagenet", "csv:", "mnist:val", "digits:x"])
def test_unknown_dataset_lists_the_choices(spec):
    with pytest.raises(InputError, match=r"unknown dataset .*expected one of digits, csv:PATH"):
        load_dataset(spec)


def test_unknown_scaling_is_rejected():
    ds = load_dataset("digits")
    with pytest.raises(InputError, match="unknown scaling 'log'"):
        prepare(ds, split_dataset(ds, n_members=10, seed=0), scaling="log")


def test_data_module_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys, dpaudit.data.datasets as d; d.load_dataset('digits'); "
            "print('tensorflow' in sys.modules or 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_stratified_members_and_nonmembers_share_the_label_histogram():
    ds = load_dataset("digits")
    for n in (100, 333):
        split = split_dataset(ds, n_members=n, seed=3)
        m = np.bincount(ds.y[split.members], minlength=10)
        nm = np.bincount(ds.y[split.nonmembers], minlength=10)
        np.testing.assert_array_equal(m, nm)
        assert m.sum() == n
        # Proportional to the class sizes, up to rounding.
        share = n * np.bincount(ds.y) / len(ds.y)
        assert np.all(np.abs(m - share) < 1.0 + 1e-9)


def test_unstratified_split_is_plain_random():
    ds = load_dataset("digits")
    split = split_dataset(ds, n_members=100, seed=3, stratify=False)
    m = np.bincount(ds.y[split.members], minlength=10)
    nm = np.bincount(ds.y[split.nonmembers], minlength=10)
    assert not np.array_equal(m, nm)  # for this seed; equal histograms by chance are rare


def test_stratify_impossible_says_how_to_fix():
    ds = load_dataset("digits")
    with pytest.raises(InputError, match="data.stratify = false"):
        split_dataset(ds, n_members=898, seed=0, n_shadow_pool=0)
