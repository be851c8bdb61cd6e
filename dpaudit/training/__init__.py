"""Training the models an audit needs: recipes per arm, the model zoo, users' trainers,
a resumable model cache, and the one place per-example outputs and losses are computed.

Importing this package does not import TensorFlow; training does, on first use.
"""

from dpaudit.training.cache import ModelCache, Trained
from dpaudit.training.models import MODEL_NAMES, build_model
from dpaudit.training.recipe import Recipe
from dpaudit.training.scoring import (measure_utility, per_example_loss, predict_log_proba,
                                      predict_proba)
from dpaudit.training.seeds import derive_seed
from dpaudit.training.trainers import load_trainer, trainer_source_hash

__all__ = ["MODEL_NAMES", "ModelCache", "Recipe", "Trained", "build_model", "derive_seed",
           "load_trainer", "measure_utility", "per_example_loss", "predict_log_proba",
           "predict_proba", "trainer_source_hash"]
