"""``synthetic_augmentation``: the real images plus ``ratio`` times as many generated ones, class-balanced."""

from __future__ import annotations

import torch

from genclf.config_rules import at_least
from genclf.data.splits import Split
from genclf.roles import GENERATIVE
from genclf.strategies.base import Context, Proposal, from_scratch, register_strategy
from genclf.strategies.generated_data import GeneratedDataStrategy


@register_strategy(
    "synthetic_augmentation",
    GENERATIVE,
    cost=2.0,
    plan=[Proposal(9, from_scratch, label="synthetic_augmentation[cvae]", params={"generator": "cvae"})],
)
class SyntheticAugmentation(GeneratedDataStrategy):
    """Real images plus ``ratio`` x as many generated ones, class-balanced."""

    defaults = {**GeneratedDataStrategy.defaults, "ratio": 1.0}

    def validate_params(self) -> None:
        super().validate_params()
        self.check_param("ratio", at_least(0))

    def training_data(self, split: Split, context: Context):
        per_class = round(self.params["ratio"] * len(split.train) / split.train.num_classes)
        images, labels = self.generate(split, context, [per_class] * split.train.num_classes)
        self.extra["n_synthetic"] = len(labels)
        return torch.cat([split.train.images, images]), torch.cat([split.train.labels, labels])
