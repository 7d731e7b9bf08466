"""``generative_balancing``: every minority class filled with generated images up to the majority count."""

from __future__ import annotations

import torch

from genclf.data.splits import Split
from genclf.roles import GENERATIVE
from genclf.strategies.base import Context, Proposal, from_scratch_imbalanced, register_strategy
from genclf.strategies.classifier import majority_fill
from genclf.strategies.generated_data import GeneratedDataStrategy


@register_strategy(
    "generative_balancing",
    GENERATIVE,
    cost="balanced",
    plan=[Proposal(10, from_scratch_imbalanced, params={"generator": "cvae"})],
)
class GenerativeBalancing(GeneratedDataStrategy):
    """Fill every minority class with generated images up to the majority count."""

    def training_data(self, split: Split, context: Context):
        images, labels = self.generate(split, context, majority_fill(split.train.labels, split.train.num_classes))
        self.extra["n_synthetic"] = len(labels)
        return torch.cat([split.train.images, images]), torch.cat([split.train.labels, labels])
