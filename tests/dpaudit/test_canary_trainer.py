"""Trainer-mode canary audits (issue 12): the contract, the cache key, crafted canaries,
scores from every update, and one planted-bug power test per bug kind."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from dpaudit.errors import InputError
from dpaudit.training.trainers import DPSettings, accepts_settings, trainer_source_hash

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_accepts_settings_tells_old_from_new_contract():
    def old(x, y, *, seed, private):
        return None

    def new(x, y, *, seed, private, dp=None):
        return None

    def flexible(x, y, **kwargs):
        return None

    assert not accepts_settings(old)
    assert accepts_settings(new) and accepts_settings(flexible)


@pytest.mark.parametrize("field, value, message", [
    ("noise_multiplier", -1.0, "noise_multiplier must be >= 0"),
    ("l2_norm_clip", 0.0, "l2_norm_clip must be > 0"),
    ("steps", 0, "must be >= 1"),
    ("sampling", "uniform", "sampling must be"),
])
def test_dp_settings_are_checked(field, value, message):
    good = {"noise_multiplier": 1.0, "l2_norm_clip": 1.0, "batch_size": 4, "steps": 2}
    with pytest.raises(InputError, match=message):
        DPSettings(**{**good, field: value})


def test_settings_are_frozen_and_the_hook_is_not_part_of_equality():
    a = DPSettings(noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=4, steps=2)
    b = DPSettings(noise_multiplier=1.0, l2_norm_clip=1.0, batch_size=4, steps=2,
                   observe=print)
    assert a == b
    with pytest.raises(AttributeError):
        a.steps = 3  # type: ignore[misc]


def test_cache_key_sees_every_module_of_the_trainers_package(tmp_path, monkeypatch):
    package = tmp_path / "userpkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "dp_core.py").write_text("NOISE = 1.0\n")
    (package / "entry.py").write_text(textwrap.dedent("""
        def train(x, y, *, seed, private, dp=None):
            from userpkg.dp_core import NOISE  # imported lazily, inside the function
            return NOISE
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    from dpaudit.training.trainers import load_trainer

    train = load_trainer("userpkg.entry:train")
    before = trainer_source_hash(train)
    (package / "dp_core.py").write_text("NOISE = 0.05  # a planted bug in a helper\n")
    assert trainer_source_hash(train) != before
    for name in ("userpkg", "userpkg.entry", "userpkg.dp_core"):
        sys.modules.pop(name, None)


class _Variable:
    def __init__(self, value):
        self.value = np.asarray(value, float)

    def numpy(self):
        return self.value

    def assign(self, value):
        self.value = np.asarray(value, float)


class _Model:
    def __init__(self, dim):
        self.trainable_variables = [_Variable(np.zeros(dim))]


def test_scores_from_every_update_recover_the_coins_of_a_linear_dp_step():
    """A full-batch Gaussian step on known unit directions: the least-squares scores equal
    the naive projection onto each (orthonormal) direction, summed over steps and scaled by
    B, and separate the coins when the noise is small."""
    from dpaudit.canary.gradient import StepRecorder, score_updates

    rng = np.random.default_rng(0)
    m, dim, steps, sigma, lr = 20, 50, 3, 0.05, 0.1
    directions = np.linalg.qr(rng.normal(size=(dim, m)))[0].T  # m orthonormal rows
    coins = rng.random(m) < 0.5
    batch = int(coins.sum())
    model, recorder = _Model(dim), StepRecorder()
    recorder(model)
    for _ in range(steps):
        update = lr / batch * (directions[coins].sum(0) + sigma * rng.normal(size=dim))
        model.trainable_variables[0].assign(model.trainable_variables[0].value - update)
        recorder(model)
    scores = score_updates(recorder, np.zeros((m, 1)), np.zeros(m, int), batch_size=batch,
                           gradients=lambda model, weights, x, y: 3.0 * directions)
    naive = np.zeros(m)
    for before, after in zip(recorder.snapshots[:-1], recorder.snapshots[1:]):
        for i in range(m):
            naive[i] += float(np.dot(before[0] - after[0], directions[i])) * batch
    np.testing.assert_allclose(scores, naive, atol=1e-9)
    assert scores[coins].min() > scores[~coins].max()
    np.testing.assert_allclose(model.trainable_variables[0].value, recorder.snapshots[-1][0])


def test_a_trainer_that_never_calls_the_hook_is_told_how():
    from dpaudit.canary.gradient import StepRecorder, score_updates

    with pytest.raises(InputError, match="dp.observe"):
        score_updates(StepRecorder(), np.zeros((2, 1)), np.zeros(2, int), batch_size=1)


def test_crafted_canaries_are_orthogonal_large_and_shaped_like_the_data():
    from dpaudit.canary.gradient import CANARY_SCALE, craft_canaries

    rng = np.random.default_rng(1)
    data = rng.random((30, 4, 4))
    x, y = craft_canaries(data, 16, 10, rng)
    assert x.shape == (16, 4, 4) and y.shape == (16,) and 0 <= y.min() and y.max() < 10
    flat = x.reshape(16, -1).astype(float)
    largest = np.linalg.norm(data.reshape(30, -1), axis=1).max()
    np.testing.assert_allclose(np.linalg.norm(flat, axis=1), CANARY_SCALE * largest, rtol=1e-5)
    gram = flat @ flat.T / (CANARY_SCALE * largest) ** 2
    np.testing.assert_allclose(gram, np.eye(16), atol=1e-5)


def test_default_mode_follows_the_trainer_contract(tmp_path, monkeypatch):
    from dpaudit.canary import default_mode
    from dpaudit.config import load_config

    (tmp_path / "mode_old.py").write_text("def train(x, y, *, seed, private):\n    pass\n")
    (tmp_path / "mode_new.py").write_text(
        "def train(x, y, *, seed, private, dp=None):\n    pass\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert default_mode(load_config(None, {})) == "whitebox"
    assert default_mode(load_config(None, {"model.trainer": "mode_old:train"})) == "blackbox"
    assert default_mode(load_config(None, {"model.trainer": "mode_new:train"})) == "trainer"
    for name in ("mode_old", "mode_new"):
        sys.modules.pop(name, None)


def test_design_ceiling_is_known_before_training():
    from dpaudit.canary import design_ceiling
    from dpaudit.canary.design import trainer_noise_multiplier

    # Trainer-mode defaults: 2 runs x 256 canaries prove at most ~2.09 at 99.9%, above the
    # epsilon ~0.91 the calibrated audit settings claim; 100 canaries at 95%: 2.33.
    assert design_ceiling(method="one-run", num_canaries=256, runs=2, delta=1e-5,
                          confidence=0.999) == pytest.approx(2.094, abs=1e-3)
    assert design_ceiling(method="one-run", num_canaries=100, runs=1, delta=1e-5,
                          confidence=0.95) == pytest.approx(2.33, abs=0.01)
    assert design_ceiling(method="multi-run", num_canaries=500, runs=4, delta=1e-5,
                          confidence=0.95) > 0
    assert trainer_noise_multiplier(delta=1e-5) > 1.0
