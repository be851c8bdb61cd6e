"""CLI tests of `dpaudit attack` on a tiny model saved as .keras and as .h5."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from dpaudit.cli import cli
from dpaudit.data import load_dataset
from dpaudit.results import load_results


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small MLP overfit on 40 digits, saved both ways, and its member/non-member data."""
    import keras

    from dpaudit.training.models import build_model

    root = tmp_path_factory.mktemp("attack")
    ds = load_dataset("digits")
    x, y = ds.x / 16.0, ds.y
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    members, nonmembers = order[:40], order[40:80]
    keras.utils.set_random_seed(0)
    model = build_model("mlp", input_shape=(64,), num_classes=10, seed=0, hidden=(32,))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x[members], y[members], epochs=30, batch_size=20, verbose=0)
    model.save(root / "tiny.keras")
    model.save(root / "tiny.h5")
    np.savez(root / "members.npz", x=x[members], y=y[members])
    np.savez(root / "nonmembers.npz", x=x[nonmembers], y=y[nonmembers])
    return root


def _run(*args: str):
    return CliRunner().invoke(cli, ["attack", *args])


def _data_args(root: Path) -> list[str]:
    return ["--members", f"npz:{root / 'members.npz'}",
            "--nonmembers", f"npz:{root / 'nonmembers.npz'}"]


@pytest.mark.parametrize("name", ["tiny.keras", "tiny.h5"])
def test_audits_a_saved_model(saved, tmp_path, name):
    out = tmp_path / "out"
    result = _run("--model", str(saved / name), *_data_args(saved), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "model" in result.output and "epsilon (theory)" in result.output
    loaded = load_results(out / "results.json")
    (arm,) = loaded.arms
    assert arm.name == "model" and arm.privacy is None and arm.epsilon is None
    assert [a.name for a in arm.attacks] == ["loss_threshold", "modified_entropy"]
    assert arm.utility.train_accuracy == 1.0  # it memorised its 40 members
    # An overfit model leaks: the loss-threshold AUC is far above chance.
    assert arm.attacks[0].auc > 0.6
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * 80 and {r["arm"] for r in rows} == {"model"}
    # What exactly was audited: the model file's bytes, and when.
    entry = loaded.provenance["models"]["model"]
    assert entry["sha256"] == hashlib.sha256((saved / name).read_bytes()).hexdigest()
    assert len(loaded.provenance["data_sha256"]) == 64 and loaded.provenance["started_at"]


def test_keras_and_h5_give_the_same_scores(saved, tmp_path):
    for name in ("tiny.keras", "tiny.h5"):
        assert _run("--model", str(saved / name), *_data_args(saved), "--quiet",
                    "--out", str(tmp_path / name)).exit_code == 0
    a = json.loads((tmp_path / "tiny.keras" / "results.json").read_text())["arms"]
    b = json.loads((tmp_path / "tiny.h5" / "results.json").read_text())["arms"]
    assert a == b


def test_shadow_attack_with_a_zoo_architecture(saved, tmp_path):
    out = tmp_path / "out"
    result = _run("--model", str(saved / "tiny.keras"), *_data_args(saved), "--shadow-model",
                  "mlp", "--shadow-models", "1", "--epochs", "2", "--batch-size", "5",
                  "--quiet", "--out", str(out))
    assert result.exit_code == 0, result.output
    arm = load_results(out / "results.json").arms[0]
    assert [a.name for a in arm.attacks] == ["loss_threshold", "modified_entropy", "shadow"]
    # Half of the 40 non-members became the attacker's shadow pool.
    assert arm.attacks[0].n_nonmembers == 20 and arm.attacks[2].details["n_shadow"] == 1


def _assert_bad_input(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.output
    for needle in needles:
        assert needle in errors[0], errors[0]


def test_h5_file_that_is_not_a_model(saved, tmp_path):
    import h5py

    path = tmp_path / "weights-only.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("w", data=np.zeros(3))
    (tmp_path / "garbage.h5").write_bytes(b"not hdf5 at all")
    for bad in (path, tmp_path / "garbage.h5"):
        result = _run("--model", str(bad), *_data_args(saved), "--out", str(tmp_path / "o"))
        _assert_bad_input(result, str(bad), "not a loadable Keras model")
    assert not (tmp_path / "o").exists()


def test_missing_model_and_wrong_suffix(saved, tmp_path):
    _assert_bad_input(_run("--model", str(tmp_path / "nope.keras"), *_data_args(saved)),
                      "nope.keras", "not found")
    other = tmp_path / "model.pkl"
    other.write_bytes(b"x")
    _assert_bad_input(_run("--model", str(other), *_data_args(saved)), "model.pkl", ".keras or .h5")


def test_shape_mismatch_names_the_data(saved, tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("a,b,label\n" + "\n".join(f"{i},{i % 4},{i % 3}" for i in range(30)) + "\n")
    result = _run("--model", str(saved / "tiny.keras"), "--members", f"csv:{path}",
                  "--nonmembers", f"npz:{saved / 'nonmembers.npz'}", "--out", str(tmp_path / "o"))
    _assert_bad_input(result, "members data", "small.csv", "(2,)", "(64,)", "shape mismatch")
    assert not (tmp_path / "o").exists()


def test_labels_beyond_the_models_classes(saved, tmp_path):
    rng = np.random.default_rng(1)
    np.savez(tmp_path / "many.npz", x=rng.uniform(size=(20, 64)), y=np.arange(20) % 12)
    result = _run("--model", str(saved / "tiny.keras"), "--members", f"npz:{tmp_path / 'many.npz'}",
                  "--nonmembers", f"npz:{saved / 'nonmembers.npz'}", "--out", str(tmp_path / "o"))
    _assert_bad_input(result, "label 11", "10 classes")


def test_trainer_that_does_not_import(saved, tmp_path):
    result = _run("--model", str(saved / "tiny.keras"), *_data_args(saved), "--trainer",
                  "no_such_module_xyz:train", "--out", str(tmp_path / "o"))
    _assert_bad_input(result, "no_such_module_xyz", "cannot import")
    assert not (tmp_path / "o").exists()


def test_conflicting_and_unknown_options(saved, tmp_path):
    _assert_bad_input(_run("--model", str(saved / "tiny.keras"), *_data_args(saved),
                           "--shadow-model", "mlp", "--trainer", "m:f"), "not both")
    _assert_bad_input(_run("--model", str(saved / "tiny.keras"), "--members", "digits",
                           "--nonmembers", "digits"), "same data")
    _assert_bad_input(_run("--model", str(saved / "tiny.keras"), *_data_args(saved),
                           "--attacks", "shadow"), "shadow attack needs --shadow-model")
    _assert_bad_input(_run("--model", str(saved / "tiny.keras"), *_data_args(saved),
                           "--attacks", "lira_online"), "--attacks", "lira_online")
    _assert_bad_input(_run("--model", str(saved / "tiny.keras"), *_data_args(saved),
                           "--attacks", "lira,rmia"), "lira, rmia attacks need --shadow-model")
    unknown = _run("--model", str(saved / "tiny.keras"), *_data_args(saved),
                   "--shadow-model", "resnet")
    assert unknown.exit_code == 2 and "Traceback" not in unknown.output


def test_shadow_and_reference_models_run_on_an_executor(saved, tmp_path, elsewhere_executor):
    """`dpaudit attack --executor`: its trainings as remote tasks give the local results."""
    from dpaudit.audit import audit_model
    from dpaudit.config import AttacksConfig, TrainingConfig

    options = dict(members=f"npz:{saved / 'members.npz'}",
                   nonmembers=f"npz:{saved / 'nonmembers.npz'}", shadow_model="mlp",
                   attacks=AttacksConfig(names=("shadow", "lira"), n_shadow=1, n_reference=3),
                   training=TrainingConfig(epochs=2, batch_size=5))
    local = audit_model(saved / "tiny.keras", out_dir=tmp_path / "local", **options)
    elsewhere = audit_model(saved / "tiny.keras", out_dir=tmp_path / "elsewhere",
                            executor=elsewhere_executor, **options)
    assert [(a.name, a.auc) for a in local.arms[0].attacks] == [
        (a.name, a.auc) for a in elsewhere.arms[0].attacks]
    assert [a.name for a in local.arms[0].attacks] == ["shadow", "lira", "lira_pooled"]


def test_a_bad_executor_is_refused_before_any_work(saved, tmp_path):
    result = _run("--model", str(saved / "tiny.keras"), *_data_args(saved), "--executor",
                  "spark", "--out", str(tmp_path / "out"))
    _assert_bad_input(result, "executor must be local, ray or ray:ADDRESS", "'spark'")
