"""An audit's many models on the local executor vs Ray with 2 workers (not a test; JSON).

Runs `dpaudit.audit.run_audit` twice in one process with the same config and seed
(digits, MLP, 8 shadow models per arm = 16 shadow models plus 2 targets): once with
`LocalExecutor`, once with `RayExecutor(num_cpus=2)` (a local Ray, started and timed
separately). Prints one JSON object with wall times, the mean seconds per shadow model
on each executor, the speed-up (local / Ray), and whether every attack metric of the two
runs is identical (each task is a pure function of seed, model id and examples; a Ray
task runs TensorFlow on one thread, which can change float32 rounding: the largest AUC
difference is printed too).

`--references 8`: the same for reference models instead (the default audit's data
and recipe, lira/lira_offline/rmia, 8 per arm = 16 reference models), trained in stacks
of `--models-per-task` (default 8: one stack per arm; 4: two stacks per arm, so both
Ray workers have a stack to train).

`--cnn --no-audit` (its own process: TensorFlow threads are fixed at start-up) times
the DP training of the Syft-Keras tutorial's conv net on 28x28x1 data (`fit_private`,
batch 128, Poisson sampling), one model at a time with TensorFlow on one thread, as the
per-model figure for estimating a LiRA audit on a cluster.

    python benchmarks/audit_executor.py [--shadow 8] [--epochs 3]
    python benchmarks/audit_executor.py --references 8 --models-per-task 4
    python benchmarks/audit_executor.py --cnn --no-audit
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _progress():
    from dpaudit.progress import Progress

    class Timing(Progress):
        def __init__(self):
            self.seconds: dict[str, float] = {}

        def model(self, label, epochs):
            import contextlib

            @contextlib.contextmanager
            def timed():
                start = time.perf_counter()
                yield lambda n=1: None
                self.seconds[label] = time.perf_counter() - start

            return timed()

        def done(self, label, seconds):
            self.seconds[label] = seconds

    return Timing()


def bench_audit(n_shadow: int, epochs: int, n_reference: int = 0,
                models_per_task: int = 8) -> dict:
    """Shadow models (`n_reference` 0) or reference models, local vs Ray, one config."""
    from dpaudit.audit import run_audit
    from dpaudit.config import load_config
    from dpaudit.execution import LocalExecutor
    from dpaudit.execution.ray_executor import RayExecutor

    if n_reference:  # the default audit's data and recipe, reference attacks only
        kind, what = "reference", {"attacks.n_reference": n_reference,
                                   "attacks.names": "lira,lira_offline,rmia",
                                   "execution.models_per_task": models_per_task}
        if epochs:
            what["training.epochs"] = epochs
    else:
        kind, what = "shadow", {"data.n_members": 200, "data.n_shadow_pool": 400,
                                "training.epochs": epochs, "attacks.n_shadow": n_shadow,
                                "attacks.names": "loss_threshold,shadow"}
    config = load_config(None, {**what, "model.name": "mlp", "output.report": False,
                                "output.save_models": False})
    row: dict = {f"{kind}_models": 2 * (n_reference or n_shadow),
                 "epochs": config.training.epochs}
    if n_reference:
        row["models_per_task"] = models_per_task
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("local", "ray"):
            start = time.perf_counter()
            executor = LocalExecutor() if name == "local" else RayExecutor(num_cpus=2)
            row[f"{name}_start_s"] = round(time.perf_counter() - start, 2)
            progress = _progress()
            start = time.perf_counter()
            results[name] = run_audit(config, out_dir=f"{tmp}/{name}", executor=executor,
                                      progress=progress)
            row[f"{name}_audit_s"] = round(time.perf_counter() - start, 2)
            tasks = [s for label, s in progress.seconds.items() if kind in label]
            row[f"{name}_s_per_task"] = round(sum(tasks) / len(tasks), 2)
            executor.close()
    row["speedup"] = round(row["local_audit_s"] / row["ray_audit_s"], 2)
    pairs = [(a, b) for arm in ("baseline", "dp")
             for a, b in zip(results["local"].arm(arm).attacks, results["ray"].arm(arm).attacks)]
    row["identical_metrics"] = all(
        repr((a.auc, a.advantage, a.epsilon_lower_bound, dict(a.tpr_at_fpr)))
        == repr((b.auc, b.advantage, b.epsilon_lower_bound, dict(b.tpr_at_fpr)))
        for a, b in pairs)
    row["max_auc_difference"] = float(max(abs(a.auc - b.auc) for a, b in pairs))
    row.update({"load_avg_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    return row


def bench_cnn(examples: int, batch_size: int) -> dict:
    import numpy as np
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    from dpaudit.dp import DPKerasSGDOptimizer, fit_private, make_private
    from dpaudit.training.models import build_model

    rng = np.random.default_rng(0)
    x = rng.random((examples, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, examples)
    row = {"model": "cnn", "examples": examples, "batch_size": batch_size,
           "threads": 1}
    for arm in ("plain", "dp"):
        model = build_model("cnn", input_shape=(28, 28, 1), num_classes=10, seed=0)
        if arm == "dp":
            model = make_private(model)
            opt = DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
                                      learning_rate=0.1)
        else:
            opt = keras.optimizers.SGD(0.1)
        model.compile(optimizer=opt, loss="sparse_categorical_crossentropy")
        fit_private(model, x[:batch_size * 2], y[:batch_size * 2], batch_size=batch_size,
                    epochs=1, seed=0)  # warm-up
        start = time.perf_counter()
        history = fit_private(model, x, y, batch_size=batch_size, epochs=1, seed=1)
        seconds = time.perf_counter() - start
        steps = history.history["steps"][-1]
        row[f"{arm}_ms_per_step"] = round(1e3 * seconds / steps, 1)
    row.update({"load_avg_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shadow", type=int, default=8, help="shadow models per arm")
    parser.add_argument("--epochs", type=int,
                        help="epochs (default 3; with --references the audit's own)")
    parser.add_argument("--references", type=int, default=0, metavar="K",
                        help="K reference models per arm instead of shadow models")
    parser.add_argument("--models-per-task", type=int, default=8)
    parser.add_argument("--cnn", action="store_true", help="also time the tutorial conv net")
    parser.add_argument("--cnn-examples", type=int, default=3840)
    parser.add_argument("--no-audit", action="store_true",
                        help="skip the audit (TensorFlow threads can be set only before it)")
    args = parser.parse_args()
    if not args.no_audit:
        epochs = args.epochs if args.epochs is not None else (0 if args.references else 3)
        print(json.dumps(bench_audit(args.shadow, epochs, args.references,
                                     args.models_per_task)), flush=True)
    if args.cnn:
        print(json.dumps(bench_cnn(args.cnn_examples, 128)), flush=True)


if __name__ == "__main__":
    main()
