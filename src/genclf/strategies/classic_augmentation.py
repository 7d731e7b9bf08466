"""``classic_augmentation``: torchvision v2 random affine / crop / erasing while the classifier trains."""

from __future__ import annotations

from genclf.data.splits import Split
from genclf.data.transforms import batch_augmenter
from genclf.roles import CLASSICAL
from genclf.strategies.base import (
    Proposal,
    from_scratch,
    register_strategy,
)
from genclf.strategies.classifier import ClassifierStrategy


@register_strategy("classic_augmentation", CLASSICAL, cost=1.1, plan=[Proposal(1, from_scratch)])
class ClassicAugmentation(ClassifierStrategy):
    """torchvision v2 random affine / crop / erasing presets during training."""

    defaults = {"dropout": 0.2, "preset": "auto"}

    def training_options(self, split: Split) -> dict:
        preset = self.params["preset"]
        if preset == "auto":
            preset = "natural" if split.train.channels == 3 else "shapes"
        return {"augment": batch_augmenter(preset, split.train.image_size)}
