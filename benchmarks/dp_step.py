"""Speed of a DP-SGD step against a plain Keras step (not a test; prints JSON lines).

For the MLP 64-256-256-10 on digits and the short conv net of the Syft-Keras MNIST
tutorial on 28x28x1 random data, at batch 64 and 256, measures in one process the
milliseconds per step of

* plain Keras training: ``model.fit`` with ``keras.optimizers.SGD``;
* dpaudit DP training: ``make_private(model).fit`` with ``DPKerasSGDOptimizer``
  (per-example clipping, noise_multiplier 1.1, num_microbatches None);
* the same DP step with noise_multiplier 0 (no noise draw), so ``dp_ms - clip_only_ms``
  is what drawing the Gaussian noise costs;

both over the same fixed batches (no shuffling, so both run the same Keras loop), after
a warm-up epoch, as the median over repeats of (epoch time / steps). Both arms read the
same tf.data pipeline with autotuning off: on a 2-core machine the autotuner's thread
decisions flipped whole epochs of the conv net's DP step between ~18 and ~33 ms/step
(measured), which measures the autotuner rather than the step. `--autotune` feeds
`fit` plain arrays instead (Keras' default, autotuned pipeline). Repeats of the two
arms alternate so that background load hits both alike. Prints one JSON object per
configuration: model, batch_size, plain_ms, dp_ms, ratio (dp_ms / plain_ms),
clip_only_ms and its ratio, plus
the minima over repeats, steps, repeats, and the 1-minute load average and CPU count
(other processes on the machine inflate both arms, and the DP step more).

    python benchmarks/dp_step.py [--repeats 9] [--steps 40] [--models mlp,cnn] [--autotune]
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


def _time_epoch(model, x, y, batch_size: int, *, autotune: bool = False) -> float:
    import tensorflow as tf

    if autotune:
        data = {"x": x, "y": y, "batch_size": batch_size}
    else:
        options = tf.data.Options()
        options.autotune.enabled = False
        data = {"x": tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
                .with_options(options)}
    start = time.perf_counter()
    model.fit(**data, epochs=1, shuffle=False, verbose=0)
    return time.perf_counter() - start


def bench(model_name: str, batch_size: int, *, steps: int, repeats: int,
          autotune: bool = False) -> dict:
    import keras

    from dpaudit.dp import DPKerasSGDOptimizer, make_private
    from dpaudit.training.models import build_model

    keras.backend.clear_session()  # earlier configurations' graphs and iterators
    gc.collect()
    x, y = workload_data(model_name, steps * batch_size, seed=0)
    shape = (64,) if model_name == "mlp" else (28, 28, 1)
    loss = "sparse_categorical_crossentropy"

    plain = build_model(model_name, input_shape=shape, num_classes=10, seed=0)
    plain.compile(optimizer=keras.optimizers.SGD(0.01), loss=loss)
    dp = make_private(build_model(model_name, input_shape=shape, num_classes=10, seed=0))
    dp.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=1.1,
                                             learning_rate=0.01, noise_seed=0), loss=loss)
    # The same DP step without the noise draw (noise_multiplier 0 skips it): the
    # difference to `dp` is what the Gaussian noise costs.
    clip_only = make_private(build_model(model_name, input_shape=shape, num_classes=10,
                                         seed=0))
    clip_only.compile(optimizer=DPKerasSGDOptimizer(l2_norm_clip=1.0, noise_multiplier=0.0,
                                                    learning_rate=0.01), loss=loss)
    for model in (plain, dp, clip_only):  # warm-up: tracing and first-call allocations
        _time_epoch(model, x, y, batch_size, autotune=autotune)
    plain_s, dp_s, clip_s = [], [], []
    for _ in range(repeats):
        plain_s.append(_time_epoch(plain, x, y, batch_size, autotune=autotune) / steps)
        dp_s.append(_time_epoch(dp, x, y, batch_size, autotune=autotune) / steps)
        clip_s.append(_time_epoch(clip_only, x, y, batch_size, autotune=autotune) / steps)
    plain_ms = 1e3 * statistics.median(plain_s)
    dp_ms = 1e3 * statistics.median(dp_s)
    clip_ms = 1e3 * statistics.median(clip_s)
    return {"model": model_name, "batch_size": batch_size, "plain_ms": round(plain_ms, 3),
            "dp_ms": round(dp_ms, 3), "ratio": round(dp_ms / plain_ms, 3),
            "clip_only_ms": round(clip_ms, 3), "clip_only_ratio": round(clip_ms / plain_ms, 3),
            # Minima are less sensitive to other processes sharing the CPU.
            "plain_min_ms": round(1e3 * min(plain_s), 3), "dp_min_ms": round(1e3 * min(dp_s), 3),
            "min_ratio": round(min(dp_s) / min(plain_s), 3),
            "steps": steps, "repeats": repeats, "tf_data_autotune": autotune,
            "load_avg_1min": round(os.getloadavg()[0], 2), "cpus": os.cpu_count()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--steps", type=int, default=40, help="steps per timed epoch")
    parser.add_argument("--models", default="mlp,cnn")
    parser.add_argument("--batch-sizes", default="64,256")
    parser.add_argument("--autotune", action="store_true",
                        help="feed fit plain arrays (Keras' autotuned tf.data pipeline)")
    args = parser.parse_args()
    for name in args.models.split(","):
        for batch_size in (int(b) for b in args.batch_sizes.split(",")):
            print(json.dumps(bench(name, batch_size, steps=args.steps, repeats=args.repeats,
                                   autotune=args.autotune)),
                  flush=True)


if __name__ == "__main__":
    main()
