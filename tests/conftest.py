"""Shared test set-up: quiet TensorFlow, the `slow` and `browser` markers, and the executor
tests' fixtures: an executor that hands tasks over as a remote one does, a local Ray, and a
progress reporter that records what it is told."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")


class ElsewhereExecutor:
    """Runs tasks here, but as a remote executor gets them: pickled, with no live objects
    (progress bars, user trainers loaded in this process)."""

    name = "elsewhere"
    in_process = False

    def map(self, fn, tasks, *, labels=None, progress=None):
        import pickle

        from dpaudit.progress import NullProgress

        results = []
        for task, label in zip(tasks, labels):
            recipe = getattr(task, "recipe", None)
            assert type(getattr(task, "progress", NullProgress())) is NullProgress
            assert recipe is None or (type(recipe.progress) is NullProgress
                                      and recipe.trainer is None)
            results.append(fn(pickle.loads(pickle.dumps(task))))
            progress.done(label, 0.0)
        return results

    def close(self):
        pass


@pytest.fixture
def elsewhere_executor():
    """An `ElsewhereExecutor`."""
    return ElsewhereExecutor()


@pytest.fixture(scope="module")
def ray_executor():
    """A Ray started here with 2 CPUs (skipped without `pip install 'dpaudit[ray]'`)."""
    pytest.importorskip("ray")
    from dpaudit.execution.ray_executor import RayExecutor

    executor = RayExecutor(num_cpus=2, object_store_memory=100 * 2**20)
    yield executor
    executor.close()


@pytest.fixture
def recording():
    """A factory of progress reporters that record labels of models, finished tasks, notes."""
    from dpaudit.progress import Progress

    class Recording(Progress):
        def __init__(self):
            self.done_labels, self.models, self.notes = [], [], []

        def done(self, label, seconds):
            assert seconds >= 0
            self.done_labels.append(label)

        def model(self, label, epochs):
            self.models.append(label)
            return super().model(label, epochs)

        def note(self, text):
            self.notes.append(text)

    return Recording


@pytest.fixture
def example_trainers(monkeypatch):
    """examples/trainers importable as `trainers` (on this process's path only: executor
    tasks tell their workers where a trainer lives), forgotten again afterwards."""
    import sys
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "examples"))
    yield
    for name in [n for n in sys.modules if n == "trainers" or n.startswith("trainers.")]:
        sys.modules.pop(name, None)


_OLD_CONTRACT_TRAINER = '''"""A user's own training code, old contract: DP settings hard-coded
(clip 1, noise 1, batch 25, EPOCHS epochs); a tiny softmax regression on dpaudit's DP-SGD."""
import keras
from dpaudit import dp


def train(x, y, *, seed, private):
    keras.utils.set_random_seed(seed)
    model = dp.DPSequential([keras.Input(x.shape[1:]),
                             keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer=dp.DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.0,
                                                   learning_rate=0.5),
                  loss="sparse_categorical_crossentropy")
    dp.fit_private(model, x, y, batch_size=25, epochs=EPOCHS, seed=seed)
    return model
'''


@pytest.fixture
def old_contract_trainer(tmp_path, monkeypatch):
    """Writes an old-contract DP trainer module (`train(x, y, *, seed, private)`) into
    tmp_path, importable: `old_contract_trainer(module_name, epochs)` -> its --trainer spec."""

    def write(module_name: str, epochs: int) -> str:
        source = _OLD_CONTRACT_TRAINER.replace("EPOCHS", str(epochs))
        (tmp_path / f"{module_name}.py").write_text(source)
        monkeypatch.syspath_prepend(str(tmp_path))
        return f"{module_name}:train"

    return write
