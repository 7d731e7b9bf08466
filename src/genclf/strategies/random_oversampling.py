"""``random_oversampling``: minority-class images repeated up to the majority count."""

from __future__ import annotations

import torch

from genclf.data.splits import Split
from genclf.roles import CLASSICAL
from genclf.strategies.base import (
    Context,
    Proposal,
    from_scratch_imbalanced,
    register_strategy,
)
from genclf.strategies.classifier import ClassifierStrategy, majority_fill


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
