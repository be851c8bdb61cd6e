"""`dpaudit canary-audit`: observations, bounds, the gate's consistency check, outputs."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

from dpaudit.audit.inputs import load_audit_data, resolve_noise
from dpaudit.audit.outputs import environment, warn_contradictions, write_outputs
from dpaudit.canary.design import TRAINER_RUNS, design_ceiling
from dpaudit.canary.observations import blackbox_observations, whitebox_observations
from dpaudit.canary.records import METHODS, MODES, default_num_canaries
from dpaudit.canary.summary import summarize_canaries
from dpaudit.errors import InputError
from dpaudit.evidence import rule_confidence
from dpaudit.execution import Executor, make_executor
from dpaudit.gate import evaluate_gate, load_policy
from dpaudit.results import ArmResult, AuditResult
from dpaudit.validation import check_choice

__all__ = ["default_mode", "run_canary_audit"]

logger = logging.getLogger(__name__)


def run_canary_audit(config: Any, *, mode: str | None = None, method: str = "one-run",
                     num_canaries: int | None = None, runs: int | None = None,
                     out_dir: str | Path | None = None, progress: Any = None,
                     policy: Any = None, write: bool = True,
                     executor: Executor | None = None) -> AuditResult:
    """Runs a canary audit for `config` and writes results.json, scores.csv, report.html.

    Args:
      config: a `dpaudit.config.AuditConfig` (same file as train-and-attack).
      mode: "whitebox" (Dirac gradient canaries in dpaudit's DP step), "blackbox"
        (mislabelled examples through the config's recipe or trainer, scored from the
        final model), "trainer" (crafted canaries through a new-contract trainer at audit
        settings dpaudit chooses, every update observed: `dpaudit.canary.trainer`), or
        None: "trainer" for a trainer taking ``dp=``, "blackbox" for an old-contract
        trainer, "whitebox" otherwise. Trainer and black-box modes import and run the
        trainer's code.
      method: "one-run" or "multi-run".
      num_canaries: canaries per run (default `default_num_canaries(mode)`).
      runs: training runs (default `design.TRAINER_RUNS` in trainer mode, else 1;
        multi-run needs at least 2 for held-out runs in black-box).
      out_dir: output directory (default: config.output.dir).
      progress: a `dpaudit.progress.Progress`, or None.
      policy: a `dpaudit.gate.policy.Policy` or a policy path. The verdict is always stored:
        without a policy it is the gate's DP consistency check alone (does any canary
        bound exceed the accountant's epsilon?).
      write: False to skip writing files.
      executor: where the training runs go (default: the one `execution.executor` names,
        closed again at the end); each run is a task of `dpaudit.canary.tasks`.

    Returns:
      AuditResult with one arm "dp" whose attacks are the canary summaries.

    Raises:
      InputError: bad settings or data.
    """

    started = time.perf_counter()
    mode = mode if mode is not None else default_mode(config)
    check_choice("mode", mode, MODES)
    check_choice("method", method, METHODS)
    m = default_num_canaries(mode) if num_canaries is None else num_canaries
    runs = runs if runs is not None else (TRAINER_RUNS if mode == "trainer" else 1)
    out = Path(out_dir if out_dir is not None else config.output.dir)
    # Before training: what the design can prove at the rule's confidence.
    try:
        ceiling = design_ceiling(method=method, num_canaries=m, runs=runs,
                                 delta=config.dp.delta, confidence=rule_confidence(1))
    except ValueError as e:
        raise InputError(f"canary audit: {e}") from None
    logger.info("canary audit (%s, %s, %d canaries x %d runs): it cannot prove epsilon "
                "above %.3g at confidence %g", mode, method, m, runs, ceiling,
                rule_confidence(1))
    owned = executor is None
    executor = executor or make_executor(config.execution.executor, progress=progress)
    try:
        if mode == "trainer":
            from dpaudit.canary.trainer import trainer_observations

            data = load_audit_data(config)
            obs = trainer_observations(config, num_canaries=m, runs=runs, data=data,
                                       progress=progress, executor=executor)
            data_summary = {**data.summary(), "canaries_per_run": m, "canary_runs": runs}
            note = ""
        elif mode == "whitebox":
            if config.model.trainer is not None:
                raise InputError("white-box canaries need dpaudit's own DP step; a custom "
                                 f"trainer ({config.model.trainer!r}) can be audited with "
                                 "--mode trainer (if it takes dp=) or --mode blackbox")
            if config.dp.num_microbatches is not None:
                raise InputError("white-box canaries audit per-example clipping; unset "
                                 "dp.num_microbatches (got "
                                 f"{config.dp.num_microbatches}) or use --mode blackbox")
            data = load_audit_data(config)
            n = len(data.members)
            noise, note = resolve_noise(config, n)
            obs = whitebox_observations(
                dataset_size=n, batch_size=config.training.batch_size,
                epochs=config.training.epochs, l2_norm_clip=config.dp.l2_norm_clip,
                noise_multiplier=noise, delta=config.dp.delta, sampling=config.dp.sampling,
                num_canaries=m, runs=runs, seed=config.seed, progress=progress,
                executor=executor)
            data_summary = {**data.summary(), "canaries_per_run": m, "canary_runs": runs}
        else:
            data = load_audit_data(config)
            obs = blackbox_observations(config, num_canaries=m, runs=runs, data=data,
                                        out_dir=out, progress=progress, executor=executor)
            data_summary = {**data.summary(), "canaries_per_run": m, "canary_runs": runs}
            note = ""
    finally:
        if owned:
            executor.close()
    data_summary["audit_ceiling"] = ceiling
    if note:
        obs = dataclasses.replace(obs, privacy=dataclasses.replace(
            obs.privacy, accounting_note=f"{obs.privacy.accounting_note} {note}".strip()))
    summaries = summarize_canaries(obs, method=method, confidence=config.attacks.confidence,
                                   seed=config.seed)
    arm = ArmResult(name="dp", utility=obs.utility, privacy=obs.privacy,
                    attacks=tuple(summaries))
    timings = {"canary_audit": time.perf_counter() - started}
    result = AuditResult(config=config.to_dict(), environment=environment(config.seed),
                         data=data_summary, arms=(arm,), timings=timings)
    warn_contradictions(result)
    if isinstance(policy, (str, Path)):
        policy = load_policy(policy)
    # Always judged: with no policy the gate runs its DP consistency check only, which is
    # the point of a canary audit.
    result = result.with_verdict(evaluate_gate(result, policy).to_dict())
    if write:
        out.mkdir(parents=True, exist_ok=True)
        rows = [("dp", s.name, int(i), int(member), float(score))
                for s in summaries
                for i, (member, score) in enumerate(zip(obs.is_member, obs.scores))]
        write_outputs(result, rows, out, report=config.output.report)
    return result


def default_mode(config: Any) -> str:
    """"trainer" for a trainer taking ``dp=``, "blackbox" for an old-contract trainer
    (imports it), "whitebox" without a trainer."""
    if config.model.trainer is None:
        return "whitebox"
    from dpaudit.training.trainers import accepts_settings, load_trainer

    return "trainer" if accepts_settings(load_trainer(config.model.trainer)) else "blackbox"
