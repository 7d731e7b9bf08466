"""``class_weights``: cross-entropy weighted by inverse class frequency (scikit-learn's 'balanced' rule)."""

from __future__ import annotations

import torch

from genclf.data.splits import Split
from genclf.roles import CLASSICAL
from genclf.strategies.base import (
    Proposal,
    from_scratch_imbalanced,
    register_strategy,
)
from genclf.strategies.classifier import ClassifierStrategy


@register_strategy("class_weights", CLASSICAL, cost=1.0, plan=[Proposal(4, from_scratch_imbalanced)])
class ClassWeights(ClassifierStrategy):
    """Cross-entropy weighted by inverse class frequency (sklearn's 'balanced' rule)."""

    def training_options(self, split: Split) -> dict:
        counts = torch.tensor(split.train.class_counts(), dtype=torch.float32).clamp_min(1)
        return {"class_weights": counts.sum() / (len(counts) * counts)}
