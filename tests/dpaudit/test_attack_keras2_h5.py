"""`dpaudit attack` on a real legacy Keras-2 HDF5 file of the Syft-Keras tutorial's net.

The fixture data/short-conv-mnist-keras2.h5 was written by Keras 2 (tf-keras 2.21)
with the tutorial's own ``model.save('short-conv-mnist.h5')``, after brief training on
synthetic 28x28x1 images; data/make_keras2_h5.py made it (see its docstring; it needs
tf-keras and is not run here). test_attack_cli.py saves its models with Keras 3, whose
h5 layout differs; this file checks the layout users bring.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.results import load_results

DATA = Path(__file__).with_name("data")
FIXTURE = DATA / "short-conv-mnist-keras2.h5"
EXPECTED = DATA / "short-conv-mnist-keras2-expected.npz"
TUTORIAL_LAYERS = ["Conv2D", "AveragePooling2D", "Activation"] * 3 + ["Flatten", "Dense"]

# Keras 3 warns when it rebuilds a Keras-2 Sequential config whose first layer has
# input_shape, as the tutorial's does; expected for every such legacy file.
pytestmark = pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`:UserWarning")


def _generator():
    # The generator script imports tf_keras only in main(); its data function is numpy.
    spec = importlib.util.spec_from_file_location("make_keras2_h5", DATA / "make_keras2_h5.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen():
    return _generator()


@pytest.fixture(scope="module")
def data(gen, tmp_path_factory):
    """members.npz (the fixture's 200 training images) and 200 fresh non-members."""
    root = tmp_path_factory.mktemp("keras2")
    x_m, y_m = gen.synthetic_data(gen.N_MEMBERS, gen.MEMBER_SEED)
    x_n, y_n = gen.synthetic_data(gen.N_MEMBERS, gen.NONMEMBER_SEED)
    expected = np.load(EXPECTED)
    k = gen.N_REFERENCE
    # Guards the premise: same data as when the fixture was made (numpy stream unchanged).
    np.testing.assert_array_equal(y_m[:k], expected["y_members"])
    np.testing.assert_array_equal(y_n[:k], expected["y_nonmembers"])
    np.testing.assert_allclose([x_m[:k].sum(dtype=np.float64), x_n[:k].sum(dtype=np.float64)],
                               expected["x_sums"], rtol=1e-12)
    assert x_m.dtype == np.float32 and x_m.shape == (200, 28, 28, 1)
    assert 0.0 <= x_m.min() and x_m.max() <= 1.0
    np.savez(root / "members.npz", x=x_m, y=y_m)
    np.savez(root / "nonmembers.npz", x=x_n, y=y_n)
    return root, (x_m, y_m), (x_n, y_n)


@pytest.fixture(scope="module")
def model():
    import keras

    return keras.saving.load_model(FIXTURE, safe_mode=True, compile=False)


def test_fixture_is_a_keras2_hdf5_file_of_the_tutorials_net():
    with h5py.File(FIXTURE, "r") as f:
        version = f.attrs["keras_version"]
        version = version.decode() if isinstance(version, bytes) else str(version)
        assert version.startswith("2."), version
        assert {"model_config", "training_config", "backend"} <= set(f.attrs)
        assert {"model_weights", "optimizer_weights"} <= set(f)  # tutorial's plain save
        config = json.loads(f.attrs["model_config"])
    assert config["class_name"] == "Sequential"
    layers = [layer["class_name"] for layer in config["config"]["layers"]]
    assert layers == ["InputLayer", *TUTORIAL_LAYERS]
    assert 100_000 < FIXTURE.stat().st_size < 400_000


def test_keras3_loads_it_as_the_same_function(gen, data, model):
    """Keras 3 with safe mode on reads the legacy file and predicts what Keras 2 did."""
    _, (x_m, _), (x_n, _) = data
    assert [type(layer).__name__ for layer in model.layers] == TUTORIAL_LAYERS
    assert model.count_params() == 22_158
    assert tuple(model.inputs[0].shape[1:]) == (28, 28, 1)
    expected = np.load(EXPECTED)
    k = gen.N_REFERENCE
    np.testing.assert_allclose(model.predict(x_m[:k], verbose=0), expected["probs_members"],
                               atol=1e-6)
    np.testing.assert_allclose(model.predict(x_n[:k], verbose=0), expected["probs_nonmembers"],
                               atol=1e-6)


def test_attack_audits_the_legacy_file(data, model, tmp_path):
    root, (x_m, y_m), (x_n, y_n) = data
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, [
        "attack", "--model", str(FIXTURE), "--members", f"npz:{root / 'members.npz'}",
        "--nonmembers", f"npz:{root / 'nonmembers.npz'}", "--quiet", "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_results(out / "results.json")
    (arm,) = loaded.arms
    assert arm.name == "model" and arm.privacy is None
    assert [a.name for a in arm.attacks] == ["loss_threshold", "modified_entropy"]
    for summary in arm.attacks:
        assert math.isfinite(summary.auc) and 0.0 <= summary.auc <= 1.0
        assert summary.n_members == 200 and summary.n_nonmembers == 200

    # The scores are the model's own: -loss = log p[y] from a direct predict on the npz
    # arrays as written. --scaling auto leaves npz files as they are (only digits and
    # MNIST have a fixed range), so the [0, 1] images reach the model unscaled, as the
    # tutorial's model (trained on x / 255) expects.
    probs = {1: model.predict(x_m, verbose=0).astype(np.float64),
             0: model.predict(x_n, verbose=0).astype(np.float64)}
    labels = {1: y_m, 0: y_n}
    with open(out / "scores.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["attack"] == "loss_threshold"]
    assert len(rows) == 400
    for member in (1, 0):
        mine = sorted((int(r["example_id"]), float(r["score"])) for r in rows
                      if int(r["is_member"]) == member)
        ids = np.array([i for i, _ in mine])
        scores = np.array([s for _, s in mine])
        np.testing.assert_array_equal(ids, np.arange(200))
        direct = np.log(probs[member][ids, labels[member][ids]])
        np.testing.assert_allclose(scores, direct, rtol=0, atol=1e-5)
    assert arm.utility.train_accuracy == pytest.approx(
        float(np.mean(probs[1].argmax(axis=1) == y_m)))
    assert arm.utility.test_accuracy == pytest.approx(
        float(np.mean(probs[0].argmax(axis=1) == y_n)))
    assert arm.utility.train_accuracy > 0.5  # trained, not a random net


def test_loading_the_legacy_file_raises_no_style_warning():
    import warnings

    from dpaudit.audit.external import load_keras_model

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_keras_model(FIXTURE)
    assert not [w for w in caught if "input_shape" in str(w.message)], \
        [str(w.message) for w in caught]
