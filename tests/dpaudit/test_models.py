"""Tests of dpaudit.training.models: shapes, the tutorial's layers, seeded weights, bad options."""

from __future__ import annotations

import numpy as np
import pytest

from dpaudit.errors import InputError
from dpaudit.training.models import MODEL_NAMES, build_model, cnn_min_image_size


def _weights_equal(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_outputs_are_probabilities(name):
    model = build_model(name, input_shape=(64,), num_classes=10, seed=0)
    x = np.random.default_rng(0).uniform(size=(5, 64)).astype("float32")
    p = np.asarray(model(x))
    assert p.shape == (5, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
    assert (p >= 0).all()


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_same_seed_same_initial_weights_other_seed_different(name):
    a = build_model(name, input_shape=(64,), num_classes=3, seed=7)
    b = build_model(name, input_shape=(64,), num_classes=3, seed=7)
    c = build_model(name, input_shape=(64,), num_classes=3, seed=8)
    assert _weights_equal(a, b)
    assert not _weights_equal(a, c)


def test_mlp_hidden_sizes():
    model = build_model("mlp", input_shape=(64,), num_classes=10, seed=0)
    assert [w.shape for w in model.get_weights()[::2]] == [(64, 256), (256, 256), (256, 10)]
    small = build_model("mlp", input_shape=(4,), num_classes=2, seed=0, hidden=(8,))
    assert small.count_params() == 4 * 8 + 8 + 8 * 2 + 2


def test_cnn_is_the_tutorials_short_conv_net_on_mnist_shapes():
    model = build_model("cnn", input_shape=(28, 28, 1), num_classes=10, seed=0)
    convs = [layer for layer in model.layers if type(layer).__name__ == "Conv2D"]
    assert [c.filters for c in convs] == [10, 32, 64]
    assert all(tuple(c.kernel_size) == (3, 3) for c in convs)
    pools = [layer for layer in model.layers if type(layer).__name__ == "AveragePooling2D"]
    assert len(pools) == 3
    assert not any(type(layer).__name__ == "Resizing" for layer in model.layers)
    # Same parameter count as the tutorial's model: 100 + 2912 + 18496 + 650.
    assert model.count_params() == 22158


def test_cnn_reshapes_and_upsizes_digits():
    model = build_model("cnn", input_shape=(64,), num_classes=10, seed=0)
    names = [type(layer).__name__ for layer in model.layers]
    assert "Reshape" in names and "Resizing" in names
    assert model.count_params() == 22158
    assert cnn_min_image_size() == 22


def test_cnn_with_explicit_image_shape():
    model = build_model("cnn", input_shape=(192,), num_classes=2, seed=0, image_shape=(8, 8, 3))
    assert model(np.zeros((1, 192), "float32")).shape == (1, 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "resnet"}, "unknown model 'resnet'; expected one of logreg, mlp, cnn"),
    ({"name": "mlp", "hidden": (0,)}, "hidden must be a list of positive layer widths"),
    ({"name": "mlp", "depth": 3}, "unknown option(s) depth"),
    ({"name": "cnn", "input_shape": (10,)}, "is not square"),
    ({"name": "cnn", "image_shape": (5, 5, 1)}, "does not hold the 64 features"),
    ({"name": "logreg", "num_classes": 1}, "num_classes must be >= 2"),
])
def test_bad_arguments_raise_input_error(kwargs, message):
    args = {"input_shape": (64,), "num_classes": 10, "seed": 0, **kwargs}
    name = args.pop("name")
    with pytest.raises(InputError) as info:
        build_model(name, **args)
    assert message in str(info.value)
