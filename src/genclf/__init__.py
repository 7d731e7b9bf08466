"""genclf: image classification assisted by image generation.

Public API::

    from genclf import load_dataset, make_split, train_classifier, load_classifier, run_experiment, RunConfig
"""

from genclf.classify import TrainedClassifier, load_classifier, save_classifier, train_classifier
from genclf.config import DataConfig, RunConfig, StrategyConfig, TrainConfig, TrainJobConfig, load_config
from genclf.data import ImageSet, LoadedData, Split, load_dataset, make_split
from genclf.errors import GenclfError
from genclf.evaluation import ClassificationMetrics, compute_metrics
from genclf.experiment import run_experiment
from genclf.training.trainer import Trainer

__version__ = "0.1.0"

__all__ = [
    "ClassificationMetrics",
    "DataConfig",
    "GenclfError",
    "ImageSet",
    "LoadedData",
    "RunConfig",
    "Split",
    "StrategyConfig",
    "TrainConfig",
    "TrainJobConfig",
    "TrainedClassifier",
    "Trainer",
    "compute_metrics",
    "load_classifier",
    "load_config",
    "load_dataset",
    "make_split",
    "run_experiment",
    "save_classifier",
    "train_classifier",
]
