"""One-call generator pipelines: train, save, load, sample; with divergence safety and a collapse check."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genclf.data.images import ImageSet
from genclf.models.generative import GenerativeModel, build_generator, generator_normalization, rebuild_generator
from genclf.runtime.seeding import generator as make_generator
from genclf.training.checkpoint import load_model, save_model
from genclf.training.fit import Fit
from genclf.training.last_epoch import fit_last_epoch
from genclf.training.trainer import FitResult

KIND = "generator"


@dataclass
class TrainedGenerator:
    model: GenerativeModel
    name: str
    options: dict[str, Any]
    class_names: list[str]

    def sample(self, labels: torch.Tensor, seed: int = 0) -> torch.Tensor:
        return self.model.sample_batched(labels, make_generator(seed))

    def sample_per_class(self, per_class: int, seed: int = 0) -> ImageSet:
        labels = torch.arange(len(self.class_names)).repeat_interleave(per_class)
        return ImageSet(self.sample(labels, seed), labels, list(self.class_names))

    def meta(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": KIND,
            "model": self.name,
            "model_options": {**self.model.recorded_options(), **self.options},
            "in_channels": self.model.in_channels,
            "image_size": self.model.image_size,
            "class_names": self.class_names,
            **extra,
        }


def train_generator(
    images: ImageSet,
    model_name: str,
    fit: Fit,
    *,
    options: dict[str, Any] | None = None,
    on_epoch_end: Callable[[int, dict[str, float], TrainedGenerator], None] | None = None,
) -> tuple[TrainedGenerator, FitResult]:
    """Train a registered class-conditional generator on ``images``.

    If the loss turns NaN/inf, training restarts once from the last good epoch with half the learning
    rate (see ``Trainer``); a second divergence raises ``TrainingError``.
    """
    torch.manual_seed(fit.seed)
    options = dict(options or {})
    model = build_generator(model_name, images.channels, images.num_classes, images.image_size, **options)
    trained = TrainedGenerator(model, model_name, options, list(images.class_names))
    normalization = generator_normalization(images.channels)
    return fit_last_epoch(trained, model, model_name, images, normalization, fit, on_epoch_end)


def diversity_ratios(samples: ImageSet, real: ImageSet) -> dict[str, float]:
    """Per class: mean pairwise distance of generated images over that of real ones (up to 200 of each);
    well under 1 means the generator draws near-copies (mode collapse)."""
    ratios = {}
    for cls, name in enumerate(samples.class_names):
        fake = samples.images[samples.labels == cls].flatten(1).float()
        true = real.images[real.labels == cls].flatten(1).float()
        if len(fake) >= 2 and len(true) >= 2:
            ratios[name] = float(torch.pdist(fake[:200]).mean() / torch.pdist(true[:200]).mean().clamp_min(1e-6))
    return ratios


def diversity_warnings(samples: ImageSet, real: ImageSet, threshold: float = 0.25) -> list[str]:
    """Classes whose generated images vary far less than the real ones (a sign of mode collapse)."""
    found = [
        f"class {name!r}: generated images are {ratio:.2f}x as diverse as real ones (mode collapse?)"
        for name, ratio in diversity_ratios(samples, real).items()
        if ratio < threshold
    ]
    for message in found:
        warnings.warn(message, stacklevel=2)
    return found


def save_generator(folder: str | Path, trained: TrainedGenerator, **extra: Any) -> Path:
    return save_model(folder, trained.model, trained.meta(**extra))


def load_generator(folder: str | Path) -> TrainedGenerator:
    model, meta = load_model(folder, KIND, rebuild_generator)
    return TrainedGenerator(model, meta["model"], meta["model_options"], meta["class_names"])
