"""Classifiers: ``cnn``, ``crnn`` (conv features read as a sequence by a GRU) and ``resnet18``.

Each exposes ``features(x) -> (B, D)``, ``forward(x) -> logits`` and ``training_step(batch)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genclf.models.layers import check_option_bounds, conv_body
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
        """Cross-entropy (class-weighted). Targets are int64 labels (N,), or float (label, weight) pairs (N, 2)
        for a per-image weighted loss (scikit-learn's ``sample_weight``)."""
        images, targets = batch
        logits = self(images)
        if targets.dtype.is_floating_point:
            labels, weights = targets[:, 0].long(), targets[:, 1] * self.class_weights[targets[:, 0].long()]
            losses = F.cross_entropy(logits.float(), labels, reduction="none")
            loss = (losses * weights).sum() / weights.sum().clamp_min(1e-12)
        else:
            labels = targets
            loss = F.cross_entropy(logits.float(), labels, weight=self.class_weights)
        accuracy = (logits.argmax(1) == labels).float().mean()
        return StepOutput(loss, {"loss": loss.detach(), "acc": accuracy.detach()})


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
    """torchvision's ResNet-18. From scratch: a 3x3 stride-1 stem and no max-pool for small inputs. With
    ``pretrained`` (torchvision's ImageNet weights from the local torch hub cache, never downloaded) or
    ``weights`` (a state dict file): torchvision's 7x7 stem, strided with its max-pool from 64 px up; grey
    inputs get the stem's RGB filters summed. ``load_pretrained()`` loads the weights (the training pipeline
    calls it; rebuilding a checkpoint does not, so a saved model never needs the cache)."""

    body_lr_scale = 0.1  # fine-tuning: the pretrained body learns at a tenth of the head's rate

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        dropout: float = 0.0,
        pretrained: bool = False,
        weights: str | None = None,
    ):
        super().__init__(in_channels, num_classes, image_size, dropout)
        import torchvision  # imported here: it adds ~1 s to every genclf start-up

        self.pretrained, self.weights = bool(pretrained), weights
        net = torchvision.models.resnet18(weights=None, num_classes=num_classes)
        if self.transfers:
            stride = 2 if image_size >= 64 else 1
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=stride, padding=3, bias=False)
            if image_size < 64:
                net.maxpool = nn.Identity()
        else:
            net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
            net.maxpool = nn.Identity()
        net.fc = nn.Identity()
        self.body = net
        self.feature_dim = 512
        self.build_head()

    @property
    def transfers(self) -> bool:
        return self.pretrained or self.weights is not None

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def load_pretrained(self) -> dict[str, int]:
        """Load the ImageNet (or ``weights``) state dict into the body; returns how many tensors were loaded."""
        from genclf.models.pretrained import load_backbone_weights

        return load_backbone_weights(self.body, self.weights, "resnet18", self.in_channels)

    def param_groups(self, lr: float) -> list[dict]:
        """With transferred weights, the body at ``body_lr_scale`` x lr; otherwise one group."""
        return body_and_head_groups(self, lr)


def body_and_head_groups(model: Classifier, lr: float) -> list[dict]:
    """Optimizer groups of a classifier with a ``body``: with transferred weights, the body at
    ``model.body_lr_scale`` x lr and everything else at lr; otherwise one group."""
    if not model.transfers:
        return [{"params": list(model.parameters())}]
    body = list(model.body.parameters())
    ids = {id(p) for p in body}
    head = [p for p in model.parameters() if id(p) not in ids]
    return [{"params": body, "lr": lr * model.body_lr_scale}, {"params": head}]


def prepare_for(model: Classifier, normalization, quiet: bool = True) -> Classifier:
    """Ready a freshly built classifier for a split: a backbone learns the inputs' ``normalization`` (a
    ``Normalization``) and one with transferred weights loads them."""
    if hasattr(model, "adapt_input"):
        model.adapt_input(normalization)
    if getattr(model, "transfers", False):
        loaded = model.load_pretrained()
        if not quiet:
            print(
                f"{type(model).__name__}: {loaded['loaded']} pretrained tensors loaded; fine-tuning the body at "
                f"{model.body_lr_scale:g} x lr",
                flush=True,
            )
    return model


def build_classifier(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> Classifier:
    """Create a registered classifier by name.

    Raises:
        ConfigError: an option the architecture does not take (e.g. ``pretrained`` for ``cnn``).
    """
    check_options(name, options)
    return CLASSIFIERS.get(name, "model")(in_channels, num_classes, image_size, **options)


def check_options(name: str, options: dict) -> None:
    """Raise ConfigError for an option classifier ``name`` does not take (before anything is written)."""
    import inspect

    from genclf.errors import ConfigError

    cls = CLASSIFIERS.get(name, "model")
    accepted = [
        p
        for p in inspect.signature(cls.__init__).parameters
        if p not in ("self", "in_channels", "num_classes", "image_size")
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        flag = {"pretrained": "--pretrained", "weights": "--weights"}.get(unknown[0], f"options.{unknown[0]}")
        raise ConfigError(flag, f"model {name!r} takes no option {unknown[0]!r} (it takes: {', '.join(accepted)})")
    check_option_bounds(options)
