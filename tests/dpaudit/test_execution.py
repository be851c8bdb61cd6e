"""Executors (`dpaudit.execution`): specs, order, and Ray giving the local executor's audit.

The Ray tests start a local Ray with 2 CPUs (skipped when Ray is not installed:
`pip install 'dpaudit[ray]'`).
"""

import json
from pathlib import Path

import pytest

from dpaudit.errors import InputError
from dpaudit.execution import LocalExecutor, make_executor, parse_executor


def _square_plus(task):
    """Module-level, so Ray workers import it by name."""
    if task < 0:
        raise InputError(f"task {task} is negative")
    return task * task + 1


@pytest.mark.parametrize("spec, expected", [("local", ("local", None)), ("ray", ("ray", None)),
                                            ("ray:auto", ("ray", "auto")),
                                            ("ray:10.0.0.5:6379", ("ray", "10.0.0.5:6379"))])
def test_parse_executor(spec, expected):
    assert parse_executor(spec) == expected


@pytest.mark.parametrize("spec", ["spark", "local:x", "ray:", ""])
def test_parse_executor_refuses_other_specs(spec):
    with pytest.raises(InputError, match="executor must be local, ray or ray:ADDRESS"):
        parse_executor(spec)


def test_config_refuses_a_bad_executor():
    from dpaudit.config import load_config

    with pytest.raises(InputError, match="option --executor: field 'execution.executor'"):
        load_config(None, {"execution.executor": "dask"})
    assert load_config(None).execution.executor == "local"


def test_local_executor_maps_in_order_and_raises_task_errors():
    with make_executor("local") as executor:
        assert isinstance(executor, LocalExecutor)
        assert executor.map(_square_plus, [3, 1, 2]) == [10, 2, 5]
        with pytest.raises(InputError, match="task -1 is negative"):
            executor.map(_square_plus, [1, -1])


@pytest.mark.slow
def test_ray_executor_maps_in_order_reports_progress_and_raises_input_errors(ray_executor,
                                                                            recording):
    progress = recording()
    assert ray_executor.map(_square_plus, [3, 1, 2, 0], labels=list("abcd"),
                            progress=progress) == [10, 2, 5, 1]
    assert sorted(progress.done_labels) == list("abcd")
    with pytest.raises(InputError, match="task -1 is negative"):
        ray_executor.map(_square_plus, [1, -1])


def _settings(**extra):
    settings = {"data.n_members": 60, "data.n_shadow_pool": 80, "training.epochs": 1,
                "training.batch_size": 20, "model.name": "mlp", "model.hidden": "8",
                "attacks.n_shadow": 1, "attacks.names": "loss_threshold,shadow",
                "output.report": False}
    settings.update(extra)
    return settings


def _assert_same_scores_and_models(tmp_path, names):
    """The "local" and "ray" runs under tmp_path wrote the same scores.csv, and saved the
    models `names` under the same cache keys."""
    scores = [(tmp_path / d / "scores.csv").read_text() for d in ("local", "ray")]
    assert scores[0] == scores[1]
    for name in names:
        keys = [json.loads((tmp_path / d / "models" / f"{name}.json").read_text())["key"]
                for d in ("local", "ray")]
        assert keys[0] == keys[1], name


@pytest.mark.slow
def test_ray_audit_equals_the_local_audit_and_resumes(ray_executor, tmp_path, recording):
    from dpaudit.audit import run_audit
    from dpaudit.config import load_config

    config = load_config(None, _settings())
    local = run_audit(config, out_dir=tmp_path / "local")
    progress = recording()
    distributed = run_audit(config, out_dir=tmp_path / "ray", executor=ray_executor,
                            progress=progress)
    # Targets train here; the shadow models train in Ray workers.
    assert progress.models == ["baseline target", "dp target"]
    assert progress.done_labels == ["baseline shadow 1/1", "dp shadow 1/1"]
    for arm in ("baseline", "dp"):
        a, b = local.arm(arm).attacks, distributed.arm(arm).attacks
        assert [x.name for x in a] == [x.name for x in b] == ["loss_threshold", "shadow"]
        for x, y in zip(a, b):
            assert x.auc == y.auc and x.advantage == y.advantage
    # The shadow models the workers saved are the local run's models (same cache keys).
    _assert_same_scores_and_models(tmp_path, ("baseline-shadow-1", "dp-shadow-1"))
    # Resume: nothing is trained again, on either side of the executor.
    again = recording()
    run_audit(config, out_dir=tmp_path / "ray", executor=ray_executor, progress=again)
    assert again.models == [] and len(again.notes) == 2  # the targets, reused here
    assert len(again.done_labels) == 2  # shadow tasks found their models in the cache


@pytest.mark.slow
def test_ray_reference_models_equal_the_local_ones_and_resume(ray_executor, tmp_path, recording):
    """Stacks of reference models as Ray tasks: the local run's models, cached, resumable."""
    from dpaudit.audit import run_audit
    from dpaudit.config import load_config

    config = load_config(None, _settings(**{"attacks.names": "lira,rmia",
                                            "attacks.n_reference": 3,
                                            "execution.models_per_task": 2}))
    local = run_audit(config, out_dir=tmp_path / "local")
    progress = recording()
    distributed = run_audit(config, out_dir=tmp_path / "ray", executor=ray_executor,
                            progress=progress)
    assert sorted(progress.done_labels) == sorted(
        f"{arm} references {span}" for arm in ("baseline", "dp") for span in ("1-2 of 3",
                                                                             "3-3 of 3"))
    for arm in ("baseline", "dp"):
        a, b = local.arm(arm).attacks, distributed.arm(arm).attacks
        assert [x.name for x in a] == [x.name for x in b] == [
            "lira", "lira_pooled", "rmia", "rmia_pooled"]
        for x, y in zip(a, b):
            assert repr((x.auc, x.advantage, dict(x.tpr_at_fpr))) == repr(
                (y.auc, y.advantage, dict(y.tpr_at_fpr)))
    _assert_same_scores_and_models(tmp_path, ("baseline-reference-1-2", "dp-reference-3-3"))
    again = recording()
    run_audit(config, out_dir=tmp_path / "ray", executor=ray_executor, progress=again)
    assert again.models == []  # targets reused here, stacks reused in the workers


def test_remote_tasks_import_a_user_trainer_by_its_spec(tmp_path, monkeypatch,
                                                       elsewhere_executor, recording):
    """Shadow and reference tasks carry the trainer's spec and import folder, not the
    function (a worker may not find its module by unpickling), and train the local models."""
    from dpaudit.audit import run_audit
    from dpaudit.config import load_config

    examples = str(Path(__file__).resolve().parents[2] / "examples")
    monkeypatch.syspath_prepend(examples)
    import my_trainer

    monkeypatch.setattr(my_trainer, "EPOCHS", 1)
    config = load_config(None, _settings(**{"model.trainer": "my_trainer:train",
                                            "attacks.names": "shadow,lira",
                                            "attacks.n_reference": 2}))
    local = run_audit(config, out_dir=tmp_path / "local")
    progress = recording()
    elsewhere = run_audit(config, out_dir=tmp_path / "elsewhere", executor=elsewhere_executor,
                          progress=progress)
    assert sorted(progress.done_labels) == sorted(
        f"{arm} {what}" for arm in ("baseline", "dp")
        for what in ("shadow 1/1", "reference 1/2", "reference 2/2"))
    for arm in ("baseline", "dp"):
        a, b = local.arm(arm).attacks, elsewhere.arm(arm).attacks
        assert [(x.name, x.auc) for x in a] == [(x.name, x.auc) for x in b]


def test_arrays_every_task_shares_are_found_for_one_put():
    """Ray gets an array all tasks share (e.g. the audit pool) once, not once per task."""
    import dataclasses

    import numpy as np

    from dpaudit.execution.ray_executor import shared_arrays

    @dataclasses.dataclass(frozen=True)
    class Task:
        pool: np.ndarray
        own: np.ndarray
        seed: int

    pool = np.zeros(5)
    tasks = [Task(pool, np.ones(2), 0), Task(pool, np.ones(2), 1)]
    assert shared_arrays(tasks) == ("pool",)  # equal but distinct arrays are not shared
    assert shared_arrays(tasks[:1]) == () and shared_arrays([3, 4]) == ()
