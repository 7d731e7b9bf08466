"""One-call colorizer pipelines: train, save, load, colorize, and score (PSNR/SSIM against the original
colour, next to the trivial baseline of grey copied to three channels)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from genclf.data.images import ImageSet
from genclf.data.splits import Normalization, Split
from genclf.errors import DataError
from genclf.models.pix2pix import Colorizer, build_colorizer, to_grey_rgb
from genclf.training.checkpoint import load_model, save_model
from genclf.training.fit import Fit
from genclf.training.last_epoch import fit_last_epoch
from genclf.training.trainer import FitResult

KIND = "colorizer"
IDENTITY = Normalization([0.0, 0.0, 0.0], [1.0, 1.0, 1.0])


@dataclass
class TrainedColorizer:
    model: Colorizer
    name: str
    options: dict[str, Any]

    @property
    def image_size(self) -> int:
        return self.model.image_size

    def colorize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 grey or colour images (N, 1|3, H, W) at the model's size -> uint8 RGB."""
        return self.model.colorize(images)

    def meta(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": KIND,
            "model": self.name,
            "model_options": self.options,
            "in_channels": 3,
            "image_size": self.image_size,
            "class_names": [],
            **extra,
        }


def colour_pool(split: Split) -> ImageSet:
    """Every colour image a colorizer may learn from: the labeled set plus the unlabeled pool (colour needs no labels)."""
    if split.unlabeled is None or not len(split.unlabeled):
        return split.train
    return ImageSet(
        torch.cat([split.train.images, split.unlabeled.images]),
        torch.cat([split.train.labels, split.unlabeled.labels]),
        split.class_names,
    )


def per_class_sample(images: ImageSet, per_class: int = 3) -> torch.Tensor:
    """Indices of the first ``per_class`` images of every class, for strips a person looks at."""
    return torch.cat([torch.nonzero(images.labels == c).flatten()[:per_class] for c in range(images.num_classes)])


def require_colour(images: ImageSet, where: str) -> None:
    if images.channels != 3:
        raise DataError(where, "a colorizer learns from colour images, this dataset is grey (1 channel)")


def train_colorizer(
    images: ImageSet,
    model_name: str,
    fit: Fit,
    *,
    options: dict[str, Any] | None = None,
    on_epoch_end: Callable[[int, dict[str, float], TrainedColorizer], None] | None = None,
    guide: Any | None = None,
) -> tuple[TrainedColorizer, FitResult]:
    """Train a registered colorizer (``pix2pix``, ``unet_l1`` or ``unet_pretrained``) on colour ``images``:
    each is made grey and the model learns to give back its colour. ``guide``: a trained colour classifier (``TrainedClassifier``)
    for task-aware training, used when the options set ``task_weight`` > 0; it stays frozen."""
    require_colour(images, "colorizer data")
    torch.manual_seed(fit.seed)
    options = dict(options or {})
    model = build_colorizer(model_name, 3, 0, images.image_size, **options)
    if hasattr(model, "load_pretrained"):  # a pretrained encoder's weights, from its installed package
        model.load_pretrained()
    trained = TrainedColorizer(model, model_name, options)
    with _guided(model, guide):
        return fit_last_epoch(trained, model, model_name, images, IDENTITY, fit, on_epoch_end)


@contextlib.contextmanager
def _guided(model: Colorizer, guide: Any | None) -> Iterator[None]:
    """While the colorizer trains: ``guide`` (a TrainedClassifier) attached and frozen, when the model has a
    task weight; afterwards detached, and its parameters trainable again."""
    if guide is None or model.task_weight <= 0:
        yield
        return
    frozen = [p for p in guide.model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    model.guide_with(guide.pixel_model())
    try:
        yield
    finally:
        model.guide_with(None)
        for p in frozen:
            p.requires_grad_(True)


def save_colorizer(folder: str | Path, trained: TrainedColorizer, **extra: Any) -> Path:
    return save_model(folder, trained.model, trained.meta(**extra))


def load_colorizer(folder: str | Path) -> TrainedColorizer:
    model, meta = load_model(folder, KIND, build_colorizer)
    return TrainedColorizer(model, meta["model"], meta["model_options"])


def psnr(original: torch.Tensor, restored: torch.Tensor) -> float:
    """Mean PSNR (dB) over images, uint8 (N, C, H, W)."""
    values = [
        peak_signal_noise_ratio(a, b, data_range=255)
        for a, b in zip(original.numpy(), restored.numpy())
        if not np.array_equal(a, b)
    ]
    if len(values) < len(original):  # identical images have infinite PSNR; count them at 100 dB
        values += [100.0] * (len(original) - len(values))
    return float(np.mean(values))


def ssim(original: torch.Tensor, restored: torch.Tensor) -> float:
    """Mean SSIM over images (Gaussian-free 7x7 windows, or the largest odd window that fits)."""
    side = original.shape[-1]
    window = min(7, side if side % 2 else side - 1)
    return float(
        np.mean(
            [
                structural_similarity(a, b, data_range=255, channel_axis=0, win_size=window)
                for a, b in zip(original.numpy(), restored.numpy())
            ]
        )
    )


def colorization_scores(original: torch.Tensor, colorized: torch.Tensor) -> dict[str, float]:
    grey = to_grey_rgb(original)
    return {
        "psnr": psnr(original, colorized),
        "ssim": ssim(original, colorized),
        "psnr_grey_baseline": psnr(original, grey),
        "ssim_grey_baseline": ssim(original, grey),
    }
