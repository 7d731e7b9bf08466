"""``baseline``: the classifier trained on the labeled data only."""

from __future__ import annotations

import numpy as np
import torch

from genclf.classify import TrainedClassifier, train_classifier
from genclf.data.splits import Split
from genclf.strategies.base import STRATEGIES, Context, Strategy


@STRATEGIES.register("baseline")
class Baseline(Strategy):
    defaults = {"dropout": 0.2}

    def fit(self, split: Split, context: Context) -> None:
        self.classifier: TrainedClassifier
        self.classifier, result = train_classifier(
            split,
            self.config.classifier,
            context.train,
            context.seed,
            quiet=context.quiet,
            options={"dropout": self.params["dropout"]},
        )
        self.extra["best_epoch"] = result.best_epoch

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.classifier.predict_proba(images)
