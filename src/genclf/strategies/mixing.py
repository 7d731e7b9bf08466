"""Label-mixing augmentation, the strongest cheap non-generative competitors of synthetic augmentation:
the wrapper ``mixup`` and ``cutmix`` train through.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchvision.transforms import v2

from genclf.config_rules import above
from genclf.data.splits import Split
from genclf.models.classifiers import Classifier
from genclf.models.output import StepOutput
from genclf.strategies.base import Context
from genclf.strategies.wrapped import WrappedStrategy, Wrapper


class MixingClassifier(Wrapper):
    """Cross-entropy against the mixed (soft) labels of a mixed batch."""

    def __init__(self, classifier: Classifier, mix: v2.Transform):
        super().__init__(classifier)
        self.mix = mix

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        images, labels = batch
        mixed, soft = self.mix(images, labels)  # draws from the global RNG, which the Trainer seeds and saves
        loss = F.cross_entropy(self.classifier(mixed).float(), soft.float())
        return StepOutput(loss, {"loss": loss.detach()})


class MixingStrategy(WrappedStrategy):
    transform: type[v2.Transform] = v2.MixUp
    defaults = {"dropout": 0.2, "alpha": 1.0}

    def validate_params(self) -> None:
        self.check_param("alpha", above(0))

    def wrap(self, classifier: Classifier, split: Split, context: Context) -> MixingClassifier:
        mix = self.transform(alpha=float(self.params["alpha"]), num_classes=split.train.num_classes)
        return MixingClassifier(classifier, mix)
