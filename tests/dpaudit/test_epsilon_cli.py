"""`dpaudit epsilon`: output, --json keys, calibration, and exit code 2 for bad input."""

import json

import pytest
from click.testing import CliRunner

from dpaudit.accounting import compute_epsilon
from dpaudit.cli import cli

MNIST = ["epsilon", "--dataset-size", "60000", "--batch-size", "256", "--epochs", "60",
         "--delta", "1e-5"]
# A small sampling rate keeps the PLD accountant fast.
SMALL = ["epsilon", "--dataset-size", "10000", "--batch-size", "50", "--epochs", "2",
         "--delta", "1e-5"]


def run(args):
    return CliRunner().invoke(cli, args)


def test_prints_reference_epsilons_and_statement():
    result = run(MNIST + ["--noise-multiplier", "1.1"])
    assert result.exit_code == 0, result.output
    assert "epsilon (RDP): 2.5967" in result.output
    assert "epsilon (PLD): 2.3818" in result.output
    assert "Guarantee:" in result.output and "Poisson subsampling" in result.output
    assert "NOT a valid guarantee" not in result.output


def test_json_has_the_contract_keys_and_values():
    result = run(MNIST + ["--noise-multiplier", "1.1", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["epsilon_rdp"] == pytest.approx(2.597, abs=5e-4)
    assert payload["epsilon_pld"] == pytest.approx(2.382, abs=1e-3)
    assert payload["noise_multiplier"] == 1.1
    assert payload["steps"] == 14063 and payload["sampling"] == "poisson"
    assert "target_epsilon" not in payload


def test_target_epsilon_prints_calibrated_noise_that_meets_it():
    result = run(SMALL + ["--target-epsilon", "1.5", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    sigma = payload["noise_multiplier"]
    assert payload["epsilon_rdp"] <= 1.5
    assert payload["epsilon_rdp"] == compute_epsilon(
        dataset_size=10000, batch_size=50, epochs=2, delta=1e-5, noise_multiplier=sigma)
    assert payload["target_epsilon"] == 1.5 and payload["calibrated_with"] == "rdp"

    text = run(SMALL + ["--target-epsilon", "1.5"])
    assert text.exit_code == 0, text.output
    assert f"noise multiplier: {sigma:.6g}" in text.output


def test_steps_instead_of_epochs():
    args = ["epsilon", "--dataset-size", "10000", "--batch-size", "50", "--steps", "400",
            "--delta", "1e-5", "--noise-multiplier", "1.0", "--json"]
    by_steps = json.loads(run(args).output)
    by_epochs = json.loads(run(SMALL + ["--noise-multiplier", "1.0", "--json"]).output)
    assert by_steps["steps"] == by_epochs["steps"] == 400
    assert by_steps["epsilon_rdp"] == by_epochs["epsilon_rdp"]


def test_shuffle_output_says_poisson_figure_is_not_valid():
    result = run(SMALL + ["--noise-multiplier", "1.0", "--sampling", "shuffle"])
    assert result.exit_code == 0, result.output
    assert "NOT a valid guarantee for shuffled batches" in result.output
    assert "WITHOUT amplification" in result.output
    payload = json.loads(run(SMALL + ["--noise-multiplier", "1.0", "--sampling", "shuffle",
                                      "--json"]).output)
    assert payload["epsilon_rdp"] > payload["poisson_epsilon_rdp"]
    assert "NOT a valid guarantee" in payload["note"]


def test_microbatches_in_output():
    payload = json.loads(run(SMALL + ["--noise-multiplier", "1.0", "--num-microbatches",
                                      "10", "--json"]).output)
    assert payload["effective_noise_multiplier"] == 0.5
    assert "2 * l2_norm_clip" in payload["note"]


def test_zero_noise_gives_inf_epsilon_in_strict_json():
    # "inf" as in results.json: null would read as "not computed" / "no DP claim".
    result = run(SMALL + ["--noise-multiplier", "0", "--json"])
    assert result.exit_code == 0, result.output
    assert "Infinity" not in result.output
    payload = json.loads(result.output)
    assert payload["epsilon_rdp"] == "inf" and payload["epsilon_pld"] == "inf"
    assert "no privacy guarantee" in payload["note"]


@pytest.mark.parametrize("extra, message", [
    ([], "exactly one of --noise-multiplier and --target-epsilon"),
    (["--noise-multiplier", "1", "--target-epsilon", "2"],
     "exactly one of --noise-multiplier and --target-epsilon"),
    (["--noise-multiplier", "-1"], "--noise-multiplier"),
    (["--target-epsilon", "0"], "--target-epsilon"),
    (["--noise-multiplier", "1", "--delta", "0"], "--delta"),
    (["--noise-multiplier", "1", "--delta", "1.5"], "--delta"),
    (["--noise-multiplier", "1", "--batch-size", "0"], "--batch-size"),
    (["--noise-multiplier", "1", "--epochs", "0"], "--epochs"),
    (["--noise-multiplier", "1", "--steps", "10"], "exactly one of --epochs and --steps"),
    (["--noise-multiplier", "1", "--sampling", "random"], "--sampling"),
    (["--noise-multiplier", "1", "--batch-size", "20000"],
     "batch_size must not exceed dataset_size"),
    (["--noise-multiplier", "1", "--num-microbatches", "51"],
     "num_microbatches must be <= 50"),
])
def test_bad_input_exits_2_with_a_message(extra, message):
    # Later options override SMALL's (click keeps the last value of a repeated option).
    result = run(SMALL + extra)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_neither_epochs_nor_steps_exits_2():
    result = run(["epsilon", "--dataset-size", "100", "--batch-size", "10",
                  "--noise-multiplier", "1", "--delta", "1e-5"])
    assert result.exit_code == 2
    assert "exactly one of --epochs and --steps" in result.output


@pytest.mark.parametrize("extra, message", [
    (["--noise-multiplier", "inf"], "noise_multiplier must be finite"),
    (["--noise-multiplier", "1e300"], "noise_multiplier must be at most"),
    (["--noise-multiplier", "1", "--epochs", "1e12"], "epochs must give at most"),
    (["--noise-multiplier", "1", "--epochs", "1e300"], "epochs must give at most"),
])
def test_extreme_values_exit_2_not_3(extra, message):
    result = run(SMALL + extra)
    assert result.exit_code == 2, result.output
    assert message in result.output and "bug in dpaudit" not in result.output


def test_extreme_steps_exit_2_not_3():
    result = run(["epsilon", "--dataset-size", "10000", "--batch-size", "50", "--delta", "1e-5",
                  "--noise-multiplier", "1", "--steps", str(10**20)])
    assert result.exit_code == 2, result.output
    assert "steps must be at most" in result.output


def test_without_sampling_both_are_printed_and_model_fit_named():
    result = run(SMALL + ["--noise-multiplier", "1.0"])
    assert result.exit_code == 0, result.output
    shuffle = compute_epsilon(dataset_size=10000, batch_size=50, epochs=2, delta=1e-5,
                              noise_multiplier=1.0, sampling="shuffle")
    poisson = compute_epsilon(dataset_size=10000, batch_size=50, epochs=2, delta=1e-5,
                              noise_multiplier=1.0)
    assert "model.fit" in result.output and "needs the shuffle figure" in result.output
    assert f"shuffle (model.fit):      epsilon (RDP): {shuffle:.4f}" in result.output
    assert f"poisson (fit_private):    epsilon (RDP): {poisson:.4f}" in result.output
    payload = json.loads(run(SMALL + ["--noise-multiplier", "1.0", "--json"]).output)
    assert payload["sampling"] == "poisson" and payload["sampling_given"] is False
    assert payload["shuffle"]["epsilon_rdp"] == pytest.approx(shuffle, rel=1e-12)
    given = json.loads(run(SMALL + ["--noise-multiplier", "1.0", "--sampling", "poisson",
                                    "--json"]).output)
    assert "shuffle" not in given


def test_accountant_rdp_skips_the_pld():
    result = run(SMALL + ["--noise-multiplier", "1.0", "--sampling", "poisson", "--accountant",
                          "rdp", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert payload["epsilon_pld"] is None and payload["epsilon_rdp"] > 0
