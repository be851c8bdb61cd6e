"""Data for an audit: datasets (digits embedded; CSV, NPZ, the Keras MNIST file), the
member / non-member / shadow / test split, and feature scaling. No TensorFlow.
"""

from dpaudit.data.datasets import DATASET_NAMES, Dataset, load_dataset
from dpaudit.data.splits import SCALINGS, AuditData, Part, Split, prepare, split_dataset

__all__ = ["DATASET_NAMES", "SCALINGS", "AuditData", "Dataset", "Part", "Split", "load_dataset",
           "prepare", "split_dataset"]
