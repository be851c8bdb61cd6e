"""Auditing a model trained elsewhere (`dpaudit attack`): one arm named ``model``.

The model is loaded from a .keras or .h5 file with Keras' safe mode on (no Lambda
layer code is run). Its outputs on known members and known non-members go through
the same attacks as in `dpaudit train-and-attack`; a shadow-model attack needs a
recipe to imitate its training (a zoo model name or your trainer function) and the
attacker's own data (`shadow_data`, or half of the non-members, moved out of the
evaluation so no example is both). The reference-model attacks (lira, lira_offline,
rmia; `dpaudit.audit.reference`) use the same recipe: K reference models train on random
halves of the evaluated members + non-members, and the attacker's data serves as RMIA's
population. No DP claim is made, so the arm has no epsilon.
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from dpaudit.audit import outputs as output
from dpaudit.audit import provenance
from dpaudit.audit.attacking import attack_outputs
from dpaudit.audit.reference import REFERENCE_ATTACKS, train_references
from dpaudit.config import (AttacksConfig, AuditConfig, DataConfig, ModelConfig, OutputConfig,
                            TrainingConfig)
from dpaudit.data import Dataset, Part, load_dataset
from dpaudit.errors import InputError
from dpaudit.execution import TrainAndScore, make_executor
from dpaudit.gate import as_policy
from dpaudit.progress import NullProgress, Progress
from dpaudit.results import ArmResult, AuditResult, Utility
from dpaudit.training import (ModelCache, Recipe, derive_seed, load_trainer, predict_log_proba,
                              predict_proba)

__all__ = ["audit_model", "check_model_file", "load_keras_model", "fit_to_model",
           "model_proba", "fresh_nonmembers"]

logger = logging.getLogger(__name__)

_MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


def check_model_file(path: str | Path) -> Path:
    """The checks on a model file that need no TensorFlow: it exists, with a Keras suffix."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    if path.suffix.lower() not in _MODEL_SUFFIXES:
        raise InputError(f"{path}: expected a Keras model file (.keras or .h5), "
                         f"got suffix {path.suffix or 'none'!r}")
    return path


def load_keras_model(path: str | Path):
    """Loads a .keras or .h5 model with safe mode on; InputError naming the file otherwise."""
    path = check_model_file(path)
    import keras

    import dpaudit.dp  # noqa: F401 - registers DPModel/DPSequential so DP models load

    try:
        with warnings.catch_warnings():
            # Keras-2 .h5 files (e.g. the Syft-Keras tutorial's) declare `input_shape`
            # on their first layer; Keras 3 reads it fine but warns about the style.
            warnings.filterwarnings("ignore", message=r"Do not pass an `input_shape`",
                                    category=UserWarning)
            model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # noqa: BLE001 - any failure here means "not a usable model"
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: not a loadable Keras model ({reason[:200]})") from None
    if not hasattr(model, "inputs") or not model.inputs:
        raise InputError(f"{path}: the model has no known input shape")
    outputs = list(getattr(model, "outputs", None) or ())
    if len(outputs) > 1:
        # Attacking only the last head would audit a part of the model silently.
        names = ", ".join(getattr(o, "name", "?") for o in outputs)
        raise InputError(f"{path}: the model has {len(outputs)} outputs ({names}); dpaudit "
                         "attacks one classification head: save a model with that head only, "
                         "e.g. keras.Model(model.inputs, model.outputs[i])")
    return model


def model_proba(model: Any, x: np.ndarray, source: str) -> np.ndarray:
    """Class probabilities (float64) of a model trained elsewhere, shape (examples, classes).

    A one-unit binary head (sigmoid, or a raw logit) is read as two classes,
    [P(y=0), P(y=1)] = [sigmoid(-z), sigmoid(z)] with z its logit, computed in float64.
    Non-finite outputs (NaN weights, a diverged model) are refused with a message.
    """
    head = _one_unit_head(model)
    if head is None:
        probs = predict_proba(model, x)
    else:
        z = head(x)
        # log sigmoid(z) = -softplus(-z), stable for large |z|.
        probs = np.exp(np.stack([-np.logaddexp(0.0, z), -np.logaddexp(0.0, -z)], axis=1))
    bad = ~np.isfinite(probs).all(axis=1)
    if bad.any():
        raise InputError(f"{source}: the model outputs NaN or infinite values for "
                         f"{int(bad.sum())} of {len(bad)} examples (first: row "
                         f"{int(np.flatnonzero(bad)[0])}); its weights are probably NaN "
                         "(training diverged): retrain it with a lower learning rate")
    return probs


def _one_unit_head(model: Any):
    """For a model with one output unit, a function x -> float64 logits z, else None."""
    shape = tuple(model.outputs[0].shape) if getattr(model, "outputs", None) else ()
    if len(shape) != 2 or shape[1] != 1:
        return None
    import keras

    last = model.layers[-1] if getattr(model, "layers", None) else None
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    if isinstance(last, keras.layers.Dense) and activation in ("sigmoid", "linear"):
        # Recompute the logit in float64 from the layer's input, as predict_log_proba
        # does for softmax heads: a float32 sigmoid rounds confident members to 1.0.
        body = keras.Model(model.inputs[0], last.input)
        kernel = np.asarray(last.kernel, dtype=np.float64)
        bias = np.asarray(last.bias, dtype=np.float64) if last.use_bias else np.zeros(1)

        def logits(x: np.ndarray) -> np.ndarray:
            hidden = np.concatenate([np.asarray(body(x[i:i + 1024], training=False),
                                                dtype=np.float64)
                                     for i in range(0, len(x), 1024)])
            return (hidden.reshape(len(hidden), -1) @ kernel + bias)[:, 0]

        return logits

    def from_outputs(x: np.ndarray) -> np.ndarray:
        out = np.concatenate([np.asarray(model(x[i:i + 1024], training=False),
                                         dtype=np.float64) for i in range(0, len(x), 1024)])
        out = out.reshape(len(out))
        if np.all((out >= 0) & (out <= 1)):  # probabilities of class 1
            p = np.clip(out, 1e-300, 1 - 1e-16)
            return np.log(p) - np.log1p(-p)
        return out  # logits

    return from_outputs


def fresh_nonmembers(x_members: np.ndarray, x_nonmembers: np.ndarray,
                     specs: tuple[str, str]) -> np.ndarray:
    """Mask of the non-members that are not also members (same features, bit for bit).

    The same file given twice (two paths, a copy) would score AUC 0.5 and read as "does
    not leak": refused when at least 10% of the non-members are members; below that the
    duplicates (e.g. rows repeated across a train/test split) are dropped with a warning,
    since a non-member identical to a member is no evidence either way.
    """
    def keys(x: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)
        return flat.view(np.dtype((np.void, flat.dtype.itemsize * flat.shape[1])))[:, 0]

    overlap = np.isin(keys(x_nonmembers), keys(x_members))
    n = int(overlap.sum())
    if n >= 0.1 * len(overlap):
        raise InputError(f"{n} of {len(overlap)} non-member examples ({specs[1]!r}) are also "
                         f"among the members ({specs[0]!r}): the same data given twice? An "
                         "audit needs examples the model was not trained on")
    if n:
        logger.warning("%d non-member example(s) also appear among the members; dropped "
                       "from the non-members", n)
    return ~overlap


def fit_to_model(x: np.ndarray, model: Any, source: str) -> np.ndarray:
    """Reshapes examples to the model's input shape; InputError if they cannot match."""
    expected = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in expected):
        return x
    if tuple(x.shape[1:]) == expected:
        return x
    if math.prod(x.shape[1:]) == math.prod(expected):
        return x.reshape((len(x), *expected))
    raise InputError(f"{source}: examples have shape {tuple(x.shape[1:])}, but the model "
                     f"expects {expected} (shape mismatch)")


def _scale(dataset: Dataset, scaling: str) -> np.ndarray:
    # The audited model was trained on its own preprocessing: only the built-in
    # datasets' fixed ranges are applied by default (digits / 16, MNIST / 255).
    if scaling == "none" or (scaling == "auto" and dataset.value_range is None):
        return dataset.x
    if scaling == "auto":
        lo, hi = dataset.value_range  # type: ignore[misc]
        return ((dataset.x - lo) / (hi - lo)).astype(np.float32)
    raise InputError(f"scaling must be auto or none for dpaudit attack, got {scaling!r}")


def _subsample(n: int, limit: int | None, rng: np.random.Generator) -> np.ndarray:
    if limit is None or n <= limit:
        return np.arange(n)
    return np.sort(rng.choice(n, size=limit, replace=False))


def audit_model(model_path: str | Path, *, members: str, nonmembers: str,
                shadow_model: str | None = None, trainer: str | None = None,
                shadow_data: str | None = None, label_column: str = "label",
                scaling: str = "auto", max_examples: int | None = None,
                attacks: AttacksConfig | None = None, training: TrainingConfig | None = None,
                delta: float = 1e-5, seed: int = 0, out_dir: str | Path = "dpaudit-attack",
                progress: Progress | None = None, policy: Any = None,
                executor: Any = "local") -> AuditResult:
    """Attacks a trained Keras model; writes results.json (one arm "model"), scores.csv.

    Args:
      model_path: .keras or .h5 file.
      members, nonmembers: dataset specs (see dpaudit.data.load_dataset) of examples
        known to be in, and known not to be in, the model's training set.
      shadow_model: zoo architecture (logreg, mlp, cnn) for shadow models.
      trainer: "module:function" training shadow models instead (private=False).
      shadow_data: the attacker's data for shadow models (default: half the non-members).
      label_column: label column of CSV inputs.
      scaling: "auto" (fixed range of built-in datasets, files as they are) or "none".
      max_examples: evaluate at most this many members and non-members each (seeded).
      attacks: which attacks and how (default: loss threshold and modified entropy, plus
        shadow when a shadow recipe is given).
      training: recipe of the shadow models (epochs, batch size, optimizer).
      delta: delta of the empirical epsilon lower bounds.
      seed: seed of subsampling, shadow models and attacks.
      out_dir: output directory.
      progress: progress reporter.
      policy: optional gate policy (or its path); the verdict is stored.
      executor: where shadow and reference models train: a `dpaudit.execution.Executor`,
        or a spec ("local", "ray", "ray:ADDRESS") for one made and closed here.

    Raises:
      InputError: missing or invalid files, shape or class mismatch, bad names.
    """
    started = time.perf_counter()
    started_at = provenance.now_utc()
    if shadow_model is not None and trainer is not None:
        raise InputError("give --shadow-model or --trainer, not both")
    if members == nonmembers:
        raise InputError(f"members and non-members are the same data ({members!r})")
    policy = as_policy(policy)
    trainer_fn = load_trainer(trainer) if trainer else None
    model = load_keras_model(model_path)
    rng = np.random.default_rng(derive_seed(seed, "subsample"))
    loaded = {}
    for role, spec in (("members", members), ("nonmembers", nonmembers)):
        ds = load_dataset(spec, label_column=label_column, every_class=False)
        loaded[role] = (ds, fit_to_model(_scale(ds, scaling), model, f"{role} data {spec!r}"))
    fresh = fresh_nonmembers(loaded["members"][1], loaded["nonmembers"][1],
                             (members, nonmembers))
    parts = {}
    for role, (ds, x) in loaded.items():
        rows = np.arange(len(ds)) if role == "members" else np.flatnonzero(fresh)
        keep = rows[_subsample(len(rows), max_examples, rng)]
        parts[role] = Part(x=x[keep], y=ds.y[keep], ids=keep.astype(np.int64))
    del loaded
    with_shadow = shadow_model is not None or trainer_fn is not None
    shadow_part = None
    if with_shadow:
        if shadow_data is not None:
            ds = load_dataset(shadow_data, label_column=label_column,
                              every_class=False)
            x = fit_to_model(_scale(ds, scaling), model, f"shadow data {shadow_data!r}")
            shadow_part = Part(x=x, y=ds.y, ids=np.arange(len(ds), dtype=np.int64))
        else:
            # Half the non-members become the attacker's data; they leave the evaluation.
            non = parts["nonmembers"]
            order = rng.permutation(len(non))
            half = len(non) // 2
            take, keep = np.sort(order[:half]), np.sort(order[half:])
            shadow_part = Part(x=non.x[take], y=non.y[take], ids=non.ids[take])
            parts["nonmembers"] = Part(x=non.x[keep], y=non.y[keep], ids=non.ids[keep])

    probs_m = model_proba(model, parts["members"].x, f"{model_path} on the members")
    probs_n = model_proba(model, parts["nonmembers"].x, f"{model_path} on the non-members")
    n_classes = probs_m.shape[1]
    for role in ("members", "nonmembers"):
        top = int(parts[role].y.max())
        if top >= n_classes:
            raise InputError(f"{role} data has label {top}, but the model outputs only "
                             f"{n_classes} classes (class mismatch)")

    attacks = attacks or AttacksConfig(names=("loss_threshold", "modified_entropy", "shadow")
                                       if with_shadow else ("loss_threshold", "modified_entropy"))
    needs_recipe = sorted(set(attacks.names) & {"shadow", *REFERENCE_ATTACKS})
    if needs_recipe and not with_shadow:
        what = (f"the {needs_recipe[0]} attack needs" if len(needs_recipe) == 1
                else f"the {', '.join(needs_recipe)} attacks need")
        raise InputError(f"{what} --shadow-model NAME or --trainer module:function to train "
                         "its models (--attacks)")
    out = Path(out_dir)
    shadow_arg = None
    run_config = None
    if with_shadow:
        assert shadow_part is not None
        n_train = max(1, len(shadow_part) // 2)
        training = training or TrainingConfig(batch_size=min(TrainingConfig().batch_size,
                                                             n_train))
        run_config = AuditConfig(
            seed=seed, data=DataConfig(n_members=max(2, n_train)),
            model=ModelConfig(name=shadow_model or "mlp", trainer=trainer),
            training=training, attacks=attacks,
            output=OutputConfig(dir=str(out)))
        recipe = Recipe(config=run_config, private=False, noise_multiplier=0.0,
                        input_shape=tuple(int(d) for d in model.inputs[0].shape[1:]),
                        num_classes=n_classes, cache=ModelCache(out / "models"),
                        progress=progress or NullProgress(), trainer=trainer_fn)
    owned = isinstance(executor, str)
    if owned:
        executor = make_executor(executor, progress=progress)
    try:
        if with_shadow:
            shadow_arg = (shadow_part.x, shadow_part.y,
                          TrainAndScore(recipe, executor, name="shadow", label="shadow",
                                        total=attacks.n_shadow),
                          attacks.n_shadow, attacks.shadow_per_class)
        reference = None
        if set(attacks.names) & set(REFERENCE_ATTACKS):
            assert shadow_part is not None
            members_part, non_part = parts["members"], parts["nonmembers"]
            pool_x = np.concatenate([members_part.x, non_part.x])
            refs = train_references(recipe, pool_x,
                                    np.concatenate([members_part.y, non_part.y]),
                                    shadow_part.x, k=attacks.n_reference,
                                    seed=derive_seed(seed, "reference"), name="reference",
                                    executor=executor)
            reference = (refs, predict_log_proba(model, pool_x),
                         predict_log_proba(model, shadow_part.x), shadow_part.y)
        summaries, rows = attack_outputs(
            probs_m, probs_n, parts["members"], parts["nonmembers"], names=attacks.names,
            delta=delta, confidence=attacks.confidence, seed=derive_seed(seed, "attacks"),
            shadow=shadow_arg, top_k=attacks.top_exposed, reference=reference)
    finally:
        if owned:
            executor.close()

    def accuracy(p: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(p.argmax(axis=1) == y))

    def mean_loss(p: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, 1.0))))

    m, n = parts["members"], parts["nonmembers"]
    utility = Utility(train_accuracy=accuracy(probs_m, m.y), test_accuracy=accuracy(probs_n, n.y),
                      train_loss=mean_loss(probs_m, m.y), test_loss=mean_loss(probs_n, n.y))
    arm = ArmResult(name="model", utility=utility, privacy=None, attacks=tuple(summaries))
    config = {"command": "attack", "model": str(model_path), "members": members,
              "nonmembers": nonmembers, "shadow_model": shadow_model, "trainer": trainer,
              "shadow_data": shadow_data, "label_column": label_column, "scaling": scaling,
              "max_examples": max_examples, "delta": delta, "seed": seed,
              "attacks": run_config.to_dict()["attacks"] if run_config else
              AuditConfig(attacks=attacks).to_dict()["attacks"],
              "training": run_config.to_dict()["training"] if run_config else None}
    data = {"dataset": f"members={members}; nonmembers={nonmembers}",
            "n_members": len(m), "n_nonmembers": len(n),
            "n_shadow_pool": 0 if shadow_part is None else len(shadow_part),
            "num_classes": n_classes, "seed": seed, "scaling": scaling,
            "ids": {"members": m.ids.tolist(), "nonmembers": n.ids.tolist()},
            "note": "ids are row indices within each input dataset"}
    result = AuditResult(config=config, environment=output.environment(seed), data=data,
                         arms=(arm,), timings={})
    if policy is not None:
        from dpaudit.gate import evaluate_gate

        result = result.with_verdict(evaluate_gate(result, policy).to_dict())
    import dataclasses

    audited = {"started_at": started_at, "finished_at": provenance.now_utc(),
               "data_sha256": provenance.arrays_sha256([("members", m.x, m.y),
                                                        ("nonmembers", n.x, n.y)]),
               "models": {"model": provenance.model_entry(model_path)}}
    result = dataclasses.replace(result, timings={"total": time.perf_counter() - started},
                                 provenance=audited)
    out.mkdir(parents=True, exist_ok=True)
    output.write_outputs(result, [("model", *row) for row in rows], out, report=True)
    return result
