"""Hand-written DP-SGD trainers in plain TensorFlow for `--trainer`: one correct, three broken.

Each module's ``train`` follows dpaudit's trainer contract (`dpaudit.training.trainers`):
it takes the DP settings dpaudit gives it (``dp=``) and calls the step hook. Run from the
examples/ folder (or put it on PYTHONPATH)::

    dpaudit canary-audit --trainer trainers.correct:train --out runs/correct        # exit 0
    dpaudit canary-audit --trainer trainers.small_noise:train --out runs/noise      # exit 1

The three planted bugs are the ones a DP-SGD written by hand typically has: noise 20x
smaller than claimed (`small_noise`), no per-example clipping (`no_clip`), and the batch's
mean gradient clipped instead of each example's (`clip_after_mean`). All four claim the
same DP settings, so an audit must find the bugs from what the models do.
"""

__all__: list[str] = []
