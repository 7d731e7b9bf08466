"""scikit-learn's built-in 8x8 digits: the default dataset, no download."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from genclf.data.images import ImageSet, LoadedData


def load(argument: str | None, image_size: int | None = None, channels: int | None = None) -> LoadedData:
    bunch = load_digits()
    # Pixel values are 0..16; stretch to the 0..255 range every other source uses.
    images = torch.from_numpy(bunch.images).mul(255.0 / 16.0).round().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(bunch.target).long()
    names = [str(n) for n in bunch.target_names]
    return LoadedData("digits", ImageSet(images, labels, names))
