"""``unet_pretrained``: a colorizer whose U-Net encoder is an ImageNet-pretrained EfficientNet-Lite, frozen.

Practical colorizers start from a network that already knows what is in the picture (sky, grass, skin, a
fire truck): the colour of an object follows from recognising it, which a U-Net learning from scratch on a
few epochs of small photos cannot do. Here the grey image (its Lab lightness, as grey RGB, in the weights'
own normalisation, resized to ``resolution``) runs through the pretrained EfficientNet-Lite body; its feature
maps (strides 2 to 32, from the first not finer than the image) feed a light decoder (upsample, concatenate the next shallower map, 3x3
convolution), whose output is resized back to the image and refined together with the full-resolution
lightness into the two chroma channels, like every genclf colorizer (see ``genclf.models.pix2pix``).

The encoder stays frozen (its weights and batch statistics) and is not trained: only the decoder learns,
so an epoch costs one encoder forward per image. Its weights come from the installed weight package when
the colorizer is trained (``load_pretrained``); a saved colorizer carries them and never needs the package.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genclf.errors import ConfigError
from genclf.models.backbones import BACKBONES, build_body, load_imagenet_weights, weights_input
from genclf.models.pix2pix import COLORIZERS, Colorizer, lab_to_rgb


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class PretrainedUNet(nn.Module):
    """Lightness (N, 1, H, W) in [0, 100] -> ab (N, 2, H, W) in [-1, 1], through a frozen pretrained encoder."""

    def __init__(self, image_size: int, width: int, backbone: str, resolution: int):
        super().__init__()
        spec = BACKBONES[backbone]
        self.backbone, self.resolution = backbone, resolution
        self.body = build_body(backbone)
        self.body.requires_grad_(False)
        # the stages ending at strides 2..32 (timm's feature_info), from the first whose map is not larger
        # than the image: finer maps of an upscaled image hold nothing the lightness itself does not
        info = [f for f in self.body.feature_info if f["reduction"] * image_size >= resolution] or [
            self.body.feature_info[-1]
        ]
        self.taps = tuple(int(f["module"].split(".")[1]) for f in info)
        channels = [f["num_chs"] for f in info]
        self.register_buffer("weights_mean", torch.tensor(spec.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("weights_std", torch.tensor(spec.std).view(1, 3, 1, 1), persistent=False)
        widths = [min(width * 2**i, width * 4) for i in range(len(channels))]
        self.lateral = nn.Conv2d(channels[-1], widths[-1], 1)
        self.ups = nn.ModuleList(
            [_conv(widths[i + 1] + channels[i], widths[i]) for i in reversed(range(len(channels) - 1))]
        )
        self.full = _conv(1, width)
        self.out = nn.Sequential(_conv(widths[0] + width, width), nn.Conv2d(width, 2, 3, padding=1), nn.Tanh())

    def train(self, mode: bool = True) -> PretrainedUNet:
        super().train(mode)
        self.body.eval()  # frozen: its batch statistics stay ImageNet's
        return self

    def encoder_input(self, lightness: torch.Tensor) -> torch.Tensor:
        """Lab lightness -> grey sRGB in the pretrained weights' normalisation, at ``resolution`` px."""
        lab = torch.cat([lightness, torch.zeros_like(lightness).expand(-1, 2, -1, -1)], dim=1)
        grey = lab_to_rgb(lab).mean(dim=1, keepdim=True)
        return weights_input(grey, self.weights_mean, self.weights_std, self.resolution)

    @torch.no_grad()
    def encode(self, lightness: torch.Tensor) -> list[torch.Tensor]:
        x = self.body.bn1(self.body.conv_stem(self.encoder_input(lightness)))
        features = []
        for i, block in enumerate(self.body.blocks[: self.taps[-1] + 1]):
            x = block(x)
            if i in self.taps:
                features.append(x)
        return features

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        features = self.encode(lightness)
        h = self.lateral(features[-1])
        for up, skip in zip(self.ups, reversed(features[:-1])):
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = up(torch.cat([h, skip], dim=1))
        h = F.interpolate(h, size=lightness.shape[-2:], mode="bilinear", align_corners=False)
        return self.out(torch.cat([h, self.full(lightness / 50.0 - 1.0)], dim=1))


@COLORIZERS.register("unet_pretrained")
class PretrainedColorizer(Colorizer):
    """A U-Net colorizer with a frozen ImageNet EfficientNet-Lite encoder, trained with the L1 loss on ab
    (and the task-aware KL term when ``task_weight`` > 0). ``resolution``: the encoder's input size (default
    4 x the image size, within 64..224 px)."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        image_size: int = 32,
        width: int = 32,
        task_weight: float = 0.0,
        backbone: str = "efficientnet_lite0",
        resolution: int | None = None,
    ):
        if backbone not in BACKBONES:
            raise ConfigError("colorizer_options.backbone", f"expected one of {', '.join(BACKBONES)}, got {backbone!r}")
        resolution = int(resolution) if resolution is not None else min(224, max(64, 4 * image_size))
        if not 32 <= resolution <= 512:
            raise ConfigError("colorizer_options.resolution", f"expected 32..512 pixels, got {resolution}")
        super().__init__(in_channels, num_classes, image_size, width, task_weight)
        self.generator = PretrainedUNet(image_size, width, backbone, resolution)

    def load_pretrained(self) -> dict[str, int]:
        """Load the encoder's ImageNet weights from the installed weight package."""
        return {"loaded": load_imagenet_weights(self.generator.body, self.generator.backbone), "skipped": 0}

    def param_groups(self, lr: float) -> list[dict]:
        """Only the decoder learns."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]
