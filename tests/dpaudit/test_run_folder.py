"""The run folder (--out), issue 14.4-14.8 and 14.13: never clobber a user's folder, outputs
appear together or not at all, environment errors are exit 2, one run per folder, the
user's file mode is kept, and arguments are checked before TensorFlow loads."""

import errno
import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dpaudit.audit import outputs
from dpaudit.cli import cli
from dpaudit.errors import InputError
from dpaudit.results import ArmResult, AttackSummary, AuditResult
from dpaudit.run_folder import MARKER, claim_run_folder, commit_staged, is_run_folder

TINY = ["--epochs", "1", "--hidden", "4", "--attacks", "loss_threshold", "--members", "40",
        "--batch-size", "20",
        "--no-report", "--quiet"]


def _result(auc=0.6) -> AuditResult:
    attack = AttackSummary(name="loss_threshold", auc=auc, auc_ci=(0.5, 0.7), advantage=0.1,
                           tpr_at_fpr={"0.1": 0.2}, epsilon_lower_bound=0.1, confidence=0.95,
                           n_members=2, n_nonmembers=2)
    return AuditResult(config={}, environment={}, data={},
                       arms=(ArmResult("model", None, None, (attack,)),))


ROWS = [("model", "loss_threshold", 0, 1, 0.5), ("model", "loss_threshold", 1, 0, 0.1)]


def _old_run(out):
    """A finished earlier run in `out` (AUC 0.6)."""
    with claim_run_folder(out):
        outputs.write_outputs(_result(0.6), ROWS, out, report=False)
    return {name: (out / name).read_bytes() for name in ("results.json", "scores.csv")}


# --- 14.4: the user's own folder ------------------------------------------------------

def test_a_users_folder_is_refused_before_training_and_force_overrides(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "results.json").write_text('{"mine": true}')
    r = CliRunner().invoke(cli, ["train-and-attack", "--out", str(project), *TINY])
    assert r.exit_code == 2, r.output
    assert "not a dpaudit run" in r.output and "--force" in r.output
    assert (project / "results.json").read_text() == '{"mine": true}'
    assert sorted(p.name for p in project.iterdir()) == ["results.json"]
    with claim_run_folder(project, force=True):  # --force: accepted and marked as a run
        pass
    assert is_run_folder(project)


def test_out_that_is_a_file_is_bad_input(tmp_path):
    path = tmp_path / "afile"
    path.write_text("x")
    r = CliRunner().invoke(cli, ["train-and-attack", "--out", str(path), *TINY])
    assert r.exit_code == 2 and "is a file" in r.output, r.output


def test_an_earlier_run_without_marker_is_still_a_run(tmp_path):
    out = tmp_path / "old"
    out.mkdir()
    (out / "results.json").write_text(_result().to_json())
    (out / "scores.csv").write_text("arm\n")
    assert is_run_folder(out)
    (out / "notes.txt").write_text("mine")
    assert not is_run_folder(out)


# --- 14.5: outputs together or not at all ---------------------------------------------

@pytest.mark.parametrize("failure", [KeyboardInterrupt, OSError(errno.ENOSPC, "No space left")])
def test_an_interrupted_or_full_write_leaves_the_old_run_whole(tmp_path, monkeypatch, failure):
    out = tmp_path / "run"
    before = _old_run(out)

    def fail_after_scores(result, path):
        raise failure

    monkeypatch.setattr(outputs, "write_report", fail_after_scores)
    with pytest.raises(KeyboardInterrupt if failure is KeyboardInterrupt else InputError) as e:
        with claim_run_folder(out):
            outputs.write_outputs(_result(0.9), ROWS[:1], out, report=True)
    after = {name: (out / name).read_bytes() for name in ("results.json", "scores.csv")}
    assert after == before  # the new scores.csv was staged, never beside the old results
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "results.json", "scores.csv"]
    message = " ".join(getattr(e.value, "__notes__", [])) + str(e.value)
    assert "scores.csv, results.json from one complete run" in message


def test_interrupt_message_on_the_command_line_says_what_is_there(tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        error = KeyboardInterrupt()
        error.add_note("OUT holds no results yet")
        raise error

    monkeypatch.setattr("dpaudit.results.load_results", interrupted)
    r = CliRunner().invoke(cli, ["gate", str(tmp_path / "r.json"), "--max-auc", "0.5"])
    assert r.exit_code == 130 and "interrupted: OUT holds no results yet" in r.output


def test_a_new_run_replaces_all_outputs_and_drops_a_stale_report(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "report.html").write_text("old report")
    (out / "results.json").write_text(_result(0.6).to_json())
    staging = out / ".dpaudit-staging-x"
    staging.mkdir()
    (staging / "results.json").write_text(_result(0.9).to_json())
    (staging / "scores.csv").write_text("new")
    commit_staged(staging, out)
    assert not (out / "report.html").exists()
    assert json.loads((out / "results.json").read_text())["arms"][0]["attacks"][0]["auc"] == 0.9


# --- 14.6: environment errors are bad input, with a message ----------------------------

def test_full_disk_during_a_run_is_exit_2_not_a_bug(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "results.json")

    monkeypatch.setattr("dpaudit.results.load_results", full)
    r = CliRunner().invoke(cli, ["gate", str(tmp_path / "r.json"), "--max-auc", "0.5"])
    assert r.exit_code == 2, r.output
    assert "No space left on device" in r.output and "bug" not in r.output


def test_unwritable_folder_and_too_little_space_are_refused_up_front(tmp_path, monkeypatch):
    import dpaudit.run_folder as run_folder

    with pytest.raises(InputError, match="MiB free"):
        with claim_run_folder(tmp_path / "a", need_bytes=2 ** 62):
            pass
    assert not (tmp_path / "a").exists()  # a refused run leaves nothing behind

    def read_only(*args, **kwargs):  # root ignores chmod 555, so simulate the refusal
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(run_folder, "open", read_only, raising=False)
    with pytest.raises(InputError, match="cannot create or write.*Permission denied"):
        with claim_run_folder(tmp_path / "b"):
            pass


# --- 14.7: one run per folder ------------------------------------------------------------

def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "run"
    with claim_run_folder(out):
        with pytest.raises(InputError, match=f"another dpaudit run \\(pid {os.getpid()}\\)"):
            with claim_run_folder(out):
                pass
        assert (out / MARKER).is_file()  # the refused run left the running one's marker
    with claim_run_folder(out):  # released at the end of the first run
        pass


# --- 14.8: the user's file mode --------------------------------------------------------

def test_a_rerun_keeps_the_users_mode_on_results_json(tmp_path):
    out = tmp_path / "run"
    _old_run(out)
    os.chmod(out / "results.json", 0o600)
    _old_run(out)
    assert (out / "results.json").stat().st_mode & 0o777 == 0o600


# --- 14.13: arguments before TensorFlow --------------------------------------------------

def test_bad_arguments_fail_before_tensorflow_loads(tmp_path):
    # One interpreter for the three commands: a fresh process is what proves TensorFlow
    # was not imported, and each start costs seconds.
    (tmp_path / "afile").write_text("x")
    code = """
import sys
from dpaudit.cli import cli
for args in (
        ["attack", "--model", "nope.keras", "--members", "digits", "--nonmembers", "digits"],
        ["train-and-attack", "--dataset", "csv:nope.csv"],
        ["canary-audit", "--out", "afile"]):
    try:
        cli.main(args=args, standalone_mode=True)
    except SystemExit as e:
        print("EXIT", args[0], e.code, "tensorflow" in sys.modules)
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    for command in ("attack", "train-and-attack", "canary-audit"):
        assert f"EXIT {command} 2 False" in done.stdout, done.stdout + done.stderr


@pytest.mark.parametrize("command", ["train-and-attack", "attack", "canary-audit", "report"])
def test_every_writing_command_offers_force(command):
    r = CliRunner().invoke(cli, [command, "--help"])
    assert r.exit_code == 0 and "--force" in r.output, r.output
