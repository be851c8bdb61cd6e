"""Reference models (`dpaudit.audit.reference`) and the reference attacks in both commands."""

from __future__ import annotations

import csv

import numpy as np
import pytest

pytest.importorskip("keras")

from dpaudit.audit import reference as ref  # noqa: E402
from dpaudit.audit.run import run_audit  # noqa: E402
from dpaudit.config import load_config  # noqa: E402
from dpaudit.progress import Progress  # noqa: E402
from dpaudit.results import load_results  # noqa: E402
from dpaudit.training import ModelCache, Recipe  # noqa: E402

TINY = {"data.n_members": 30, "training.batch_size": 10, "training.epochs": 2,
        "model.hidden": "8", "output.report": False, "attacks.n_reference": 4,
        "attacks.names": "loss_threshold,lira,lira_offline,rmia"}


class _Notes(Progress):
    def __init__(self):
        self.notes: list[str] = []

    def note(self, text):
        self.notes.append(text)


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_masks_put_each_example_in_about_half_the_models(k):
    masks = ref.reference_masks(1000, k, seed=3)
    # Bernoulli(1/2) per (model, example): 5 standard errors fail with probability < 1e-6.
    assert abs(masks.mean() - 0.5) < 5 * np.sqrt(0.25 / masks.size)
    assert np.all(np.abs(masks.sum(axis=1) - 500) < 5 * np.sqrt(250))
    np.testing.assert_array_equal(masks, ref.reference_masks(1000, k, seed=3))
    assert not np.array_equal(masks, ref.reference_masks(1000, k, seed=4))


def test_masks_are_independent_across_models():
    """A model's membership must not predict how many other models hold the example."""
    masks = ref.reference_masks(20000, 4, seed=0)
    others_in = masks[1:].sum(axis=0)
    gap = others_in[masks[0]].mean() - others_in[~masks[0]].mean()
    # Each mean of 3 Bernoulli(1/2) over ~10000 examples: SE of the gap ~ 0.0122;
    # 5 SE fail with probability < 1e-6. (Exactly balanced masks give a gap of -1.)
    assert abs(gap) < 5 * np.sqrt(2 * 0.75 / 10000)


def _recipe(tmp_path, private=False, **extra):
    config = load_config(None, {**TINY, **extra})
    return Recipe(config=config, private=private, noise_multiplier=1.0 if private else 0.0,
                  input_shape=(6,), num_classes=3, cache=ModelCache(tmp_path),
                  progress=_Notes())


def _pool(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 6)).astype(np.float32), rng.integers(0, 3, n).astype(np.int64),
            rng.normal(size=(15, 6)).astype(np.float32))


@pytest.mark.parametrize("private", [False, True])
def test_stacked_and_one_at_a_time_references_agree(tmp_path, monkeypatch, private):
    """The pipeline's stack gives the models `Recipe.train` gives, seeds and masks included."""
    x, y, population = _pool()
    stacked = ref.train_references(_recipe(tmp_path / "a", private), x, y, population, k=2,
                                   seed=5, name="r")
    assert stacked.how == "stacked"
    monkeypatch.setattr("dpaudit.training.stacked.stack_unsupported",
                        lambda *a, **k: "testing the fallback")
    recipe = _recipe(tmp_path / "b", private)
    single = ref.train_references(recipe, x, y, population, k=2, seed=5, name="r")
    assert single.how == "one at a time"
    assert any("testing the fallback" in note for note in recipe.progress.notes)
    np.testing.assert_array_equal(stacked.masks, single.masks)
    # Same weights up to float32 rounding in a different order (see test_stacked).
    np.testing.assert_allclose(stacked.log_proba, single.log_proba, atol=1e-4)
    np.testing.assert_allclose(stacked.population_log_proba, single.population_log_proba,
                               atol=1e-4)


def test_references_train_in_stacks_of_models_per_task(tmp_path):
    """The unit of work an executor runs: stacks of at most execution.models_per_task."""
    x, y, population = _pool()
    whole = ref.train_references(_recipe(tmp_path / "a"), x, y, population, k=5, seed=2,
                                 name="r")
    recipe = _recipe(tmp_path / "b", **{"execution.models_per_task": 2,
                                         "attacks.n_reference": 5})
    assert ref.progress_units(recipe.config, private=False, trainer=None) == 3
    grouped = ref.train_references(recipe, x, y, population, k=5, seed=2, name="r")
    assert whole.how == "stacked" and grouped.how == "stacked, 3 stacks of up to 2"
    assert sorted(p.name for p in (tmp_path / "b").glob("*.npz")) == [
        "r-1-2.npz", "r-3-4.npz", "r-5-5.npz"]
    np.testing.assert_array_equal(whole.masks, grouped.masks)
    # The same models (seeds, masks, sampling, noise) up to float32 rounding of the stack.
    np.testing.assert_allclose(whole.log_proba, grouped.log_proba, atol=1e-4)
    assert grouped.log_proba.shape == (5, 60, 3) and grouped.population_log_proba.shape[0] == 5


def test_a_stack_is_cached_as_one_entry_and_reused(tmp_path):
    x, y, population = _pool()
    first = ref.train_references(_recipe(tmp_path), x, y, population, k=2, seed=1, name="r")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "r.npz"]
    recipe = _recipe(tmp_path)
    again = ref.train_references(recipe, x, y, population, k=2, seed=1, name="r")
    assert any("reused" in note for note in recipe.progress.notes)
    np.testing.assert_array_equal(first.log_proba, again.log_proba)
    np.testing.assert_array_equal(first.masks, again.masks)
    other = _recipe(tmp_path, **{"training.learning_rate": 0.5})
    ref.train_references(other, x, y, population, k=2, seed=1, name="r")
    assert not any("reused" in note for note in other.progress.notes)


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference-run")
    return out, run_audit(load_config(None, TINY), out_dir=out)


def test_pipeline_reports_target_and_pooled_reference_attacks(reference_run):
    out, _ = reference_run
    loaded = load_results(out / "results.json")
    expected = ["loss_threshold", "lira", "lira_pooled", "lira_offline", "lira_offline_pooled",
                "rmia", "rmia_pooled"]
    for arm in loaded.arms:
        assert [a.name for a in arm.attacks] == expected
        by_name = {a.name: a for a in arm.attacks}
        assert by_name["lira"].n_members == by_name["lira"].n_nonmembers == 30
        # Pooled: 4 reference models x 60 pool examples, each pair IN with probability
        # 1/2 (Binomial(240, 1/2): 5 standard errors fail with probability < 1e-6).
        pooled = by_name["lira_pooled"]
        assert pooled.n_members + pooled.n_nonmembers == 4 * 60
        assert abs(pooled.n_members - 120) < 5 * np.sqrt(60)
        assert pooled.details["n_reference"] == 4
        assert pooled.details["reference_training"] == "stacked"
        assert pooled.details["pooled_pairs_independent"] is False
        assert pooled.is_estimate and not by_name["lira"].is_estimate  # never fires the rule
    assert sorted(p.name for p in (out / "models").glob("*.npz")) == [
        "baseline-reference.npz", "dp-reference.npz"]
    with open(out / "scores.csv", newline="") as f:
        attacks_in_csv = {row["attack"] for row in csv.DictReader(f)}
    assert attacks_in_csv == {"loss_threshold", "lira", "lira_offline", "rmia"}


def test_reference_models_are_reused_on_resume(reference_run, tmp_path):
    out, first = reference_run
    progress = _Notes()
    again = run_audit(load_config(None, TINY), out_dir=out, progress=progress)
    assert sum("reused" in note for note in progress.notes) == 4  # 2 targets, 2 stacks
    for a, b in zip(first.arms, again.arms):
        assert [s.auc for s in a.attacks] == [s.auc for s in b.attacks]


def _external_data(out, tmp_path):
    from dpaudit.data import load_dataset

    ids = load_results(out / "results.json").data["ids"]
    ds = load_dataset("digits")
    for role in ("members", "nonmembers"):
        rows = np.asarray(ids[role])
        np.savez(tmp_path / f"{role}.npz", x=ds.x[rows] / 16.0, y=ds.y[rows])
    return {"members": f"npz:{tmp_path / 'members.npz'}",
            "nonmembers": f"npz:{tmp_path / 'nonmembers.npz'}"}


def test_external_model_gets_reference_attacks(reference_run, tmp_path, monkeypatch):
    from dpaudit.audit import external, outputs
    from dpaudit.config import AttacksConfig, TrainingConfig

    out, _ = reference_run
    write = outputs.write_outputs
    monkeypatch.setattr(outputs, "write_outputs",  # report.html is another module's test
                        lambda *a, **k: write(*a, **{**k, "report": False}))
    result = external.audit_model(
        out / "models" / "baseline-target.keras", **_external_data(out, tmp_path),
        shadow_model="mlp", attacks=AttacksConfig(names=("lira_offline", "rmia"), n_reference=3),
        training=TrainingConfig(epochs=2, batch_size=5), out_dir=tmp_path / "out")
    (arm,) = result.arms
    assert [a.name for a in arm.attacks] == ["lira_offline", "lira_offline_pooled", "rmia",
                                             "rmia_pooled"]
    # Half the non-members became the attacker's data (RMIA's population).
    assert arm.attacks[0].n_members == 30 and arm.attacks[0].n_nonmembers == 15
    assert arm.attacks[1].details["reference_training"] == "stacked"


def test_reference_attacks_without_a_recipe_are_bad_input(reference_run, tmp_path):
    from dpaudit.audit import external
    from dpaudit.config import AttacksConfig
    from dpaudit.errors import InputError

    out, _ = reference_run
    with pytest.raises(InputError, match="the lira attack needs --shadow-model"):
        external.audit_model(out / "models" / "baseline-target.keras",
                             **_external_data(out, tmp_path),
                             attacks=AttacksConfig(names=("lira",)), out_dir=tmp_path / "out")


@pytest.mark.filterwarnings("ignore::dpaudit.attacks.MetricWarning")  # 60 examples: TPR NaN
def test_too_few_reference_models_for_lira_is_bad_input(tmp_path):
    from dpaudit.errors import InputError

    x, y, population = _pool()
    refs = ref.train_references(_recipe(tmp_path), x, y, population, k=1, seed=1, name="r")
    log_proba = refs.log_proba[0]
    kw = {"delta": 1e-5, "confidence": 0.95, "seed": 0}
    with pytest.raises(InputError, match="'lira' with attacks.n_reference = 1"):
        ref.reference_attack_results("lira", refs, log_proba, refs.population_log_proba[0],
                                     y, np.zeros(15, np.int64), refs.masks[0], kw)
    result, pooled = ref.reference_attack_results(
        "rmia", refs, log_proba, refs.population_log_proba[0], y, np.zeros(15, np.int64),
        refs.masks[0], kw)
    assert result.name == "rmia" and pooled is None  # RMIA works with one model
