"""Canary audits: an empirical epsilon that can reach the accountant's, to catch DP bugs.

Membership attacks on ordinary examples prove epsilons far below the accountant's, so
they cannot tell a correct DP-SGD from a broken one. Canaries can: m of them, each
included in training independently with probability 1/2, are scored after training
and the scores' separation of included from excluded canaries proves an epsilon lower
bound (`attacks.canary_bounds`). If the bound exceeds the accountant's epsilon, the
DP training or its accounting is broken, with the stated confidence.

Two kinds of canary:

* White-box (``mode="whitebox"``): Dirac gradient canaries (Nasr, Hayes, Steinke,
  Balle, Tramer, Jagielski, Carlini, Terzis, "Tight Auditing of Differentially Private
  Machine Learning", USENIX Security 2023). Each canary is a training example of a
  one-Embedding-row-per-canary model whose gradient is c > C on its own coordinate and
  zero elsewhere; the dataset is filled up to N with zero-gradient examples, which are
  the same as absent ones. Training runs through dpaudit's real DP step
  (`dpaudit.dp.fit_private` -> `DPModel.train_step` -> `dpaudit.dp.mechanism`'s clip,
  noise and normalise functions, with Poisson sampling), with plain SGD so every update
  of a canary's coordinate is the privatised gradient itself; the auditor reads every
  intermediate update (the threat model DP-SGD's accounting covers) and scores each
  canary by its summed log-likelihood ratio. This audits the DP-SGD *implementation*
  for the config's privacy parameters (N, B, epochs, sigma, C, sampling; the config's
  model and optimizer are not used: the update rule after the noise is post-processing).
  When m > N, N and B are both multiplied by ceil(m / N): q = B / N and the number of
  steps are unchanged, so is the accountant's epsilon, which is recomputed for the run.
  See `dpaudit._canary_whitebox` for the construction.
* Black-box (``mode="blackbox"``): input-space canaries, mislabelled examples drawn
  from the examples the target never trains on, trained with the config's own recipe
  (also `--trainer module:function`) next to the members, and scored by -loss of the
  final model on the canary's (wrong) label. This audits the whole training pipeline,
  the model included, but with the last iterate only, so its bounds are weaker.

Two ways to bound epsilon (``method``):

* ``"one-run"``: Steinke, Nasr, Jagielski (NeurIPS 2023), from the canaries of one
  run (or of several runs pooled: each canary's coin still only affects its own run).
  Sound with no assumption about the scores.
* ``"multi-run"``: ``runs`` independent runs; Clopper-Pearson on the error counts of a
  threshold chosen on held-out runs (Jagielski, Ullman, Oprea, NeurIPS 2020), counting
  every canary observation as an independent trial (exact for white-box Dirac canaries
  under independent per-coordinate noise). White-box multi-run also reports the
  Gaussian-DP lower confidence bound of Nasr et al. 2023 as its own attack
  (``canary_whitebox_multi_run_gdp``): tight, but a bound only as far as the scores
  are Gaussian (exactly so with q = 1).

Results are written like any audit (results.json with an arm ``dp`` whose attacks are
the canary summaries, scores.csv, report.html), so the report and the gate's "DP
guarantee contradicted by evidence" rule apply.

Example:
    >>> from dpaudit.canary import whitebox_observations, summarize_canaries
    >>> obs = whitebox_observations(dataset_size=1000, batch_size=100, epochs=2,
    ...                             l2_norm_clip=1.0, noise_multiplier=1.0, delta=1e-5,
    ...                             num_canaries=500, seed=0)  # doctest: +SKIP
    >>> [s.epsilon_lower_bound < obs.epsilon
    ...  for s in summarize_canaries(obs, method="one-run")]  # doctest: +SKIP
    [True]
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from dpaudit.errors import InputError
from dpaudit.results import ArmResult, AttackSummary, AuditResult, PrivacyInfo, Utility

__all__ = ["MODES", "METHODS", "CanaryObservations", "whitebox_observations",
           "blackbox_observations", "summarize_canaries", "run_canary_audit",
           "default_num_canaries"]

logger = logging.getLogger(__name__)

MODES = ("whitebox", "blackbox")
METHODS = ("one-run", "multi-run")
# Canary gradient norm in units of l2_norm_clip: > 1 so a missing per-example clip shows.
_GRADIENT_NORM_FACTOR = 10.0


@dataclass(frozen=True)
class CanaryObservations:
    """Canary scores from one or more training runs, and what the accountant claims.

    Attributes:
      mode: "whitebox" or "blackbox".
      scores: (runs * m,) canary scores, higher = more likely included.
      is_member: (runs * m,) the canaries' inclusion coins.
      run_ids: (runs * m,) the run each observation came from.
      num_canaries: m, canaries per run.
      runs: number of training runs.
      privacy: the DP settings of the audited runs and the accountant's epsilon (the
        largest over runs when their dataset sizes differ).
      utility: accuracy/loss of the first run's model (black-box only).
      details: diagnostics for results.json (e.g. white-box mean updates).
    """

    mode: str
    scores: np.ndarray = field(repr=False)
    is_member: np.ndarray = field(repr=False)
    run_ids: np.ndarray = field(repr=False)
    num_canaries: int
    runs: int
    privacy: PrivacyInfo
    utility: Utility | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def epsilon(self) -> float:
        """The accountant's epsilon to hold the evidence against (tighter of RDP/PLD)."""
        epsilon = self.privacy.epsilon
        return math.inf if epsilon is None else epsilon


def default_num_canaries(mode: str) -> int:
    """1000 white-box canaries (cheap: one model row each), 100 black-box ones."""
    return 1000 if mode == "whitebox" else 100


def _check_choice(name: str, value: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _check_count(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _privacy_info(*, dataset_size: int, batch_size: int, noise_multiplier: float,
                  l2_norm_clip: float, delta: float, steps: int, epochs: int, sampling: str,
                  num_microbatches: int | None, note: str = "") -> PrivacyInfo:
    from dpaudit import accounting

    statement = accounting.dp_sgd_privacy(
        dataset_size=dataset_size, batch_size=batch_size, noise_multiplier=noise_multiplier,
        delta=delta, steps=steps, sampling=sampling, num_microbatches=num_microbatches)
    return PrivacyInfo(noise_multiplier=noise_multiplier, l2_norm_clip=l2_norm_clip,
                       num_microbatches=num_microbatches, batch_size=batch_size,
                       sampling=sampling, steps=steps, epochs=float(epochs),
                       dataset_size=dataset_size, delta=delta,
                       epsilon_rdp=statement.epsilon_rdp, epsilon_pld=statement.epsilon_pld,
                       accounting_note=" ".join(p for p in (statement.note, note) if p))


def whitebox_observations(*, dataset_size: int, batch_size: int, epochs: int,
                          l2_norm_clip: float, noise_multiplier: float, delta: float,
                          sampling: str = "poisson", num_canaries: int = 1000, runs: int = 1,
                          seed: int = 0, progress: Any = None) -> CanaryObservations:
    """White-box Dirac-canary observations of dpaudit's DP-SGD (module docstring).

    Args:
      dataset_size, batch_size, epochs, l2_norm_clip, noise_multiplier, sampling: the
        DP-SGD run to audit (N, B, epochs, C, sigma, "poisson" | "shuffle").
      delta: the delta the accountant's epsilon is computed at.
      num_canaries: m per run; N and B are scaled up together when m > N.
      runs: independent training runs (fresh coins, sampling and noise each).
      seed: seeds everything; same seed, same observations.
      progress: a `dpaudit._progress.Progress` (one bar per run), or None.

    Returns:
      CanaryObservations with mode "whitebox".

    Raises:
      InputError: a setting out of range, named.
    """
    from dpaudit._pipeline_train import derive_seed
    from dpaudit._progress import NullProgress

    n = _check_count("dataset_size", dataset_size, 1)
    b = _check_count("batch_size", batch_size, 1)
    epochs = _check_count("epochs", epochs, 1)
    m = _check_count("num_canaries", num_canaries, 2)
    runs = _check_count("runs", runs, 1)
    _check_choice("sampling", sampling, ("poisson", "shuffle"))
    if b > n:
        raise InputError(f"batch_size must be at most the dataset size {n}, got {b}")
    if not (isinstance(l2_norm_clip, (int, float)) and l2_norm_clip > 0):
        raise InputError(f"l2_norm_clip must be positive, got {l2_norm_clip!r}")
    if not (isinstance(noise_multiplier, (int, float)) and noise_multiplier >= 0):
        raise InputError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}")
    scale = max(1, -(-m // n))
    n_run, b_run = n * scale, b * scale
    progress = progress or NullProgress()

    from dpaudit._canary_whitebox import run_whitebox

    scores, members, run_ids, diagnostics, steps = [], [], [], [], 0
    for r in range(runs):
        with progress.model(f"white-box run {r + 1}/{runs}", 1) as advance:
            run = run_whitebox(dataset_size=n_run, batch_size=b_run, epochs=epochs,
                               l2_norm_clip=float(l2_norm_clip),
                               noise_multiplier=float(noise_multiplier), sampling=sampling,
                               num_canaries=m, seed=derive_seed(seed, "whitebox", r),
                               gradient_norm_factor=_GRADIENT_NORM_FACTOR)
            advance(1)
        scores.append(run.scores)
        members.append(run.is_member)
        run_ids.append(np.full(m, r))
        steps = max(steps, run.steps)
        diagnostics.append((run.mean_update_in, run.mean_update_out, run.std_update_out))
    note = (f"white-box run at N={n_run}, B={b_run} (config N={n}, B={b} scaled by {scale} "
            f"to fit {m} canaries; same sampling rate and steps)" if scale > 1 else "")
    privacy = _privacy_info(dataset_size=n_run, batch_size=b_run,
                            noise_multiplier=float(noise_multiplier),
                            l2_norm_clip=float(l2_norm_clip), delta=delta, steps=steps,
                            epochs=epochs, sampling=sampling, num_microbatches=None, note=note)
    diag = np.array(diagnostics)
    details = {"dataset_size": n_run, "batch_size": b_run, "scale": scale, "steps": steps,
               "gradient_norm_factor": _GRADIENT_NORM_FACTOR,
               "mean_update_included": float(np.nanmean(diag[:, 0])),
               "mean_update_excluded": float(np.nanmean(diag[:, 1])),
               "std_update_excluded": float(np.nanmean(diag[:, 2])),
               "expected_mean_update_included": b_run / n_run,
               "expected_std_update_excluded": float(noise_multiplier)}
    return CanaryObservations(mode="whitebox", scores=np.concatenate(scores),
                              is_member=np.concatenate(members),
                              run_ids=np.concatenate(run_ids), num_canaries=m, runs=runs,
                              privacy=privacy, details=details)


def blackbox_observations(config: Any, *, num_canaries: int = 100, runs: int = 1,
                          data: Any = None, out_dir: str | Path | None = None,
                          progress: Any = None) -> CanaryObservations:
    """Black-box observations: mislabelled canaries trained with the config's DP recipe.

    Args:
      config: a `dpaudit.config.AuditConfig` (its model or `model.trainer`, training and
        dp settings are used; the dp arm's recipe trains every run).
      num_canaries: m per run, drawn from the examples the target never trains on.
      runs: independent training runs (fresh coins, initial weights, sampling, noise).
      data: a loaded `dpaudit.data.AuditData` (default: loaded from the config).
      out_dir: where trained models are cached (resumable) when output.save_models.
      progress: a `dpaudit._progress.Progress`, or None.

    Returns:
      CanaryObservations with mode "blackbox".
    """
    from dpaudit._canary_blackbox import blackbox_runs

    m = _check_count("num_canaries", num_canaries, 2)
    runs = _check_count("runs", runs, 1)
    return blackbox_runs(config, num_canaries=m, runs=runs, data=data, out_dir=out_dir,
                         progress=progress)


def summarize_canaries(observations: CanaryObservations, *, method: str = "one-run",
                       confidence: float = 0.95, seed: int = 0,
                       guess_counts: Sequence[tuple[int, int]] | None = None
                       ) -> list[AttackSummary]:
    """The canary audit's AttackSummaries (named canary_<mode>_<method>).

    Args:
      observations: from `whitebox_observations` or `blackbox_observations`.
      method: "one-run" or "multi-run" (module docstring).
      confidence: of every bound.
      seed: seeds tie-breaking and the held-out split.
      guess_counts: one-run (k_plus, k_minus) pairs; default
        `attacks.canary_bounds.default_guess_counts`.

    Returns:
      A list of AttackSummary: one for one-run and black-box multi-run; for white-box
      multi-run, the Clopper-Pearson bound and the Gaussian-DP bound.
    """
    from dpaudit.attacks import canary_bounds

    _check_choice("method", method, METHODS)
    obs = observations
    delta = float(obs.privacy.delta if obs.privacy.delta is not None else 1e-5)
    theory = obs.epsilon
    base = {"mode": obs.mode, "method": method, "num_canaries": obs.num_canaries,
            "runs": obs.runs, "observations": int(len(obs.scores)),
            "theoretical_epsilon": theory, **dict(obs.details)}
    prefix = f"canary_{obs.mode}_{method.replace('-', '_')}"
    try:
        if method == "one-run":
            audit = canary_bounds.one_run_audit(obs.scores, obs.is_member, delta=delta,
                                                confidence=confidence,
                                                guess_counts=guess_counts, seed=seed)
            how = (f"one-run audit (Steinke, Nasr, Jagielski, NeurIPS 2023): "
                   f"{audit.num_correct} of {audit.num_guesses} guesses correct (top "
                   f"{audit.k_plus} 'in', bottom {audit.k_minus} 'out') among "
                   f"{audit.num_canaries} canaries with fair inclusion coins; "
                   f"Bonferroni over {audit.num_candidates} guess counts")
            extra = {"k_plus": audit.k_plus, "k_minus": audit.k_minus,
                     "num_guesses": audit.num_guesses, "correct_guesses": audit.num_correct,
                     "guess_counts_tried": audit.num_candidates}
            return [_summary(prefix, obs, audit.epsilon_lower_bound, how, confidence, delta,
                             seed, {**base, **extra})]
        multi = canary_bounds.multi_run_audit(
            obs.scores, obs.is_member, delta=delta, confidence=confidence,
            run_ids=obs.run_ids if obs.runs > 1 else None, seed=seed)
        split = ("held-out runs" if obs.runs > 1
                 else "a held-out random half of the canaries (one run)")
        how = (f"Clopper-Pearson (Jagielski, Ullman, Oprea, NeurIPS 2020): threshold "
               f"chosen on {split}; {multi.false_positives}/{multi.n_negatives} false "
               f"positives and {multi.false_negatives}/{multi.n_positives} false negatives "
               "on the rest, each canary observation counted as an independent trial")
        gdp = canary_bounds.gdp_audit(obs.scores, obs.is_member, delta=delta,
                                      confidence=confidence)
        gdp_details = {"gdp_mu": gdp.mu, "gdp_mu_interval": list(gdp.mu_interval),
                       "gdp_mu_lower": gdp.mu_lower, "epsilon_gdp": gdp.epsilon,
                       "epsilon_gdp_lower": gdp.epsilon_lower_bound,
                       "gdp_std_ratio": gdp.std_ratio}
        summaries = [_summary(prefix, obs, multi.epsilon_lower_bound, how, confidence, delta,
                              seed, {**base, "threshold": multi.threshold,
                                     "false_positives": multi.false_positives,
                                     "false_negatives": multi.false_negatives,
                                     "calibration_observations": multi.n_calibration,
                                     **gdp_details})]
        if obs.mode == "whitebox":
            how = (f"Gaussian-DP lower confidence bound (Nasr et al., USENIX Security 2023): "
                   f"mu >= {gdp.mu_lower:.4g} (estimate {gdp.mu:.4g}, noncentral t) from "
                   f"{gdp.n_members} included and {gdp.n_nonmembers} excluded canary "
                   "scores, converted at delta; assumes Gaussian scores of equal spread "
                   f"(std ratio {gdp.std_ratio:.3g})")
            summaries.append(_summary(prefix + "_gdp", obs, gdp.epsilon_lower_bound, how,
                                      confidence, delta, seed, {**base, **gdp_details}))
        return summaries
    except ValueError as e:
        raise InputError(f"canary audit ({method}): {e}") from None


def _summary(name: str, obs: CanaryObservations, bound: float, how: str, confidence: float,
             delta: float, seed: int, details: Mapping[str, Any]) -> AttackSummary:
    """An AttackSummary with the canary bound in place of evaluate()'s generic one."""
    from dpaudit import attacks

    from dpaudit.summaries import summarize_attack

    with warnings.catch_warnings():
        # TPR at FPR 0.001 needs 10000 excluded canaries; NaN there is expected, not news.
        warnings.simplefilter("ignore", attacks.MetricWarning)
        metrics = attacks.evaluate(obs.scores, obs.is_member, delta=delta,
                                   confidence=confidence, seed=seed)
    result = attacks.AttackResult(name=name, scores=obs.scores, is_member=obs.is_member,
                                  metrics=metrics)
    ids = np.arange(len(obs.scores))
    summary = summarize_attack(result, ids=ids, details={
        **details, "epsilon_lower_bound_split_half": float(metrics.epsilon_lower_bound)})
    logger.info("%s: epsilon >= %.4g (confidence %g) vs accountant %.4g", name, bound,
                confidence, obs.epsilon)
    return dataclasses.replace(summary, epsilon_lower_bound=float(bound),
                               epsilon_lower_bound_method=how, confidence=confidence,
                               delta=delta)


def run_canary_audit(config: Any, *, mode: str = "whitebox", method: str = "one-run",
                     num_canaries: int | None = None, runs: int = 1,
                     out_dir: str | Path | None = None, progress: Any = None,
                     policy: Any = None, write: bool = True) -> AuditResult:
    """Runs a canary audit for `config` and writes results.json, scores.csv, report.html.

    Args:
      config: a `dpaudit.config.AuditConfig` (same file as train-and-attack).
      mode: "whitebox" (Dirac gradient canaries in dpaudit's DP step) or "blackbox"
        (mislabelled examples through the config's recipe or trainer).
      method: "one-run" or "multi-run".
      num_canaries: canaries per run (default `default_num_canaries(mode)`).
      runs: training runs (multi-run needs at least 2 for held-out runs in black-box).
      out_dir: output directory (default: config.output.dir).
      progress: a `dpaudit._progress.Progress`, or None.
      policy: a `dpaudit.gate.Policy` or a policy path. The verdict is always stored:
        without a policy it is the gate's DP consistency check alone (does any canary
        bound exceed the accountant's epsilon?).
      write: False to skip writing files.

    Returns:
      AuditResult with one arm "dp" whose attacks are the canary summaries.

    Raises:
      InputError: bad settings or data.
    """
    from dpaudit import pipeline
    from dpaudit._pipeline_output import environment, warn_contradictions, write_outputs

    started = time.perf_counter()
    _check_choice("mode", mode, MODES)
    _check_choice("method", method, METHODS)
    m = default_num_canaries(mode) if num_canaries is None else num_canaries
    out = Path(out_dir if out_dir is not None else config.output.dir)
    if mode == "whitebox":
        if config.model.trainer is not None:
            raise InputError("white-box canaries need dpaudit's own DP step; a custom "
                             f"trainer ({config.model.trainer!r}) can be audited with "
                             "--mode blackbox")
        if config.dp.num_microbatches is not None:
            raise InputError("white-box canaries audit per-example clipping; unset "
                             "dp.num_microbatches (got "
                             f"{config.dp.num_microbatches}) or use --mode blackbox")
        data = pipeline.load_audit_data(config)
        n = len(data.members)
        noise, note = pipeline.resolve_noise(config, n)
        obs = whitebox_observations(
            dataset_size=n, batch_size=config.training.batch_size,
            epochs=config.training.epochs, l2_norm_clip=config.dp.l2_norm_clip,
            noise_multiplier=noise, delta=config.dp.delta, sampling=config.dp.sampling,
            num_canaries=m, runs=runs, seed=config.seed, progress=progress)
        data_summary = {**data.summary(), "canaries_per_run": m, "canary_runs": runs}
    else:
        data = pipeline.load_audit_data(config)
        obs = blackbox_observations(config, num_canaries=m, runs=runs, data=data,
                                    out_dir=out, progress=progress)
        data_summary = {**data.summary(), "canaries_per_run": m, "canary_runs": runs}
        note = ""
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
    from dpaudit.gate import evaluate_gate, load_policy

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
