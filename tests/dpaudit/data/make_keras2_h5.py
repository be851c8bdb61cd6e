"""Makes short-conv-mnist-keras2.h5: a real legacy Keras-2 HDF5 file of the tutorial's net.

Not run by the tests (they only read the committed file). It exists so the fixture
can be rebuilt and checked. The file stands in for what users bring to
`dpaudit attack`: the Syft-Keras tutorial "Private Predictions, step 1: public
training" builds a "short conv net" with Keras 2 (`tensorflow.keras` before TF 2.16)
and saves it with ``model.save('short-conv-mnist.h5')``, i.e. Keras 2's HDF5 format
(root attrs ``model_config`` / ``keras_version`` 2.x, weights under ``model_weights``).
Keras 3, which the project runs on, writes a different h5 layout, so the test needs a
file written by Keras 2 itself.

How it was made. Keras 2 ships on PyPI as ``tf-keras``; use a throwaway venv outside the
repository (the project's venv must stay on Keras 3):

    python3 -m venv /tmp/k2venv
    /tmp/k2venv/bin/pip install "tensorflow-cpu==2.21.*" "tf-keras==2.21.*"
    /tmp/k2venv/bin/python tests/dpaudit/data/make_keras2_h5.py

(made with tensorflow-cpu 2.21.0, tf-keras 2.21.0, numpy 2.4.6, h5py 3.14.0.)

What is in it:

* the tutorial's architecture, layer for layer: Conv2D(10, 3x3) on 28x28x1,
  AveragePooling2D(2x2), relu, Conv2D(32, 3x3), AveragePooling2D, relu,
  Conv2D(64, 3x3), AveragePooling2D, relu, Flatten, Dense(10, softmax): 22,158 params;
* compiled as in the tutorial (categorical_crossentropy, Adam, accuracy) and trained
  briefly on SYNTHETIC 28x28x1 images in [0, 1] (no MNIST download): `synthetic_data`
  below, whose first N_MEMBERS rows (seed MEMBER_SEED) are the training set;
* saved as the tutorial does, ``model.save(path)`` with an .h5 name: Keras 2's HDF5
  format with the optimizer (root attrs ``model_config``, ``training_config``,
  ``keras_version`` 2.x, ``backend``; groups ``model_weights`` and Adam's
  ``optimizer_weights``), about 310 KB. dpaudit loads it with ``compile=False``, so the
  training config and optimizer state are read past, not used.

Next to it, short-conv-mnist-keras2-expected.npz holds what Keras 2 itself predicts
(`model.predict`, float32 softmax) on the first N_REFERENCE members and the first
N_REFERENCE non-members (``synthetic_data(N_MEMBERS, NONMEMBER_SEED)``, never trained
on), with their labels and pixel sums (to tell a changed numpy random stream from a
wrong model): the test checks that the file, loaded by Keras 3, computes the same
function.

The test imports `synthetic_data` from this file (numpy only; tf_keras is imported in
`main`) to regenerate the members and fresh non-members.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).with_name("short-conv-mnist-keras2.h5")
EXPECTED = Path(__file__).with_name("short-conv-mnist-keras2-expected.npz")
N_MEMBERS = 200
MEMBER_SEED = 0
NONMEMBER_SEED = 1
N_REFERENCE = 20
NUM_CLASSES = 10
EPOCHS = 20


def synthetic_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n images (n, 28, 28, 1) float32 in [0, 1] and int64 labels 0..9, balanced.

    Class k is a bright 8x8 square at one of ten fixed places, on uniform noise of
    amplitude 0.5, with the square jittered by up to 2 pixels: learnable by the net,
    not trivially separable, so the model is neither random nor perfect.
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n, dtype=np.int64) % NUM_CLASSES
    rng.shuffle(y)
    x = 0.5 * rng.uniform(size=(n, 28, 28, 1))
    corners = [(r, c) for r in (2, 10, 18) for c in (2, 10, 18)] + [(10, 6)]
    jitter = rng.integers(-2, 3, size=(n, 2))
    for i, k in enumerate(y):
        r = min(max(corners[k][0] + jitter[i, 0], 0), 20)
        c = min(max(corners[k][1] + jitter[i, 1], 0), 20)
        x[i, r:r + 8, c:c + 8, 0] += 0.5
    return np.clip(x, 0.0, 1.0).astype(np.float32), y


def build_tutorial_model(keras):
    """The seed tutorial's model, verbatim but for the module it comes from."""
    from tf_keras.layers import Activation, AveragePooling2D, Conv2D, Dense, Flatten
    from tf_keras.models import Sequential

    model = Sequential()
    model.add(Conv2D(10, (3, 3), input_shape=(28, 28, 1)))
    model.add(AveragePooling2D((2, 2)))
    model.add(Activation('relu'))
    model.add(Conv2D(32, (3, 3)))
    model.add(AveragePooling2D((2, 2)))
    model.add(Activation('relu'))
    model.add(Conv2D(64, (3, 3)))
    model.add(AveragePooling2D((2, 2)))
    model.add(Activation('relu'))
    model.add(Flatten())
    model.add(Dense(NUM_CLASSES, activation='softmax'))
    model.compile(loss=keras.losses.categorical_crossentropy,
                  optimizer=keras.optimizers.Adam(),
                  metrics=['accuracy'])
    return model


def main() -> int:
    import h5py
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    x, y = synthetic_data(N_MEMBERS, MEMBER_SEED)
    model = build_tutorial_model(keras)
    model.fit(x, keras.utils.to_categorical(y, NUM_CLASSES), batch_size=32, epochs=EPOCHS,
              verbose=2)
    model.save(OUT)  # as in the tutorial: .h5 name -> Keras 2 HDF5, optimizer included
    x_non, y_non = synthetic_data(N_MEMBERS, NONMEMBER_SEED)
    k = N_REFERENCE
    np.savez(EXPECTED, y_members=y[:k], y_nonmembers=y_non[:k],
             x_sums=np.array([x[:k].sum(dtype=np.float64), x_non[:k].sum(dtype=np.float64)]),
             probs_members=model.predict(x[:k], verbose=0),
             probs_nonmembers=model.predict(x_non[:k], verbose=0))

    with h5py.File(OUT, "r") as f:
        version = f.attrs["keras_version"]
        version = version.decode() if isinstance(version, bytes) else str(version)
        assert {"model_config", "training_config"} <= set(f.attrs), "not a Keras-2 h5 layout"
        assert {"model_weights", "optimizer_weights"} <= set(f), "not a Keras-2 h5 layout"
        assert version.startswith("2."), version
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes), keras_version {version}, "
          f"tensorflow {tf.__version__}, params {model.count_params()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
