"""Reference models trained at once (stacked) against one at a time (not a test).

Trains K reference MLPs of the default audit recipe (`dpaudit.config` defaults: the
zoo's MLP, its optimizer, learning rate, epochs, batch size and Poisson sampling) on
random halves of digits' audit pool (members + non-members of the default split),
first as one stack (`dpaudit.training.stacked.train_stacked`), then one after another
through `dpaudit.training.Recipe` (`dpaudit.dp.fit_private`, what the pipeline does for
architectures the stack cannot express), in one process, on the same masks, seeds and
initial weights. Both include building the initial weights and TensorFlow's tracing;
neither includes TensorFlow's import. The stacked models are checked to reach the same
training accuracy as the sequential ones (so the speed is not bought with a broken
step). Prints ONE JSON object: k, stacked_s, sequential_s, speedup, arm, epochs,
pool size, mean training accuracy of both, the 1-minute load average and the CPU count
(other processes slow both arms).

    python benchmarks/reference_models.py [--k 16] [--private] [--quick]

`--quick`: 4 models of 5 epochs (a smoke run, about a minute).
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=16, help="reference models (default 16)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the audit default)")
    parser.add_argument("--private", action="store_true", help="the dp arm's recipe (DP-SGD)")
    parser.add_argument("--quick", action="store_true", help="4 models, 5 epochs")
    args = parser.parse_args()
    k = 4 if args.quick and args.k == 16 else args.k
    epochs = args.epochs or (5 if args.quick else None)

    import keras  # noqa: F401  (imports TensorFlow outside both arms' clocks)
    import numpy as np

    from dpaudit.audit.inputs import load_audit_data, resolve_noise
    from dpaudit.audit.reference import reference_masks
    from dpaudit.config import load_config
    from dpaudit.progress import NullProgress
    from dpaudit.training import ModelCache, Recipe, derive_seed
    from dpaudit.training.models import dense_initial_weights
    from dpaudit.training.stacked import StackSettings, stacked_log_proba, train_stacked

    config = load_config(None, {"training.epochs": epochs})
    data = load_audit_data(config)
    x = np.concatenate([data.members.x, data.nonmembers.x])
    y = np.concatenate([data.members.y, data.nonmembers.y])
    noise, _ = resolve_noise(config, len(data.members))
    recipe = Recipe(config=config, private=args.private,
                    noise_multiplier=noise if args.private else 0.0,
                    input_shape=data.input_shape, num_classes=data.num_classes,
                    cache=ModelCache(None), progress=NullProgress())
    masks = reference_masks(len(x), k, seed=1)
    seeds = [derive_seed(0, "benchmark", i) for i in range(k)]
    t, d = config.training, config.dp

    def train_accuracy(log_proba: np.ndarray) -> float:
        hits = [(log_proba[i][masks[i]].argmax(axis=1) == y[masks[i]]).mean() for i in range(k)]
        return float(np.mean(hits))

    started = time.perf_counter()
    initial = [dense_initial_weights("mlp", input_shape=data.input_shape,
                                     num_classes=data.num_classes, seed=s,
                                     hidden=config.model.hidden) for s in seeds]
    settings = StackSettings(optimizer=t.optimizer, learning_rate=t.learning_rate,
                             epochs=t.epochs, batch_size=t.batch_size, sampling=d.sampling,
                             private=args.private, l2_norm_clip=d.l2_norm_clip,
                             noise_multiplier=recipe.noise_multiplier)
    result = train_stacked(initial, x, y, masks, settings=settings,
                           seeds=[derive_seed(s, "sampling") for s in seeds])
    stacked_s = time.perf_counter() - started
    stacked_acc = train_accuracy(stacked_log_proba(result.weights, x))

    from dpaudit.training import predict_log_proba

    started = time.perf_counter()
    sequential = []
    for i, (mask, s) in enumerate(zip(masks, seeds)):
        trained = recipe.train(f"reference-{i}", f"reference {i}", x[mask], y[mask], seed=s)
        sequential.append(predict_log_proba(trained.model, x))
    sequential_s = time.perf_counter() - started
    sequential_acc = train_accuracy(np.stack(sequential))

    print(json.dumps({
        "k": k, "stacked_s": round(stacked_s, 2), "sequential_s": round(sequential_s, 2),
        "speedup": round(sequential_s / stacked_s, 2),
        "arm": "dp" if args.private else "baseline", "epochs": t.epochs,
        "pool": int(len(x)), "train_accuracy_stacked": round(stacked_acc, 4),
        "train_accuracy_sequential": round(sequential_acc, 4),
        "load_avg_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}))


if __name__ == "__main__":
    main()
