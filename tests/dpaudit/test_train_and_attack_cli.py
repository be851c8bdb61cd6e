"""CLI tests of `dpaudit train-and-attack`: bad input exits 2 cleanly; one real run."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dpaudit.cli import cli

TINY = ["--members", "30", "--batch-size", "10", "--epochs", "2", "--hidden", "8",
        "--shadow-models", "1", "--reference-models", "2", "--no-report"]


def _run(*args: str):
    return CliRunner().invoke(cli, ["train-and-attack", *args])


def _assert_bad_input(result, *needles: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    error_lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1, result.output
    for needle in needles:
        assert needle in error_lines[0], error_lines[0]


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")
    return path


def _good_rows(n: int = 200) -> list[str]:
    return [f"{i % 7},{(i * 3) % 5},{i % 3}" for i in range(n)]


@pytest.mark.parametrize("case", [
    "missing_config", "missing_csv", "no_label_column", "non_numeric", "nan", "bad_labels",
    "shape_mismatch", "unknown_dataset", "unknown_model", "unknown_attack",
    "noise_and_target", "trainer_import", "bad_field_in_toml", "missing_policy"])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, case):
    out = tmp_path / "out"
    rows = _good_rows()
    if case == "missing_config":
        args, needles = ["--config", str(tmp_path / "nope.toml")], ["nope.toml", "not found"]
    elif case == "missing_csv":
        args, needles = ["--dataset", f"csv:{tmp_path / 'nope.csv'}"], ["nope.csv",
                                                                        "file not found"]
    elif case == "no_label_column":
        path = _csv(tmp_path / "d.csv", "a,b,y", rows)
        args, needles = ["--dataset", f"csv:{path}"], ["d.csv", "no label column 'label'"]
    elif case == "non_numeric":
        path = _csv(tmp_path / "d.csv", "a,b,label", ["x,1,0"] + rows)
        args, needles = ["--dataset", f"csv:{path}"], ["d.csv", "column 'a' is not numeric"]
    elif case == "nan":
        path = _csv(tmp_path / "d.csv", "a,b,label", rows + ["1,,1"])
        args, needles = ["--dataset", f"csv:{path}"], ["d.csv", "column 'b'", "NaN"]
    elif case == "bad_labels":
        path = _csv(tmp_path / "d.csv", "a,b,label", rows + ["1,2,-3"])
        args, needles = ["--dataset", f"csv:{path}"], ["d.csv", "class indices", "-3"]
    elif case == "shape_mismatch":
        path = _csv(tmp_path / "d.csv", "a,b,label", rows)
        args, needles = ["--dataset", f"csv:{path}", "--model", "cnn"], ["cnn", "d.csv"]
    elif case == "unknown_dataset":
        args, needles = ["--dataset", "imagenet"], ["--dataset", "data.dataset", "imagenet"]
    elif case == "unknown_model":
        args, needles = ["--model", "resnet"], ["--model", "model.name", "resnet"]
    elif case == "unknown_attack":
        args, needles = ["--attacks", "loss_threshold,lira_online"], ["--attacks", "lira_online"]
    elif case == "noise_and_target":
        args, needles = ["--noise-multiplier", "1.0", "--target-epsilon", "3"], [
            "noise_multiplier", "target_epsilon", "cannot both be set"]
    elif case == "trainer_import":
        args, needles = ["--trainer", "no_such_module_xyz:train"], [
            "no_such_module_xyz", "cannot import"]
    elif case == "bad_field_in_toml":
        config = tmp_path / "audit.toml"
        config.write_text("[dp]\ndelta = 2.0\n")
        args, needles = ["--config", str(config)], ["audit.toml", "'dp.delta'", "(0, 1)"]
    else:
        args, needles = ["--policy", str(tmp_path / "nope-policy.toml")], ["nope-policy.toml"]
    result = _run(*TINY, "--out", str(out), *args)
    _assert_bad_input(result, *needles)
    assert not out.exists()


def test_help_lists_every_setting():
    from dpaudit.config import FLAGS

    result = _run("--help")
    assert result.exit_code == 0
    for flag, kind, _ in FLAGS.values():
        assert flag in result.output


@pytest.mark.slow
def test_end_to_end_table_quiet_resume_and_gate(tmp_path):
    out = tmp_path / "run"
    result = _run(*TINY, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "epsilon (theory)" in result.output and "baseline" in result.output
    assert f"results: {out / 'results.json'}" in result.output
    assert (out / "results.json").is_file() and (out / "scores.csv").is_file()

    quiet = _run(*TINY, "--out", str(out), "--quiet")
    assert quiet.exit_code == 0 and quiet.output.strip() == ""

    policy = tmp_path / "policy.toml"
    policy.write_text("[all]\nmax_auc = 0.01\n")
    gated = _run(*TINY, "--out", str(out), "--quiet", "--policy", str(policy))
    assert gated.exit_code == 1, gated.output
    assert "gate FAILED" in gated.output
