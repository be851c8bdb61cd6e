"""Canary audits' training runs through an executor (`dpaudit.canary.tasks`, issue 15).

An executor that runs tasks elsewhere must give the local executor's observations: the
same scores, the same bounds, and (black-box) the same cached models, so a second run
resumes. Without Ray, a stand-in executor sends every task through a pickle round trip;
the Ray tests start a local Ray with 2 CPUs (skipped when Ray is not installed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from dpaudit.canary import run_canary_audit, whitebox_observations  # noqa: E402
from dpaudit.config import load_config  # noqa: E402
from dpaudit.execution import LocalExecutor  # noqa: E402

def _blackbox_config(**extra):
    settings = {"data.n_members": 60, "training.epochs": 1, "training.batch_size": 20,
                "model.name": "mlp", "model.hidden": "8", "attacks.names": "loss_threshold",
                "output.report": False}
    settings.update(extra)
    return load_config(None, settings)


def _blackbox(config, out, executor=None, progress=None):
    return run_canary_audit(config, mode="blackbox", method="multi-run", num_canaries=20,
                            runs=3, out_dir=out, executor=executor, progress=progress)


def _same_attacks(a, b):
    x, y = a.arm("dp").attacks, b.arm("dp").attacks
    assert [s.name for s in x] == [s.name for s in y]
    for s, t in zip(x, y):
        assert s.epsilon_lower_bound == t.epsilon_lower_bound and s.auc == t.auc
    assert a.arm("dp").epsilon == b.arm("dp").epsilon


def _scores(out):
    return (Path(out) / "scores.csv").read_text()


def test_blackbox_tasks_carry_no_live_objects_and_give_the_local_observations(
        tmp_path, elsewhere_executor, recording):
    config = _blackbox_config(**{"output.save_models": False})
    local = _blackbox(config, tmp_path / "local", executor=LocalExecutor())
    progress = recording()
    elsewhere = _blackbox(config, tmp_path / "elsewhere", executor=elsewhere_executor,
                          progress=progress)
    _same_attacks(local, elsewhere)
    assert _scores(tmp_path / "local") == _scores(tmp_path / "elsewhere")
    assert local.arm("dp").utility == elsewhere.arm("dp").utility
    # Remote runs are reported by the executor, not by bars of the task.
    assert progress.models == []
    assert progress.done_labels == [f"canary run {r}/3" for r in (1, 2, 3)]


def test_whitebox_runs_through_an_executor_give_the_local_observations(elsewhere_executor,
                                                                      recording):
    settings = dict(dataset_size=40, batch_size=10, epochs=1, l2_norm_clip=1.0,
                    noise_multiplier=1.0, delta=1e-5, num_canaries=20, runs=2, seed=3)
    local = whitebox_observations(**settings)
    progress = recording()
    elsewhere = whitebox_observations(**settings, executor=elsewhere_executor, progress=progress)
    assert np.array_equal(local.scores, elsewhere.scores)
    assert np.array_equal(local.is_member, elsewhere.is_member)
    assert local.details == elsewhere.details and local.privacy == elsewhere.privacy
    assert progress.done_labels == ["white-box run 1/2", "white-box run 2/2"]


@pytest.mark.slow
def test_blackbox_on_ray_equals_local_and_resumes(ray_executor, tmp_path, recording):
    config = _blackbox_config()
    local = _blackbox(config, tmp_path / "local")
    progress = recording()
    distributed = _blackbox(config, tmp_path / "ray", executor=ray_executor,
                            progress=progress)
    _same_attacks(local, distributed)
    assert _scores(tmp_path / "local") == _scores(tmp_path / "ray")
    assert sorted(progress.done_labels) == [f"canary run {r}/3" for r in (1, 2, 3)]
    (attack,) = distributed.arm("dp").attacks
    assert attack.details["models_reused"] == 0
    # Resume: the workers find the models they saved (same cache keys as a local run).
    again = _blackbox(config, tmp_path / "ray", executor=ray_executor, progress=recording())
    (attack,) = again.arm("dp").attacks
    assert attack.details["models_reused"] == 3
    _same_attacks(local, again)


@pytest.mark.slow
def test_trainer_mode_on_ray_equals_local(ray_executor, example_trainers, tmp_path, recording):
    config = load_config(None, {"model.trainer": "trainers.correct:train",
                                "output.report": False, "output.save_models": False})

    def audit(out, executor=None, progress=None):
        return run_canary_audit(config, mode="trainer", num_canaries=32, runs=2,
                                out_dir=out, executor=executor, progress=progress)

    local = audit(tmp_path / "local")
    progress = recording()
    distributed = audit(tmp_path / "ray", executor=ray_executor, progress=progress)
    _same_attacks(local, distributed)
    assert _scores(tmp_path / "local") == _scores(tmp_path / "ray")
    assert sorted(progress.done_labels) == ["trainer run 1/2", "trainer run 2/2"]
    assert local.arm("dp").attacks[0].details["observed_steps"] == \
        distributed.arm("dp").attacks[0].details["observed_steps"]
