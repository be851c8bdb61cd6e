"""MLflow tracking (`dpaudit.tracking`), against a local file store.

The logging test needs the optional extra (`pip install 'dpaudit[mlflow]'`) and is
skipped without it; the rest runs everywhere.
"""

import dataclasses
import json
import math
import sys
from pathlib import Path

import pytest

from dpaudit.errors import InputError
from dpaudit.results import load_results, save_results
from dpaudit.tracking import audit_metrics, audit_params, log_audit, tracking_uri

SAMPLE = Path(__file__).parents[1] / "reports" / "data" / "results_v1_minimal.json"


def _result():
    result = load_results(SAMPLE)
    config = {"seed": 3, "data": {"dataset": "digits", "n_members": 100},
              "attacks": {"names": ["loss_threshold", "shadow"]}}
    return dataclasses.replace(result, config=config).with_verdict(
        {"passed": False, "n_rules": 1, "rules": []})


def test_params_flatten_the_config_and_metrics_skip_undefined_values():
    result = _result()
    assert audit_params(result) == {"seed": "3", "data.dataset": "digits",
                                    "data.n_members": "100",
                                    "attacks.names": "loss_threshold,shadow"}
    metrics = audit_metrics(result)
    assert metrics["dp.epsilon_rdp"] == 3.0 and metrics["verdict_passed"] == 0.0
    assert metrics["baseline.loss_threshold.auc"] == 0.64
    assert "baseline.epsilon_rdp" not in metrics  # a non-DP arm has no epsilon
    assert all(math.isfinite(v) for v in metrics.values())


def test_tracking_uri_defaults_to_a_local_file_store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert tracking_uri(None) == (tmp_path / "mlruns").resolve().as_uri()
    assert tracking_uri("http://mlflow:5000") == "http://mlflow:5000"


def test_missing_mlflow_is_bad_input_naming_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(InputError, match=r"pip install 'dpaudit\[mlflow\]'"):
        log_audit(_result(), tmp_path)


def test_log_audit_records_settings_metrics_verdict_and_artifacts(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    result = _result()
    out = tmp_path / "out"
    out.mkdir()
    save_results(result, out / "results.json")
    (out / "report.html").write_text("<html>report</html>", encoding="utf-8")
    store = tmp_path / "mlruns"
    run_id = log_audit(result, out, uri=str(store), run_name="v1")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # for reading it back here
    client = mlflow.MlflowClient(tracking_uri=store.resolve().as_uri())
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params == audit_params(result)
    assert run.data.metrics == audit_metrics(result)
    assert run.data.tags["dpaudit.verdict"] == "failed"
    assert run.data.tags["mlflow.runName"] == "v1"
    assert sorted(a.path for a in client.list_artifacts(run_id)) == ["report.html",
                                                                     "results.json"]
    logged = Path(client.download_artifacts(run_id, "results.json", str(tmp_path)))
    assert json.loads(logged.read_text())["arms"][1]["name"] == "dp"
    # A second audit goes to the same experiment, for comparison across versions.
    second = log_audit(result, out, uri=str(store))
    assert client.get_run(second).info.experiment_id == run.info.experiment_id != "0"


def _cli(*args):
    from click.testing import CliRunner

    from dpaudit.cli import cli

    return CliRunner().invoke(cli, ["train-and-attack", *args])


def test_cli_mlflow_without_mlflow_exits_2_before_training(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    run = _cli("--mlflow", str(tmp_path / "runs"), "--out", str(tmp_path / "out"))
    assert run.exit_code == 2, run.output
    assert "pip install 'dpaudit[mlflow]'" in run.output
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_cli_mlflow_logs_the_audit(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.chdir(tmp_path)
    run = _cli("--out", "out", "--members", "40", "--epochs", "1", "--batch-size", "20",
               "--model", "mlp", "--hidden", "8", "--attacks", "loss_threshold",
               "--no-report", "--quiet", "--mlflow")  # no URI: ./mlruns
    assert run.exit_code == 0, run.output
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    (experiment,) = [e for e in client.search_experiments() if e.name == "dpaudit"]
    (logged,) = client.search_runs([experiment.experiment_id])
    assert logged.data.params["data.n_members"] == "40"
    assert "dp.epsilon_rdp" in logged.data.metrics
    assert "dp.loss_threshold.auc" in logged.data.metrics
    assert [a.path for a in client.list_artifacts(logged.info.run_id)] == ["results.json"]
