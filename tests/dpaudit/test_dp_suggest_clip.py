"""suggest_clip against a closed form, and the `dpaudit suggest-clip` command."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

import keras

from dpaudit.cli import cli
from dpaudit.dp import suggest_clip


def test_suggestion_is_the_median_of_closed_form_norms():
    # Softmax regression: the per-example gradient is x (p - e_y)^T for the kernel and
    # p - e_y for the bias, so its norm is ||p - e_y|| * sqrt(||x||^2 + 1).
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 5)).astype("float32")
    y = rng.integers(0, 3, 50)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    p = model.predict(x, verbose=0).astype(np.float64)
    residual = p - np.eye(3)[y]
    norms = np.linalg.norm(residual, axis=1) * np.sqrt((x.astype(np.float64) ** 2).sum(1) + 1)

    result = suggest_clip(model, x, y, loss_fn="sparse_categorical_crossentropy",
                          batch_size=16)
    assert result.l2_norm_clip == pytest.approx(np.median(norms), rel=1e-4)
    assert list(result.quantiles) == [0.5, 0.75, 0.9]
    for q, v in result.quantiles.items():
        assert v == pytest.approx(np.quantile(norms, q), rel=1e-4)
    assert result.n_examples == 50
    assert result.max_norm == pytest.approx(norms.max(), rel=1e-4)
    assert json.dumps(result.to_dict())


def test_command_prints_json():
    result = CliRunner().invoke(cli, ["suggest-clip", "--members", "20", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["dataset"] == "digits" and payload["model"] == "mlp"
    assert payload["n_examples"] == 20
    assert set(payload["quantiles"]) == {"0.5", "0.75", "0.9"}
    assert payload["l2_norm_clip"] == payload["quantiles"]["0.5"] > 0


def test_command_prints_a_readable_suggestion():
    result = CliRunner().invoke(cli, ["suggest-clip", "--members", "20", "--model", "logreg"])
    assert result.exit_code == 0, result.output
    assert "suggested l2_norm_clip:" in result.output
    assert "90th percentile" in result.output


@pytest.mark.parametrize("args,message", [
    (["--dataset", "nope"], "unknown dataset 'nope'"),
    (["--members", "1"], "Invalid value for '--members'"),
    (["--model", "resnet"], "Invalid value for '--model'"),
    (["--dataset", "csv:/no/such/file.csv"], "error:"),
])
def test_command_bad_input_exits_2(args, message):
    result = CliRunner().invoke(cli, ["suggest-clip", *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_a_bad_dataset_fails_before_tensorflow_loads(tmp_path):
    """The data is checked first: a typo costs a second, not TensorFlow's start-up."""
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from dpaudit.cli import cli; "
            f"r = CliRunner().invoke(cli, ['suggest-clip', '--dataset', 'csv:{tmp_path}/no.csv']); "
            "print(r.exit_code, 'tensorflow' in sys.modules); print(r.output)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.startswith("2 False"), done.stdout
    assert "no.csv: file not found" in done.stdout
