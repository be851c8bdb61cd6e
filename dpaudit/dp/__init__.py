"""DP-SGD for Keras 3 (TensorFlow backend), with TensorFlow Privacy's names.

Importing this package imports TensorFlow and Keras (and selects Keras' TensorFlow
backend unless KERAS_BACKEND is already set); `import dpaudit` does not.

* Optimizers: `DPKerasSGDOptimizer`, `DPKerasAdamOptimizer`, `DPKerasAdagradOptimizer`
  (TF Privacy's `VectorizedDPKeras*Optimizer` names are aliases: these are vectorised),
  with TF Privacy's custom-loop step ``opt.minimize(vector_loss, var_list, tape=tape)``.
* Models whose train step is DP-SGD: `DPModel`, `DPSequential`, `make_private`.
* Training with Poisson (or shuffled) batches: `fit_private`.
* Custom loops: `dp_gradients`; diagnostics: `per_example_gradient_norms`,
  `suggest_clip`.
* The mechanism's arithmetic, replaceable in tests: `dpaudit.dp.mechanism`.
"""

import os

from dpaudit.backend import require_tensorflow

require_tensorflow("dpaudit.dp (DP-SGD training)")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402

from dpaudit.dp.clipping import per_example_gradient_norms  # noqa: E402
from dpaudit.dp.gradients import dp_gradients  # noqa: E402
from dpaudit.dp.models import DPModel, DPSequential, is_private_model, make_private  # noqa: E402
from dpaudit.dp.optimizers import (  # noqa: E402
    DPKerasAdagradOptimizer,
    DPKerasAdamOptimizer,
    DPKerasSGDOptimizer,
    VectorizedDPKerasAdagradOptimizer,
    VectorizedDPKerasAdamOptimizer,
    VectorizedDPKerasSGDOptimizer,
    is_dp_optimizer,
)
from dpaudit.dp.sampling import fit_private  # noqa: E402
from dpaudit.dp.suggest import ClipSuggestion, suggest_clip  # noqa: E402

# Registered as "dpaudit>DPModel" etc. for .keras files; legacy .h5 files name classes
# without the package, so register the bare names too: after `import dpaudit.dp`, plain
# keras.models.load_model (safe_mode on) reloads a saved DP model in either format.
for _cls in (DPModel, DPSequential, DPKerasSGDOptimizer, DPKerasAdamOptimizer,
             DPKerasAdagradOptimizer):
    keras.saving.get_custom_objects().setdefault(_cls.__name__, _cls)
del _cls

__all__ = ["DPKerasSGDOptimizer", "DPKerasAdamOptimizer", "DPKerasAdagradOptimizer",
           "VectorizedDPKerasSGDOptimizer", "VectorizedDPKerasAdamOptimizer",
           "VectorizedDPKerasAdagradOptimizer",
           "DPModel", "DPSequential", "make_private", "fit_private", "dp_gradients",
           "per_example_gradient_norms", "suggest_clip", "ClipSuggestion", "is_dp_optimizer",
           "is_private_model", "EpsilonCallback"]


def __getattr__(name: str):
    # The epsilon callback lives in dpaudit.dp.callbacks (accounting side); load it on use.
    if name == "EpsilonCallback":
        from dpaudit.dp.callbacks import EpsilonCallback

        return EpsilonCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
