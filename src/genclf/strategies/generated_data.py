"""The shape of the strategies that add generated images to the labeled ones (synthetic augmentation,
generative class balancing). With a pretrained backbone as the entry's classifier (``classifier:
efficientnet_lite0``), the real and generated images fine-tune it with ``finetune``'s recipe and defaults
(LP-FT, 6 epochs, 128 px), so the row differs from ``finetune[...]`` only by the generated images.
"""

from __future__ import annotations

import torch

from genclf.config_rules import between
from genclf.data.splits import Split
from genclf.errors import ConfigError
from genclf.models.generative import GENERATORS
from genclf.pipelines.classify import train_classifier
from genclf.strategies.base import Context
from genclf.strategies.classifier import ClassifierStrategy
from genclf.training.fit import Fit


class GeneratedDataStrategy(ClassifierStrategy):
    draws_generators = True
    defaults = {"dropout": 0.2, "generator": "cvae", "generator_options": {}, "filter_confidence": 0.0}

    def validate_params(self) -> None:
        if self.params["generator"] not in GENERATORS:
            raise ConfigError(
                f"strategies[{self.config.name}].params.generator",
                f"unknown generator {self.params['generator']!r}; expected one of: {', '.join(GENERATORS.names())}",
            )
        self.check_param("filter_confidence", between(0, 1))

    def fit(self, split: Split, context: Context) -> None:
        from genclf.models.backbones import BACKBONES

        if self.config.classifier not in BACKBONES:
            return super().fit(split, context)
        from genclf.strategies.finetune import finetune_backbone

        images, labels = self.training_data(split, context)
        finetune_backbone(self, split, context, images, labels)

    def generate(self, split: Split, context: Context, counts: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """``counts[c]`` generated images of class c, optionally kept only where a real-trained
        classifier gives the intended class at least ``filter_confidence``."""
        self.extra["generator"] = self.params["generator"]
        generator = context.generator(self.params["generator"], split, self.params["generator_options"])
        threshold = self.params["filter_confidence"]
        oversample = 3 if threshold > 0 else 1
        labels = torch.cat([torch.full((n * oversample,), c, dtype=torch.long) for c, n in enumerate(counts)])
        images = generator.sample(labels, seed=context.seed + 1)
        if threshold > 0:
            judge, _ = train_classifier(split, self.config.classifier, Fit(context.train, context.seed, quiet=True))
            confidence = torch.from_numpy(judge.predict_proba(images))[torch.arange(len(labels)), labels]
            keep = []
            for cls, wanted in enumerate(counts):
                members = torch.nonzero(labels == cls).flatten()
                ranked = members[confidence[members].argsort(descending=True)]
                passing = ranked[confidence[ranked] >= threshold]
                keep.append((passing if len(passing) >= wanted else ranked)[:wanted])
            index = torch.cat(keep)
            self.extra["filter_pass_rate"] = float((confidence >= threshold).float().mean())
            images, labels = images[index], labels[index]
        return images, labels
