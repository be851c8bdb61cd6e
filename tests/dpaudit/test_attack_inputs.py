"""`dpaudit attack` inputs of issue 14.12 and 14.6: overlapping members and non-members, a
one-unit sigmoid binary head, a multi-output model, and a model with NaN weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.results import load_results

pytestmark = pytest.mark.slow  # trains three small Keras models (~15 s on 2 busy cores)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Tiny binary tabular data and three small models trained on its first 40 rows."""
    import keras

    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=120) > 0).astype(np.int64)
    np.savez(root / "members.npz", x=x[:40], y=y[:40])
    np.savez(root / "nonmembers.npz", x=x[40:], y=y[40:])
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    sigmoid = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(hidden))
    sigmoid.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    sigmoid.fit(x[:40], y[:40], epochs=40, batch_size=20, verbose=0)
    sigmoid.save(root / "sigmoid.keras")
    two = keras.Model(inputs, [keras.layers.Dense(2, activation="softmax", name="a")(hidden),
                               keras.layers.Dense(2, activation="softmax", name="b")(hidden)])
    two.save(root / "two.keras")
    broken = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(hidden))
    broken.layers[-1].kernel.assign(np.full((16, 2), np.nan, dtype=np.float32))
    broken.save(root / "nan.keras")
    return root


def _attack(root, model, members="members.npz", nonmembers="nonmembers.npz", out="out"):
    return CliRunner().invoke(cli, [
        "attack", "--model", str(root / model), "--members", f"npz:{root / members}",
        "--nonmembers", f"npz:{root / nonmembers}", "--attacks", "loss_threshold",
        "--out", str(root / out), "--quiet"])


def test_a_one_unit_sigmoid_head_is_read_as_two_classes(root):
    r = _attack(root, "sigmoid.keras", out="out-sigmoid")
    assert r.exit_code == 0, r.output
    arm = load_results(root / "out-sigmoid" / "results.json").arm("model")
    # Overfit on 40 rows: members are recognised better than chance, and the accuracy
    # matches the model's own thresholding at 0.5.
    assert arm.attacks[0].auc > 0.6 and arm.utility.train_accuracy > 0.8


def test_the_sigmoid_probabilities_match_keras(root):
    import keras

    from dpaudit.audit.external import model_proba

    model = keras.saving.load_model(root / "sigmoid.keras")
    x = np.load(root / "members.npz")["x"]
    probs = model_proba(model, x, "test")
    expected = np.asarray(model(x)).reshape(-1)
    np.testing.assert_allclose(probs[:, 1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-12)


def test_the_same_file_under_two_paths_is_refused(root):
    shutil.copy(root / "members.npz", root / "copy.npz")
    r = _attack(root, "sigmoid.keras", nonmembers="copy.npz", out="out-same")
    assert r.exit_code == 2, r.output
    assert "40 of 40 non-member examples" in r.output and "given twice" in r.output


def test_a_multi_output_model_is_refused_naming_its_heads(root):
    r = _attack(root, "two.keras", out="out-two")
    assert r.exit_code == 2, r.output
    assert "2 outputs" in r.output and "model.outputs[i]" in r.output


def test_nan_weights_are_a_clear_input_error_not_a_bug(root):
    r = _attack(root, "nan.keras", out="out-nan")
    assert r.exit_code == 2, r.output
    assert "NaN or infinite" in r.output and "bug" not in r.output
