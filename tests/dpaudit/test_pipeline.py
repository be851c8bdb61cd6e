"""Tests of dpaudit.audit on tiny audits (digits, small MLPs, few epochs)."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from dpaudit import accounting
from dpaudit.training import ModelCache, Recipe
from dpaudit.progress import Progress
from dpaudit.config import load_config
from dpaudit.errors import InputError
from dpaudit.audit import run_audit
from dpaudit.results import load_results

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

TINY = {"data.n_members": 30, "training.batch_size": 10, "training.epochs": 2,
        "model.hidden": "8", "attacks.n_shadow": 1, "output.report": False,
        "attacks.names": "loss_threshold,modified_entropy,shadow"}


def tiny(**extra):
    return load_config(None, {**TINY, **extra})


class Recorder(Progress):
    def __init__(self):
        self.models, self.notes = [], []

    def model(self, label, epochs):
        self.models.append(label)
        return super().model(label, epochs)

    def note(self, text):
        self.notes.append(text)


def _without_timings(path: Path) -> dict:
    raw = json.loads(path.read_text())
    raw.pop("timings")
    for when in ("started_at", "finished_at"):  # when the run happened differs, by design
        raw["provenance"].pop(when)
    for entry in raw["provenance"]["models"].values():
        entry.pop("sha256")  # a .keras file records when it was saved
    raw["config"]["output"].pop("dir")  # the one setting allowed to differ between runs
    return raw


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    progress = Recorder()
    result = run_audit(tiny(), out_dir=out, progress=progress)
    return out, result, progress


def test_writes_the_contract_files(first_run):
    out, result, progress = first_run
    assert (out / "results.json").is_file() and (out / "scores.csv").is_file()
    assert sorted(p.name for p in (out / "models").glob("*.keras")) == [
        "baseline-shadow-1.keras", "baseline-target.keras", "dp-shadow-1.keras", "dp-target.keras"]
    assert not list(out.rglob(".*"))  # no temporary files left behind
    loaded = load_results(out / "results.json")
    assert [a.name for a in loaded.arms] == ["baseline", "dp"]
    assert progress.models == ["baseline target", "baseline shadow 1/1", "dp target",
                               "dp shadow 1/1"]
    for arm in loaded.arms:
        assert [a.name for a in arm.attacks] == ["loss_threshold", "modified_entropy", "shadow"]
        assert all(a.n_members == a.n_nonmembers == 30 for a in arm.attacks)


def test_split_is_recorded_and_disjoint(first_run):
    _, result, _ = first_run
    ids = result.data["ids"]
    groups = [set(ids[k]) for k in ("members", "nonmembers", "shadow_pool", "test")]
    assert [len(g) for g in groups[:3]] == [30, 30, 60]
    assert sum(len(g) for g in groups) == len(set().union(*groups))


def test_scores_csv_has_one_row_per_arm_attack_example(first_run):
    out, result, _ = first_run
    with open(out / "scores.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) == {"arm", "attack", "example_id", "is_member", "score"}
    assert len(rows) == 2 * 3 * 60
    members = {int(r["example_id"]) for r in rows if r["is_member"] == "1"}
    assert members == set(result.data["ids"]["members"])


def test_dp_arm_prices_the_steps_that_ran(first_run):
    _, result, _ = first_run
    dp_arm, base = result.arm("dp"), result.arm("baseline")
    p = dp_arm.privacy
    assert p.steps == dp_arm.history["steps"][-1] == 2 * accounting.steps_per_epoch(30, 10)
    expected = accounting.dp_sgd_privacy(dataset_size=30, batch_size=10, noise_multiplier=1.5,
                                         delta=1e-5, steps=p.steps)
    assert p.epsilon_rdp == pytest.approx(expected.epsilon_rdp)
    assert p.epsilon_pld == pytest.approx(expected.epsilon_pld)
    # One epsilon everywhere: the per-epoch series ends at the headline, named.
    assert len(p.epsilon_per_epoch) == 2 and p.epsilon_per_epoch[-1] == p.epsilon
    assert p.epsilon_per_epoch_accountant == ("pld" if p.epsilon == p.epsilon_pld else "rdp")
    curve = p.epsilon_delta_curve
    assert len(curve["delta"]) == len(curve["epsilon"]) > 10
    assert all(a >= b for a, b in zip(curve["epsilon"], curve["epsilon"][1:]))
    assert p.sampling == "poisson" and "oisson" in p.accounting_note
    assert base.epsilon is None and base.privacy.noise_multiplier == 0.0


def test_same_seed_same_results_and_resume_reuses_models(first_run, tmp_path):
    out, _, _ = first_run
    fresh = tmp_path / "fresh"
    run_audit(tiny(), out_dir=fresh)
    assert _without_timings(fresh / "results.json") == _without_timings(out / "results.json")
    # Running again in the first directory trains nothing and gives the same file.
    progress = Recorder()
    run_audit(tiny(), out_dir=out, progress=progress)
    assert progress.models == [] and len(progress.notes) == 4
    assert _without_timings(fresh / "results.json") == _without_timings(out / "results.json")


def test_other_seed_other_split(first_run, tmp_path):
    _, result, _ = first_run
    other = run_audit(tiny(seed=5), out_dir=tmp_path)
    assert other.data["ids"]["members"] != result.data["ids"]["members"]


def test_interrupt_leaves_nothing_half_written_and_resumes(tmp_path, monkeypatch):
    calls = []
    original = Recipe._train_builtin

    def interrupted(self, *args, **kwargs):
        calls.append(self.arm)
        if self.arm == "dp":
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Recipe, "_train_builtin", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_audit(tiny(**{"attacks.names": "loss_threshold"}), out_dir=tmp_path)
    assert not (tmp_path / "results.json").exists() and not (tmp_path / "scores.csv").exists()
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [
        "baseline-target.json", "baseline-target.keras"]
    monkeypatch.setattr(Recipe, "_train_builtin", original)
    progress = Recorder()
    run_audit(tiny(**{"attacks.names": "loss_threshold"}), out_dir=tmp_path, progress=progress)
    assert progress.models == ["dp target"]
    assert (tmp_path / "results.json").is_file()


def test_changed_config_retrains(first_run, tmp_path):
    out, _, _ = first_run
    progress = Recorder()
    run_audit(tiny(**{"training.epochs": 1, "attacks.names": "loss_threshold"}),
              out_dir=out, progress=progress)
    assert progress.models == ["baseline target", "dp target"]


def test_arms_start_from_the_same_weights(tmp_path):
    cfg = tiny()
    shared: dict = {}
    kw = dict(config=cfg, noise_multiplier=1.0, input_shape=(64,), num_classes=10,
              cache=ModelCache(None), progress=Progress(), initial_weights=shared)
    base = Recipe(private=False, **kw).build(7)
    dp_model = Recipe(private=True, **kw).build(7)
    for a, b in zip(base.get_weights(), dp_model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert base is not dp_model


def test_target_epsilon_calibrates_noise(tmp_path):
    result = run_audit(tiny(**{"dp.target_epsilon": 20.0, "attacks.names": "loss_threshold"}),
                       out_dir=tmp_path)
    p = result.arm("dp").privacy
    assert p.epsilon_rdp <= 20.0
    assert "calibrated to target epsilon 20" in p.accounting_note
    assert result.config["dp"]["target_epsilon"] == 20.0


def test_user_trainer_claims_are_priced_and_labelled(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import my_trainer

    monkeypatch.setattr(my_trainer, "EPOCHS", 1)
    cfg = tiny(**{"model.trainer": "my_trainer:train", "attacks.names": "loss_threshold",
                  "training.epochs": 1})
    result = run_audit(cfg, out_dir=tmp_path)
    p = result.arm("dp").privacy
    assert "as claimed in the config for trainer 'my_trainer:train'" in p.accounting_note
    assert p.steps == result.arm("dp").history["steps"][-1]


def test_bad_trainer_and_bad_shapes_are_input_errors(tmp_path):
    with pytest.raises(InputError, match="trainer 'no_such_module_xyz:train': cannot import"):
        run_audit(tiny(**{"model.trainer": "no_such_module_xyz:train"}), out_dir=tmp_path)
    csv_path = tmp_path / "d.csv"
    rows = "\n".join(f"{i % 7},{i % 3},{i % 5},{i % 2}" for i in range(200))
    csv_path.write_text("a,b,c,label\n" + rows + "\n")
    with pytest.raises(InputError, match=r"model 'cnn' needs images.*dataset 'csv:"):
        run_audit(tiny(**{"data.dataset": f"csv:{csv_path}", "model.name": "cnn"}),
                  out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def test_failing_trainer_is_reported_as_bad_input(tmp_path, monkeypatch):
    module = tmp_path / "broken_trainer_mod.py"
    module.write_text("def train(x, y, *, seed, private):\n"
                      "    raise ValueError('expected 784 features')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match=r"trainer 'broken_trainer_mod:train' failed on 30 "
                                         r"examples of shape \(64,\): ValueError: expected 784"):
        run_audit(tiny(**{"model.trainer": "broken_trainer_mod:train"}), out_dir=tmp_path / "o")


def test_policy_verdict_is_stored(tmp_path):
    from dpaudit.gate import Policy

    result = run_audit(tiny(**{"attacks.names": "loss_threshold"}), out_dir=tmp_path,
                       policy=Policy.from_options(max_auc=0.0))
    assert result.verdict is not None and result.verdict["passed"] is False
    assert load_results(tmp_path / "results.json").verdict["passed"] is False


def test_records_leakage_per_epoch_and_provenance(first_run):
    out, result, _ = first_run
    for arm in result.arms:
        leak = arm.leakage_per_epoch
        assert leak["attack"] == "loss_threshold" and leak["epoch"] == [1, 2]
        assert not any(k.startswith("leakage_") for k in arm.history)
        # At the last epoch the callback saw the final model: the same AUC as the attack.
        final = next(a for a in arm.attacks if a.name == "loss_threshold")
        assert leak["auc"][-1] == pytest.approx(final.auc, abs=1e-6)
    # Other tests re-run in `out`: compare the files with the results written beside them.
    prov = load_results(out / "results.json").provenance
    assert prov["started_at"] <= prov["finished_at"]
    assert len(prov["data_sha256"]) == 64
    for arm in ("baseline", "dp"):
        entry = prov["models"][arm]
        assert entry["file"] == f"models/{arm}-target.keras"
        assert entry["sha256"] == hashlib.sha256((out / entry["file"]).read_bytes()).hexdigest()
