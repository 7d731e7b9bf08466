"""Named augmentation presets built on torchvision v2 transforms, applied per image on normalised batches."""

from __future__ import annotations

import torch
from torchvision.transforms import v2

from genclf.errors import ConfigError

PRESETS = ("shapes", "natural")


def augmentation_preset(name: str, image_size: int) -> v2.Compose:
    """``shapes``: digits, characters, objects whose class changes under flips (affine + erasing).
    ``natural``: photos (padded random crop + horizontal flip + small affine + erasing)."""
    if name == "shapes":
        return v2.Compose(
            [
                v2.RandomAffine(degrees=12, translate=(0.1, 0.1), scale=(0.9, 1.1)),
                v2.RandomErasing(p=0.25, scale=(0.02, 0.12), value=0),
            ]
        )
    if name == "natural":
        return v2.Compose(
            [
                v2.RandomCrop(image_size, padding=max(1, image_size // 8), padding_mode="reflect"),
                v2.RandomHorizontalFlip(),
                v2.RandomAffine(degrees=8, scale=(0.95, 1.05)),
                v2.RandomErasing(p=0.25, scale=(0.02, 0.12), value=0),
            ]
        )
    raise ConfigError("params.preset", f"unknown augmentation preset {name!r}; expected one of: {', '.join(PRESETS)}")


def batch_augmenter(name: str, image_size: int):
    """An ``augment(x, generator)`` callable for the Trainer: a fresh random draw for every image."""
    transform = augmentation_preset(name, image_size)

    def augment(batch: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        # v2 transforms draw from the global RNG, which the Trainer seeds and checkpoints.
        return torch.stack([transform(image) for image in batch]).contiguous(memory_format=torch.preserve_format)

    return augment
