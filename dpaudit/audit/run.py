"""The audit pipeline behind `dpaudit train-and-attack`: baseline and DP arms, attacked.

Data flow (docs/architecture.md): config -> dataset -> split (members | non-members | shadow pool
| test) -> for each arm (``baseline``, ``dp``): train the target on the members ->
per-example outputs on members and non-members -> attacks (loss threshold, Yeom et
al., CSF 2018; confidence and modified entropy, Song & Mittal, USENIX Security 2021;
shadow models, Shokri et al., S&P 2017, trained with the arm's own recipe on the shadow
pool; reference models for LiRA, Carlini et al., S&P 2022, and RMIA, Zarifzadeh et al.,
ICML 2024, trained with the arm's own recipe on random halves of members + non-members,
all at once as a stack where the architecture allows, see `dpaudit.audit.reference`)
-> metrics (on the target, and pooled over the reference models) -> the accountant's
epsilon for the dp arm, priced on the steps that actually ran -> AuditResult ->
scores.csv, report.html, results.json (written last, so a results.json always belongs to
a finished run).

The two arms are paired: same members, same initial weights (built once, copied),
same sampling (`dpaudit.dp.fit_private` for both), same seeds; only clipping and
noise differ. Every file is written atomically, and trained models are kept under
``<out>/models`` so an interrupted run resumes where it stopped.

Example:
    >>> from dpaudit.config import load_config
    >>> cfg = load_config(None, {"training.epochs": 2, "attacks.n_shadow": 1})
    >>> result = run_audit(cfg, out_dir="/tmp/dpaudit-doc")  # doctest: +SKIP
    >>> result.arm("dp").epsilon  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dpaudit.audit import outputs as output
from dpaudit.audit import provenance as prov
from dpaudit.audit.attacking import attack_outputs
from dpaudit.audit.checkpoints import checkpoint_epochs, leakage_callback, leakage_from_history
from dpaudit.audit.inputs import load_audit_data, resolve_noise
from dpaudit.audit.reference import REFERENCE_ATTACKS, progress_units, train_references
from dpaudit.config import AuditConfig
from dpaudit.data import AuditData
from dpaudit.errors import InputError
from dpaudit.execution import Executor, TrainAndScore, make_executor
from dpaudit.gate import as_policy, evaluate_gate
from dpaudit.progress import NullProgress, Progress
from dpaudit.results import ArmResult, AuditResult, PrivacyInfo
from dpaudit.training import (ModelCache, Recipe, derive_seed, load_trainer, measure_utility,
                              predict_log_proba, predict_proba)

__all__ = ["run_audit"]

logger = logging.getLogger(__name__)

# Most population points (RMIA's z) taken from the test set.
_POPULATION = 1000


def run_audit(config: AuditConfig, *, out_dir: str | Path | None = None,
              progress: Progress | None = None, policy: Any = None,
              executor: Executor | None = None) -> AuditResult:
    """Runs the whole audit and writes its files to `out_dir` (default: output.dir).

    Args:
      config: a validated AuditConfig.
      out_dir: output directory; overrides `config.output.dir`.
      progress: receives a bar per model trained (default: silent).
      policy: a `dpaudit.gate.policy.Policy` (or a path to one); when given, the gate's
        verdict is stored in the results. The caller turns it into an exit code.
      executor: where shadow and reference models train (default: the one
        `execution.executor` names, closed again at the end).

    Returns:
      The AuditResult, also written to `<out_dir>/results.json`.

    Raises:
      InputError: bad data, model, trainer or policy; nothing half-written is left.
    """
    started = time.perf_counter()
    started_at = prov.now_utc()
    progress = progress or NullProgress()
    out = Path(out_dir if out_dir is not None else config.output.dir)
    config = dataclasses.replace(config, output=dataclasses.replace(config.output, dir=str(out)))
    policy = as_policy(policy)
    timings: dict[str, float] = {}

    tick = time.perf_counter()
    data = load_audit_data(config)
    trainer = load_trainer(config.model.trainer) if config.model.trainer else None
    if trainer is None:
        _check_model_fits(config, data)
    noise, noise_note = resolve_noise(config, len(data.members))
    timings["load_data"] = time.perf_counter() - tick
    out.mkdir(parents=True, exist_ok=True)

    import keras

    keras.utils.set_random_seed(config.seed)
    shadows = config.attacks.n_shadow if "shadow" in config.attacks.names else 0
    # Two arms: a target, its shadow models and its reference models (a stack counts once).
    progress.expect(2 * (1 + shadows) + sum(progress_units(config, private=private,
                                                            trainer=trainer)
                                            for private in (False, True)))
    cache = ModelCache(out / "models" if config.output.save_models else None)
    initial_weights: dict[int, list[np.ndarray]] = {}
    arms, score_rows = [], []
    owned = executor is None
    executor = executor or make_executor(config.execution.executor, progress=progress)
    try:
        for private in (False, True):
            tick = time.perf_counter()
            recipe = Recipe(config=config, private=private,
                            noise_multiplier=noise if private else 0.0,
                            input_shape=data.input_shape, num_classes=data.num_classes,
                            cache=cache, progress=progress, trainer=trainer,
                            initial_weights=initial_weights)
            arm, rows = _run_arm(recipe, data, noise_note, executor)
            arms.append(arm)
            score_rows.extend(rows)
            timings[recipe.arm] = time.perf_counter() - tick
    finally:
        if owned:
            executor.close()

    provenance = {"started_at": started_at, "finished_at": prov.now_utc(),
                  "data_sha256": prov.arrays_sha256(
                      (p, getattr(data, p).x, getattr(data, p).y)
                      for p in ("members", "nonmembers", "shadow", "test")),
                  "models": {a.name: prov.model_entry(out / "models" / f"{a.name}-target.keras",
                                                      out) for a in arms}}
    result = AuditResult(config=config.to_dict(), environment=output.environment(config.seed),
                         data=data.summary(), arms=tuple(arms), timings=timings,
                         provenance=provenance)
    output.warn_contradictions(result)
    if policy is not None:
        result = result.with_verdict(evaluate_gate(result, policy).to_dict())
    timings["total"] = time.perf_counter() - started
    output.write_outputs(result, score_rows, out, report=config.output.report)
    return result


def _check_model_fits(config: AuditConfig, data: AuditData) -> None:
    """Fails early, as bad input, when the chosen model cannot take this data."""
    from dpaudit.training.models import build_model

    options = {"hidden": config.model.hidden} if config.model.name == "mlp" else {}
    try:
        build_model(config.model.name, input_shape=data.input_shape,
                    num_classes=data.num_classes, seed=0, **options)
    except InputError as e:
        raise InputError(f"{e} (dataset {data.name!r})") from None
    except ValueError as e:  # Keras refusing the shape, e.g. images too small after pooling
        raise InputError(f"model {config.model.name!r} cannot take input shape "
                         f"{data.input_shape} of dataset {data.name!r} ({e})") from None


def _run_arm(recipe: Recipe, data: AuditData, noise_note: str, executor: Executor
             ) -> tuple[ArmResult, list[tuple[str, str, int, int, float]]]:
    config = recipe.config
    arm = recipe.arm
    members, nonmembers = data.members, data.nonmembers
    target = recipe.train(f"{arm}-target", f"{arm} target", members.x, members.y,
                          seed=derive_seed(config.seed, "target"), callbacks=(
                              leakage_callback(members, nonmembers, epochs=config.training.epochs,
                                               delta=config.dp.delta),))
    leakage, target_history = leakage_from_history(target.history)
    model = target.model
    pool_x = np.concatenate([members.x, nonmembers.x])
    log_proba_pool = predict_log_proba(model, pool_x)
    probs_members = np.exp(log_proba_pool[:len(members)])
    probs_nonmembers = np.exp(log_proba_pool[len(members):])
    probs_test = predict_proba(model, data.test.x)
    if probs_members.shape[1] < data.num_classes:
        raise InputError(f"model outputs {probs_members.shape[1]} classes, dataset "
                         f"{data.name!r} has {data.num_classes}")
    utility = measure_utility(probs_members, members.y, probs_test, data.test.y)

    n_shadow = config.attacks.n_shadow
    train_and_score = TrainAndScore(recipe, executor, name=f"{arm}-shadow",
                                    label=f"{arm} shadow", total=n_shadow)

    reference = None
    if set(config.attacks.names) & set(REFERENCE_ATTACKS):
        population = data.test if len(data.test) else data.shadow
        # RMIA's z: points no model trains on; a bounded number keeps its pairwise
        # comparisons cheap on large test sets.
        population_x, population_y = population.x[:_POPULATION], population.y[:_POPULATION]
        refs = train_references(recipe, pool_x, np.concatenate([members.y, nonmembers.y]),
                                population_x, k=config.attacks.n_reference,
                                seed=derive_seed(config.seed, "reference"),
                                name=f"{arm}-reference", executor=executor)
        logger.info("%s: %d reference models trained %s in %.1f s", arm, len(refs.masks),
                    refs.how, refs.seconds)
        reference = (refs, log_proba_pool, predict_log_proba(model, population_x), population_y)

    outputs = attack_outputs(
        probs_members, probs_nonmembers, members, nonmembers,
        names=config.attacks.names, delta=config.dp.delta,
        confidence=config.attacks.confidence, seed=derive_seed(config.seed, "attacks"),
        shadow=(data.shadow.x, data.shadow.y, train_and_score, n_shadow,
                config.attacks.shadow_per_class),
        top_k=config.attacks.top_exposed, reference=reference)
    summaries, rows = outputs
    privacy = _privacy(recipe, target_history, len(members), noise_note)
    result = ArmResult(name=arm, utility=utility, privacy=privacy, attacks=tuple(summaries),
                       history=target_history, leakage_per_epoch=leakage)
    return result, [(arm, *row) for row in rows]


def _privacy(recipe: Recipe, history: Mapping[str, Any], dataset_size: int,
             noise_note: str) -> PrivacyInfo:
    """What the arm's training claims and what the accountant makes of it."""
    from dpaudit import accounting

    config = recipe.config
    t, d = config.training, config.dp
    steps_run = [int(s) for s in history.get("steps", ())]
    notes = []
    if steps_run:
        steps = steps_run[-1]
    else:
        # A user trainer that does not report its steps: price what the config claims.
        steps = t.epochs * accounting.steps_per_epoch(dataset_size, t.batch_size)
        notes.append(f"steps not reported by the trainer; priced {steps} steps "
                     f"(epochs x ceil(N / batch_size)) as configured")
    if not recipe.private:
        return PrivacyInfo(noise_multiplier=0.0, l2_norm_clip=None, num_microbatches=None,
                           batch_size=t.batch_size, sampling=d.sampling, steps=steps,
                           epochs=float(t.epochs), dataset_size=dataset_size, delta=None,
                           epsilon_rdp=None, epsilon_pld=None,
                           accounting_note="no DP: no privacy guarantee")
    common = {"dataset_size": dataset_size, "batch_size": t.batch_size,
              "noise_multiplier": recipe.noise_multiplier, "delta": d.delta,
              "sampling": d.sampling, "num_microbatches": d.num_microbatches}
    statement = accounting.dp_sgd_privacy(steps=steps, **common)
    from dpaudit.accounting.tradeoff import headline_series  # one epsilon: the headline's

    per_epoch, per_epoch_accountant, curve = headline_series(
        epsilon_rdp=statement.epsilon_rdp, epsilon_pld=statement.epsilon_pld,
        steps_per_epoch=steps_run, epochs=checkpoint_epochs(len(steps_run)), **common)
    if recipe.trainer is not None:
        notes.append(f"DP settings as claimed in the config for trainer "
                     f"{config.model.trainer!r}; dpaudit cannot check the trainer uses them")
    if noise_note:
        notes.append(noise_note)
    if d.sampling == "poisson":
        how = (f"Poisson sampling: each example joined each of the {steps} steps that ran with "
               f"probability q = {t.batch_size}/{dataset_size} = "
               f"{t.batch_size / dataset_size:.3g}, the subsampling the accountant assumes "
               "(add/remove adjacency).")
    else:
        how = f"Shuffled fixed-size batches, {steps} steps run."
    note = " ".join([how, statement.note, *notes]).strip()
    return PrivacyInfo(noise_multiplier=recipe.noise_multiplier, l2_norm_clip=d.l2_norm_clip,
                       num_microbatches=d.num_microbatches, batch_size=t.batch_size,
                       sampling=d.sampling, steps=steps, epochs=float(t.epochs),
                       dataset_size=dataset_size, delta=d.delta,
                       epsilon_rdp=statement.epsilon_rdp, epsilon_pld=statement.epsilon_pld,
                       accounting_note=note, epsilon_per_epoch=tuple(per_epoch),
                       epsilon_per_epoch_accountant=per_epoch_accountant,
                       epsilon_delta_curve=curve)
