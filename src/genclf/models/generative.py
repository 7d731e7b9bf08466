"""Shared pieces of the class-conditional generators (``cgan``, ``cvae``, ``ddpm``).

Generators see images scaled to [-1, 1] (``GENERATOR_NORMALIZATION``) and return uint8 images from
``sample(labels, generator)``, so their output goes wherever real images go.
"""

from __future__ import annotations

import torch
from torch import nn

from genclf.data.splits import Normalization
from genclf.registry import Registry

GENERATORS: Registry[type[GenerativeModel]] = Registry("generator")


def generator_normalization(channels: int) -> Normalization:
    """Maps uint8 [0, 255] to [-1, 1]."""
    return Normalization([0.5] * channels, [0.5] * channels)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 [0, 255]."""
    return ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def upsampling_plan(image_size: int, most: int = 3) -> tuple[int, int]:
    """(base, steps): the image is ``base * 2**steps`` pixels wide with ``base >= 3``."""
    steps = 0
    while image_size % 2 == 0 and image_size // 2 >= 3 and steps < most:
        image_size //= 2
        steps += 1
    return image_size, steps


class GenerativeModel(nn.Module):
    """Base class: a class-conditional generator trained by the one Trainer.

    ``legacy_options``: options whose default changed, each with the value that checkpoints saved before the
    change were built with. A checkpoint records these options explicitly (``recorded_options``), and a
    checkpoint that lacks one is rebuilt with its legacy value.
    """

    legacy_options: dict[str, object] = {}

    def __init__(self, in_channels: int, num_classes: int, image_size: int):
        super().__init__()
        self.in_channels, self.num_classes, self.image_size = in_channels, num_classes, image_size

    def recorded_options(self) -> dict[str, object]:
        """The current value of every option in ``legacy_options``, for the checkpoint's metadata."""
        return {name: getattr(self, name) for name in self.legacy_options}

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """uint8 images (N, C, H, W), one per requested label."""
        raise NotImplementedError

    def sample_batched(
        self, labels: torch.Tensor, generator: torch.Generator | None = None, batch_size: int = 500
    ) -> torch.Tensor:
        was_training = self.training
        self.eval()
        parts = [self.sample(labels[i : i + batch_size], generator) for i in range(0, len(labels), batch_size)]
        self.train(was_training)
        if not parts:
            return torch.zeros((0, self.in_channels, self.image_size, self.image_size), dtype=torch.uint8)
        return torch.cat(parts)


def build_generator(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> GenerativeModel:
    from genclf.models.layers import check_option_bounds

    cls = GENERATORS.get(name, "--model")
    check_option_bounds(options)
    return cls(in_channels, num_classes, image_size, **options)


def rebuild_generator(name: str, in_channels: int, num_classes: int, image_size: int, **options) -> GenerativeModel:
    """``build_generator`` for a saved checkpoint: options it does not record take their legacy value."""
    legacy = GENERATORS.get(name, "--model").legacy_options
    return build_generator(name, in_channels, num_classes, image_size, **{**legacy, **options})
