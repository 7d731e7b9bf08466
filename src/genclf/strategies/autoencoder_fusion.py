"""``autoencoder_fusion``: an autoencoder pre-trained on the labeled and unlabeled images; its encoder
becomes the classifier's body (integration by an autoencoder).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genclf.config import TrainConfig
from genclf.data.splits import Split
from genclf.errors import ConfigError
from genclf.models.classifiers import CNN
from genclf.models.output import StepOutput
from genclf.pipelines.classify import train_classifier
from genclf.roles import GENERATIVE
from genclf.strategies.base import Context, register_strategy
from genclf.strategies.classifier import ClassifierStrategy
from genclf.training.fit import Fit
from genclf.training.trainer import FitPlan, Trainer


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

    @classmethod
    def for_entry(cls, entry):
        """On a pretrained backbone: the head reads them beside an autoencoder's code of them on its frozen embeddings (``embedding_fusion``)."""
        from genclf.models.backbones import BACKBONES

        if entry.classifier not in BACKBONES:
            return cls
        from genclf.strategies.embedding_fusion import EmbeddingAutoencoderFusion

        return EmbeddingAutoencoderFusion

    def validate_params(self) -> None:
        if self.config.classifier != "cnn":
            raise ConfigError(
                f"strategies[{self.config.name}].classifier",
                f"autoencoder_fusion builds on the 'cnn' body or a pretrained backbone, got {self.config.classifier!r}",
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
