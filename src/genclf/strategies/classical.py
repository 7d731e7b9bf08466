"""Honest classical baselines: standard augmentation, random oversampling, SMOTE, class weights."""

from __future__ import annotations

import numpy as np
import torch

from genclf.data.splits import Split
from genclf.data.transforms import batch_augmenter
from genclf.errors import ConfigError
from genclf.pipelines.classify import train_classifier
from genclf.roles import BASELINE, CLASSICAL
from genclf.strategies.base import (
    Context,
    Proposal,
    Strategy,
    budget_columns,
    from_scratch,
    from_scratch_imbalanced,
    register_strategy,
)
from genclf.training.fit import Fit


class ClassifierStrategy(Strategy):
    """A strategy that ends in one classifier trained on (possibly modified) training data."""

    defaults = {"dropout": 0.2}

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
            **self.training_options(split),
        )
        self.extra["best_epoch"] = result.best_epoch
        self.extra.update(budget_columns(budget, result.epochs_run, len(labels)))

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.classifier.predict_proba(images)

    def pixel_model(self):
        return self.classifier.pixel_model()


@register_strategy(
    "baseline",
    BASELINE,
    cost=1.0,
    plan=[
        Proposal(0, from_scratch),
        Proposal(2, lambda s: s.photos and s.image_size <= 32, label="cnn_from_scratch"),  # cheap at this size
    ],
)
class Baseline(ClassifierStrategy):
    """The classifier trained on the labeled data only."""


@register_strategy("classic_augmentation", CLASSICAL, cost=1.1, plan=[Proposal(1, from_scratch)])
class ClassicAugmentation(ClassifierStrategy):
    """torchvision v2 random affine / crop / erasing presets during training."""

    defaults = {"dropout": 0.2, "preset": "auto"}

    def training_options(self, split: Split) -> dict:
        preset = self.params["preset"]
        if preset == "auto":
            preset = "natural" if split.train.channels == 3 else "shapes"
        return {"augment": batch_augmenter(preset, split.train.image_size)}


def majority_fill(labels: torch.Tensor, num_classes: int) -> list[int]:
    """How many extra images each class needs to reach the largest class."""
    counts = torch.bincount(labels, minlength=num_classes)
    return (counts.max() - counts).tolist()


@register_strategy("random_oversampling", CLASSICAL, cost="balanced", plan=[Proposal(5, from_scratch_imbalanced)])
class RandomOversampling(ClassifierStrategy):
    """Repeat randomly chosen images of minority classes up to the majority count."""

    def training_data(self, split: Split, context: Context):
        gen = torch.Generator().manual_seed(context.seed)
        extra = []
        for cls, missing in enumerate(majority_fill(split.train.labels, split.train.num_classes)):
            members = torch.nonzero(split.train.labels == cls).flatten()
            if missing and len(members):
                extra.append(members[torch.randint(len(members), (missing,), generator=gen)])
        index = torch.cat([torch.arange(len(split.train)), *extra])
        return split.train.images[index], split.train.labels[index]


@register_strategy("smote", CLASSICAL, cost="balanced", plan=[Proposal(6, from_scratch_imbalanced)])
class Smote(ClassifierStrategy):
    """SMOTE (imbalanced-learn) on raw pixels: new minority images interpolate between neighbours."""

    defaults = {"dropout": 0.2, "k_neighbors": 5}

    def training_data(self, split: Split, context: Context):
        from imblearn.over_sampling import SMOTE

        counts = split.train.class_counts()
        if len(set(counts)) == 1:
            return split.train.images, split.train.labels  # already balanced: SMOTE adds nothing
        k = min(self.params["k_neighbors"], min(counts) - 1)
        if k < 1:
            raise ConfigError("smote", f"needs at least 2 images in every class, the smallest class has {min(counts)}")
        flat = split.train.images.flatten(1).numpy()
        x, y = SMOTE(k_neighbors=k, random_state=context.seed).fit_resample(flat, split.train.labels.numpy())
        images = torch.from_numpy(np.clip(np.round(x), 0, 255).astype(np.uint8)).view(-1, *split.train.images.shape[1:])
        return images, torch.from_numpy(y).long()


@register_strategy("class_weights", CLASSICAL, cost=1.0, plan=[Proposal(4, from_scratch_imbalanced)])
class ClassWeights(ClassifierStrategy):
    """Cross-entropy weighted by inverse class frequency (sklearn's 'balanced' rule)."""

    def training_options(self, split: Split) -> dict:
        counts = torch.tensor(split.train.class_counts(), dtype=torch.float32).clamp_min(1)
        return {"class_weights": counts.sum() / (len(counts) * counts)}
