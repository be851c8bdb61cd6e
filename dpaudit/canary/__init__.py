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
  See `dpaudit.canary.whitebox` for the construction.
* Black-box (``mode="blackbox"``): input-space canaries, mislabelled examples drawn
  from the examples the target never trains on, trained with the config's own recipe
  (also `--trainer module:function`) next to the members, and scored by -loss of the
  final model on the canary's (wrong) label. This audits the whole training pipeline,
  the model included, but with the last iterate only, so its bounds are weaker.

* Trainer (``mode="trainer"``, the default for a ``--trainer`` taking ``dp=``): crafted
  input canaries (large, mutually orthogonal inputs far from the data, random labels)
  are the whole training set of a user's trainer, which dpaudit runs at settings where
  the audit has power (full batch, a few steps, noise for epsilon 1: `design`) and
  watches through the step hook; each canary is scored from every update
  (`gradient`, `trainer`). This audits the user's own DP-SGD implementation, and
  catches noise 20x too small, missing clipping and clipping of the batch mean
  (benchmarks/planted_bugs.py). It imports and runs the trainer's code.

Before training, every audit computes its *ceiling* (`design.design_ceiling`): the
largest epsilon its design can prove at the contradiction rule's confidence. A claimed
epsilon at or above it cannot be refuted; the result then says INCONCLUSIVE (results'
``conclusive`` and ``ceiling``, the CLI, the report, the gate; a policy with
``require_conclusive = true`` fails it).

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

Every bound is also computed at the rule's stricter confidence (`dpaudit.evidence`:
0.999 per audit, Bonferroni over its bounds), which alone can fire "contradicted by
evidence"; bounds resting on a model of the scores are marked estimates and never fire
it. Results are written like any audit (results.json with an arm ``dp`` whose attacks are
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

from dpaudit.canary.audit import default_mode, run_canary_audit
from dpaudit.canary.design import design_ceiling
from dpaudit.canary.observations import blackbox_observations, whitebox_observations
from dpaudit.canary.records import METHODS, MODES, CanaryObservations, default_num_canaries
from dpaudit.canary.summary import summarize_canaries

__all__ = ["MODES", "METHODS", "CanaryObservations", "whitebox_observations",
           "blackbox_observations", "summarize_canaries", "run_canary_audit",
           "default_num_canaries", "default_mode", "design_ceiling"]
