"""Full training time of `fit_private` against `model.fit` on arrays (not a test; JSON lines).

For the MLP 64-256-256-10 on digits and the short conv net of the Syft-Keras MNIST
tutorial on 28x28x1 random data, times in one process, end to end (pipeline building,
tracing and every epoch included, as a user waits for it):

* ``fit_s``: plain Keras ``model.fit(x, y, batch_size=B, shuffle=True)`` on numpy arrays;
* ``fit_private_plain_s``: the same plain model through ``fit_private`` (Poisson batches
  drawn in the tf.data graph);
* ``fit_private_dp_s``: ``make_private(model)`` with ``DPKerasSGDOptimizer`` (per-example
  clipping, noise 1.1) through ``fit_private`` with Poisson sampling.

Each arm trains a freshly built model from the same initial weights; arms alternate
within a repeat so that background load hits all alike, and the median over repeats is
reported. ``ratio`` = fit_private_dp_s / fit_s (the issue's target: <= 1.3);
``plain_ratio`` = fit_private_plain_s / fit_s isolates the input pipeline.

`--pipeline` isolates the input pipeline (no training): milliseconds per batch to draw
and gather Poisson batches of MNIST-sized examples (60000 x 28x28x1) with fit_private's
in-graph pipeline against the Python-generator pipeline it replaced (re-created here as
the comparison arm: numpy Poisson indices -> ``from_generator``), alternating repeats.

    python benchmarks/fit_pipeline.py [--repeats 3] [--examples 4096] [--epochs 3]
    python benchmarks/fit_pipeline.py --pipeline
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _workloads import workload_data  # noqa: E402 - benchmarks/ is on sys.path


def _arms(model_name: str):
    import keras

    from dpaudit.dp import DPKerasSGDOptimizer, fit_private, make_private
    from dpaudit.training.models import build_model

    shape = (64,) if model_name == "mlp" else (28, 28, 1)
    loss = "sparse_categorical_crossentropy"

    def build():
        return build_model(model_name, input_shape=shape, num_classes=10, seed=0)

    def fit(x, y, b, epochs):
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
        model.fit(x, y, batch_size=b, epochs=epochs, shuffle=True, verbose=0)

    def private_plain(x, y, b, epochs):
        model = build()
        model.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
        fit_private(model, x, y, batch_size=b, epochs=epochs, seed=0)

    def private_dp(x, y, b, epochs):
        model = make_private(build())
        model.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
                                                    learning_rate=0.01), loss=loss)
        fit_private(model, x, y, batch_size=b, epochs=epochs, seed=0)

    return {"fit_s": fit, "fit_private_plain_s": private_plain, "fit_private_dp_s": private_dp}


def bench(model_name: str, batch_size: int, *, examples: int, epochs: int,
          repeats: int) -> dict:
    import keras

    x, y = workload_data(model_name, examples, seed=0)
    arms = _arms(model_name)
    times: dict[str, list[float]] = {name: [] for name in arms}
    for name, run in arms.items():  # warm-up: first-call allocations, kernel caches
        run(x[:batch_size * 2], y[:batch_size * 2], batch_size, 1)
    for _ in range(repeats):
        for name, run in arms.items():
            keras.backend.clear_session()
            gc.collect()
            start = time.perf_counter()
            run(x, y, batch_size, epochs)
            times[name].append(time.perf_counter() - start)
    row = {"model": model_name, "batch_size": batch_size}
    row.update({name: round(statistics.median(t), 3) for name, t in times.items()})
    row["ratio"] = round(row["fit_private_dp_s"] / row["fit_s"], 3)
    row["plain_ratio"] = round(row["fit_private_plain_s"] / row["fit_s"], 3)
    row.update({"examples": examples, "epochs": epochs, "repeats": repeats,
                "load_avg_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    return row


def bench_pipeline(batch_size: int, *, examples: int = 60000, batches: int = 200,
                   repeats: int = 5) -> dict:
    import numpy as np
    import tensorflow as tf

    from dpaudit.dp.sampling import index_batches

    rng = np.random.default_rng(0)
    x = rng.random((examples, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, examples).astype("int64")
    options = tf.data.Options()
    options.autotune.enabled = False
    epochs = -(-batches * batch_size // examples)

    def graph():
        x_t, y_t = tf.convert_to_tensor(x), tf.convert_to_tensor(y)
        idx = index_batches(examples, batch_size, epochs, sampling="poisson", key=(1, 2))
        return idx.map(lambda i: (tf.gather(x_t, i), tf.gather(y_t, i))).prefetch(2)

    def generator():
        q = batch_size / examples
        sample = np.random.default_rng(1)

        def gen():
            while True:
                i = np.flatnonzero(sample.random(examples) < q)
                yield x[i], y[i]

        return tf.data.Dataset.from_generator(gen, output_signature=(
            tf.TensorSpec((None, 28, 28, 1), tf.float32),
            tf.TensorSpec((None,), tf.int64))).prefetch(2)

    times: dict[str, list[float]] = {"graph_ms": [], "generator_ms": []}
    for _ in range(repeats):
        for name, make in (("graph_ms", graph), ("generator_ms", generator)):
            dataset = make().with_options(options)
            iterator = iter(dataset)
            next(iterator)  # build and warm the pipeline
            start = time.perf_counter()
            for _, batch in zip(range(batches), iterator):
                pass
            times[name].append(1e3 * (time.perf_counter() - start) / batches)
    row = {"pipeline": "poisson", "examples": examples, "batch_size": batch_size}
    row.update({k: round(statistics.median(v), 3) for k, v in times.items()})
    row["generator_over_graph"] = round(row["generator_ms"] / row["graph_ms"], 2)
    row.update({"batches": batches, "repeats": repeats,
                "load_avg_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()})
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--pipeline", action="store_true",
                        help="time only the input pipelines, in-graph vs generator")
    args = parser.parse_args()
    if args.pipeline:
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            print(json.dumps(bench_pipeline(batch_size, repeats=args.repeats)), flush=True)
        return
    for name in args.models.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            print(json.dumps(bench(name, batch_size, examples=args.examples,
                                   epochs=args.epochs, repeats=args.repeats)), flush=True)


if __name__ == "__main__":
    main()
