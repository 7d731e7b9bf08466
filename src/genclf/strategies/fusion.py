"""The design's integration module: fully-connected feature fusion and autoencoder fusion."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genclf.config import TrainConfig
from genclf.data.splits import Split
from genclf.errors import ConfigError
from genclf.models.classifiers import CNN, Classifier
from genclf.models.output import StepOutput
from genclf.pipelines.classify import train_classifier
from genclf.roles import GENERATIVE
from genclf.strategies.base import Context, register_strategy
from genclf.strategies.classical import ClassifierStrategy
from genclf.training.fit import Fit
from genclf.training.trainer import FitPlan, Trainer


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

    def validate_params(self) -> None:
        if self.params["source"] not in ("cgan", "cvae"):
            raise ConfigError(
                f"strategies[{self.config.name}].params.source",
                f"expected 'cgan' or 'cvae', got {self.params['source']!r}",
            )

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


class AutoencoderClassifier(CNN):
    """A ``cnn`` whose conv body is also the encoder of an autoencoder: pre-trained on reconstruction,
    then fine-tuned on cross-entropy with reconstruction kept as an auxiliary loss."""

    def __init__(
        self, in_channels: int, num_classes: int, image_size: int, dropout: float = 0.2, recon_weight: float = 0.5
    ):
        super().__init__(in_channels, num_classes, image_size, dropout)
        layers: list[nn.Module] = []
        channels = self.feature_dim
        for _ in range(sum(isinstance(m, nn.MaxPool2d) for m in self.body)):
            layers += [
                nn.Upsample(scale_factor=2),
                nn.Conv2d(channels, max(channels // 2, 16), 3, padding=1),
                nn.BatchNorm2d(max(channels // 2, 16)),
                nn.ReLU(),
            ]
            channels = max(channels // 2, 16)
        self.decoder = nn.Sequential(*layers)
        self.to_image = nn.Conv2d(channels, in_channels, 3, padding=1)
        self.recon_weight = recon_weight
        self.pretraining = False

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        h = self.decoder(self.body(x))
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.to_image(h)

    def training_step(self, batch):
        x, labels = batch
        recon = F.mse_loss(self.reconstruct(x).float(), x.float())
        if self.pretraining:
            return StepOutput(recon, {"recon": recon.detach()})
        out = super().training_step(batch)
        loss = out.loss + self.recon_weight * recon
        return StepOutput(loss, {**out.logs, "recon": recon.detach()})


@register_strategy("autoencoder_fusion", GENERATIVE)
class AutoencoderFusion(ClassifierStrategy):
    """Autoencoder pre-trained on labeled + unlabeled images; its encoder is the classifier's body."""

    defaults = {"dropout": 0.2, "pretrain_epochs": 10, "recon_weight": 0.5}

    def validate_params(self) -> None:
        if self.config.classifier != "cnn":
            raise ConfigError(
                f"strategies[{self.config.name}].classifier",
                f"autoencoder_fusion builds on the 'cnn' body, got {self.config.classifier!r}",
            )

    def fit(self, split: Split, context: Context) -> None:
        torch.manual_seed(context.seed)
        model = AutoencoderClassifier(
            split.train.channels,
            split.train.num_classes,
            split.train.image_size,
            self.params["dropout"],
            self.params["recon_weight"],
        )
        pool = (
            split.train.images if split.unlabeled is None else torch.cat([split.train.images, split.unlabeled.images])
        )
        model.pretraining = True
        pretrain = TrainConfig(**{**vars(context.train), "epochs": self.params["pretrain_epochs"], "patience": 0})
        Trainer(pretrain, seed=context.seed, quiet=context.quiet).fit(
            model, pool, torch.zeros(len(pool), dtype=torch.long), split.normalization, FitPlan(desc="autoencoder")
        )
        model.pretraining = False
        self.classifier, result = train_classifier(
            split, "cnn", Fit(context.train, context.seed, quiet=context.quiet), model=model
        )
        self.extra.update(best_epoch=result.best_epoch, n_pretrain=len(pool))
