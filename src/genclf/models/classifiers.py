"""Classifiers: ``cnn``, ``crnn`` (conv features read as a sequence by a GRU) and ``resnet18``.

Each exposes ``features(x) -> (B, D)``, ``forward(x) -> logits`` and ``training_step(batch)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genclf.models.layers import conv_body
from genclf.models.output import StepOutput
from genclf.registry import Registry

CLASSIFIERS: Registry[type[Classifier]] = Registry("classifier")


class Classifier(nn.Module):
    """Base class: a feature extractor, a linear head, and cross-entropy as its own loss."""

    feature_dim: int

    def __init__(self, in_channels: int, num_classes: int, image_size: int, dropout: float = 0.2):
        super().__init__()
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, image_size
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("class_weights", torch.ones(num_classes), persistent=False)

    def build_head(self) -> None:
        self.head = nn.Linear(self.feature_dim, self.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.features(x)))

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        images, labels = batch
        logits = self(images)
        loss = F.cross_entropy(logits.float(), labels, weight=self.class_weights)
        accuracy = (logits.argmax(1) == labels).float().mean()
        return StepOutput(loss, {"loss": loss.item(), "acc": accuracy.item()})


@CLASSIFIERS.register("cnn")
class CNN(Classifier):
    """Small conv net for 8x8 to 64x64 inputs: (conv-BN-ReLU x2, max-pool) stages, global average pool."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        dropout: float = 0.2,
        width: int = 32,
    ):
        super().__init__(in_channels, num_classes, image_size, dropout)
        self.body, channels = conv_body(in_channels, image_size, width)
        self.feature_dim = channels
        self.build_head()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


@CLASSIFIERS.register("crnn")
class CRNN(Classifier):
    """Conv feature map read column by column, left to right, by a bidirectional GRU."""

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        dropout: float = 0.2,
        width: int = 32,
        hidden: int = 128,
    ):
        super().__init__(in_channels, num_classes, image_size, dropout)
        # The last stage pools height only, so the GRU reads more columns.
        self.body, channels = conv_body(in_channels, image_size, width, last_pool=(2, 1))
        self.rnn = nn.GRU(channels, hidden, batch_first=True, bidirectional=True)
        self.feature_dim = 2 * hidden
        self.build_head()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        fmap = self.body(x)  # (B, C, H', W')
        sequence = fmap.mean(dim=2).transpose(1, 2)  # (B, W', C): one step per column
        with torch.autocast(device_type=x.device.type, enabled=False):
            _, last = self.rnn(sequence.float())  # last: (2, B, hidden), forward and backward
        return torch.cat([last[0], last[1]], dim=1)


@CLASSIFIERS.register("resnet18")
class ResNet18(Classifier):
    """torchvision's ResNet-18, random init, with a 3x3 stride-1 stem and no max-pool for small inputs."""

    def __init__(self, in_channels: int, num_classes: int, image_size: int, dropout: float = 0.0):
        super().__init__(in_channels, num_classes, image_size, dropout)
        import torchvision  # imported here: it adds ~1 s to every genclf start-up

        net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.body = net
        self.feature_dim = 512
        self.build_head()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def build_classifier(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> Classifier:
    """Create a registered classifier by name."""
    return CLASSIFIERS.get(name, "model")(in_channels, num_classes, image_size, **options)
