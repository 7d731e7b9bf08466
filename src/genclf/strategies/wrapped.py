"""The shared shape of strategies that train a classifier inside a wrapper module owning the loss (mixing,
consistency on an unlabeled pool), then keep the inner classifier."""

from __future__ import annotations

import numpy as np
import torch

from genclf.config import TrainConfig
from genclf.data.splits import Split
from genclf.models.classifiers import Classifier
from genclf.pipelines.classify import TrainedClassifier, train_classifier
from genclf.strategies.base import Context, Strategy, budget_columns
from genclf.training.fit import Fit


class Wrapper(Classifier):
    """A classifier whose ``training_step`` a subclass changes; inference is the inner classifier's."""

    def __init__(self, classifier: Classifier):
        super().__init__(classifier.in_channels, classifier.num_classes, classifier.image_size, dropout=0.0)
        self.classifier = classifier
        self.feature_dim = classifier.feature_dim

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def final_classifier(self) -> Classifier:
        """The classifier a strategy keeps once training ends (the inner one, unless a subclass averages)."""
        return self.classifier


class WrappedStrategy(Strategy):
    """Subclasses give ``wrap(classifier, split, context)`` and, optionally, ``budget(split, context)``."""

    defaults = {"dropout": 0.2}

    def wrap(self, classifier: Classifier, split: Split, context: Context) -> Wrapper:
        raise NotImplementedError

    def budget(self, split: Split, context: Context) -> TrainConfig:
        return context.train

    def fit(self, split: Split, context: Context) -> None:
        model = self.wrap(self.new_classifier(split, context.seed), split, context)
        budget = self.budget(split, context)
        trained, result = train_classifier(
            split,
            self.config.classifier,
            Fit(budget, context.seed, quiet=context.quiet),
            model=model,
            keep_last=self.params.get("keep") == "last",
        )
        self.classifier = TrainedClassifier(
            model.final_classifier(), self.config.classifier, {}, trained.class_names, trained.normalization
        )
        self.extra["best_epoch"] = result.best_epoch
        self.extra.update(budget_columns(budget, result.epochs_run, len(split.train)))

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.classifier.predict_proba(images)

    def pixel_model(self):
        return self.classifier.pixel_model()
