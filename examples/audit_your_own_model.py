"""Audit a Keras model you trained yourself, e.g. the Syft-Keras tutorial's conv net.

    python examples/audit_your_own_model.py

1. Trains the tutorial's short conv net (Conv2D 10/32/64, AveragePooling2D, ReLU,
   softmax) with plain Keras, as the tutorial does, but on 300 digits so it runs
   anywhere, and saves it as an .h5 file like the tutorial's `short-conv-mnist.h5`.
2. Saves the examples it was trained on (members) and held-out ones (non-members).
3. Audits the saved file, as `dpaudit attack` does from the command line:

       dpaudit attack --model runs/own-model/short-conv-digits.h5 \
           --members npz:runs/own-model/members.npz \
           --nonmembers npz:runs/own-model/nonmembers.npz \
           --shadow-model cnn --out runs/own-model/audit

With the tutorial's real file and MNIST in the Keras cache:

       dpaudit attack --model short-conv-mnist.h5 --members mnist:train \
           --nonmembers mnist:test --shadow-model cnn --max-examples 2000
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

OUT = Path("runs/own-model")


def train_and_save() -> Path:
    import keras

    from dpaudit.data import load_dataset
    from dpaudit.training.models import build_model

    digits = load_dataset("digits")
    x, y = digits.x / 16.0, digits.y  # the scaling the model is trained with
    order = np.random.default_rng(0).permutation(len(y))
    members, nonmembers = order[:300], order[300:600]
    keras.utils.set_random_seed(0)
    model = build_model("cnn", input_shape=(64,), num_classes=10, seed=0)
    model.compile(loss="sparse_categorical_crossentropy", optimizer=keras.optimizers.Adam(),
                  metrics=["accuracy"])
    model.fit(x[members], y[members], batch_size=32, epochs=60, verbose=0)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "short-conv-digits.h5"
    model.save(path)
    # Saved already scaled, so the audit feeds the model exactly what it was trained on.
    np.savez(OUT / "members.npz", x=x[members], y=y[members])
    np.savez(OUT / "nonmembers.npz", x=x[nonmembers], y=y[nonmembers])
    return path


def main() -> None:
    from dpaudit.audit import audit_model

    path = train_and_save()
    result = audit_model(path, members=f"npz:{OUT / 'members.npz'}",
                         nonmembers=f"npz:{OUT / 'nonmembers.npz'}", shadow_model="cnn",
                         out_dir=OUT / "audit")
    arm = result.arms[0]
    print(f"train accuracy {arm.utility.train_accuracy:.3f}, "
          f"held-out accuracy {arm.utility.test_accuracy:.3f}")
    for attack in arm.attacks:
        print(f"{attack.name:>15}: AUC {attack.auc:.3f} "
              f"[{attack.auc_ci[0]:.2f}, {attack.auc_ci[1]:.2f}], "
              f"TPR at 10% FPR {attack.tpr_at_fpr['0.1']:.2f}")
    print(f"report: {OUT / 'audit' / 'report.html'}")


if __name__ == "__main__":
    main()
