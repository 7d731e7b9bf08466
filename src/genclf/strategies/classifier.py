"""The shape of the strategies that train one classifier on (a transformed copy of) the labeled images,
and ``majority_fill``, the per-class counts that bring every class up to the largest.
"""

from __future__ import annotations

import numpy as np
import torch

from genclf.data.splits import Split
from genclf.pipelines.classify import train_classifier
from genclf.strategies.base import (
    Context,
    Strategy,
    budget_columns,
)
from genclf.training.fit import Fit


class ClassifierStrategy(Strategy):
    """A strategy that ends in one classifier trained on (possibly modified) training data."""

    defaults = {"dropout": 0.2}

    @classmethod
    def takes_sample_weights(cls) -> bool:
        """Whether it trains on the labeled images as they are, so a weight per image applies (scikit-learn's
        ``sample_weight``); a strategy that resamples or generates training images has no image to weigh."""
        return cls.training_data is ClassifierStrategy.training_data and cls.fit is ClassifierStrategy.fit

    def training_data(self, split: Split, context: Context) -> tuple[torch.Tensor, torch.Tensor]:
        return split.train.images, split.train.labels

    def training_options(self, split: Split) -> dict:
        return {}

    def budget(self, context: Context, n_labeled: int, n_train: int):
        """The classifier's training budget (the run's, unless a strategy scales it to its training set)."""
        return context.train

    def fit(self, split: Split, context: Context) -> None:
        images, labels = self.training_data(split, context)
        self.extra["n_train_effective"] = len(labels)
        budget = self.budget(context, len(split.train), len(labels))
        self.classifier, result = train_classifier(
            split,
            self.config.classifier,
            Fit(budget, context.seed, quiet=context.quiet),
            options={"dropout": self.params["dropout"]},
            train_images=images,
            train_labels=labels,
            sample_weights=split.train.weights if self.takes_sample_weights() else None,
            **self.training_options(split),
        )
        self.extra["best_epoch"] = result.best_epoch
        self.extra.update(budget_columns(budget, result.epochs_run, len(labels)))

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.classifier.predict_proba(images)

    def pixel_model(self):
        return self.classifier.pixel_model()


def majority_fill(labels: torch.Tensor, num_classes: int) -> list[int]:
    """How many extra images each class needs to reach the largest class."""
    counts = torch.bincount(labels, minlength=num_classes)
    return (counts.max() - counts).tolist()
