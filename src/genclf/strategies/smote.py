"""``smote``: SMOTE (imbalanced-learn) on raw pixels: new minority images interpolate between neighbours."""

from __future__ import annotations

import numpy as np
import torch

from genclf.data.splits import Split
from genclf.errors import ConfigError
from genclf.roles import CLASSICAL
from genclf.strategies.base import (
    Context,
    Proposal,
    from_scratch_imbalanced,
    register_strategy,
)
from genclf.strategies.classifier import ClassifierStrategy


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
