"""``feature_fusion``: a classifier whose head also reads a generator's features (the cGAN
discriminator's, or the cVAE encoder's means under every label): fully-connected feature fusion.
"""

from __future__ import annotations

import torch
from torch import nn

from genclf.config_rules import one_of
from genclf.data.splits import Split
from genclf.models.classifiers import Classifier
from genclf.pipelines.classify import train_classifier
from genclf.roles import GENERATIVE
from genclf.strategies.base import Context, register_strategy
from genclf.strategies.classifier import ClassifierStrategy
from genclf.training.fit import Fit


class FusionClassifier(Classifier):
    """Classifier features concatenated with frozen generator-side features, fused by FC layers."""

    def __init__(
        self,
        base: Classifier,
        side: nn.Module,
        side_dim: int,
        mean: list[float],
        std: list[float],
        hidden: int = 128,
        dropout: float = 0.2,
    ):
        super().__init__(base.in_channels, base.num_classes, base.image_size, dropout)
        self.base, self.side = base, side.requires_grad_(False)
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        self.side_norm = nn.LayerNorm(side_dim)
        self.feature_dim = hidden
        self.fuse = nn.Sequential(nn.Linear(base.feature_dim + side_dim, hidden), nn.ReLU(), nn.Dropout(dropout))
        self.build_head()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            self.side.eval()
            generator_input = ((x * self.std + self.mean) * 2 - 1).float()  # classifier space -> [-1, 1]
            side = self.side(generator_input).float()
        return self.fuse(torch.cat([self.base.features(x).float(), self.side_norm(side)], dim=1))


class DiscriminatorFeatures(nn.Module):
    def __init__(self, discriminator: nn.Module):
        super().__init__()
        self.discriminator = discriminator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.discriminator.features(x)


class VAEEncoderMeans(nn.Module):
    """The cVAE encoder needs a label; without one at test time, encode under every label and concatenate."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        labels = [torch.full((len(x),), c, dtype=torch.long, device=x.device) for c in range(self.vae.num_classes)]
        return torch.cat([self.vae.encode(x, y)[0] for y in labels], dim=1)


@register_strategy("feature_fusion", GENERATIVE)
class FeatureFusion(ClassifierStrategy):
    """``source``: 'cgan' (discriminator features) or 'cvae' (encoder means under every label)."""

    draws_generators = True
    defaults = {"dropout": 0.2, "source": "cgan", "hidden": 128, "generator_options": {}}

    @classmethod
    def for_entry(cls, entry):
        """On a pretrained backbone: the head reads them beside a generator's features of them on its frozen embeddings (``embedding_fusion``)."""
        from genclf.models.backbones import BACKBONES

        if entry.classifier not in BACKBONES:
            return cls
        from genclf.strategies.embedding_fusion import EmbeddingFeatureFusion

        return EmbeddingFeatureFusion

    def validate_params(self) -> None:
        self.check_param("source", one_of("cgan", "cvae"))

    def fit(self, split: Split, context: Context) -> None:
        source = self.params["source"]
        generator = context.generator(source, split, self.params["generator_options"]).model
        if source == "cgan":
            side, side_dim = DiscriminatorFeatures(generator.discriminator), generator.discriminator.feature_dim
        else:
            side, side_dim = VAEEncoderMeans(generator), generator.latent_dim * generator.num_classes
        base = self.new_classifier(split, context.seed)
        model = FusionClassifier(
            base,
            side,
            side_dim,
            split.normalization.mean,
            split.normalization.std,
            self.params["hidden"],
            self.params["dropout"],
        )
        self.classifier, result = train_classifier(
            split, self.config.classifier, Fit(context.train, context.seed, quiet=context.quiet), model=model
        )
        self.extra.update(best_epoch=result.best_epoch, generator=source)
