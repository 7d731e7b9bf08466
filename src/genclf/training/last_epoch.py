"""The shared core of the generator and colorizer pipelines: fit a model that keeps its last epoch.

(Classifiers take another path, ``classify.train_classifier``: a validation split picks the best epoch,
and augmentation, class weights and substitute training sets plug in.)
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import TypeVar

from torch import nn

from genclf.config import TrainConfig
from genclf.data.images import ImageSet
from genclf.data.splits import Normalization
from genclf.training.fit import Fit
from genclf.training.trainer import FitResult

T = TypeVar("T")


def fp32_for(model: nn.Module, config: TrainConfig, name: str) -> TrainConfig:
    """``config``, in fp32 for a model without a bf16 path (``supports_bf16 = False``): an explicit bf16
    request gets one warning saying why it is not honoured; ``auto`` quietly resolves to fp32."""
    if getattr(model, "supports_bf16", True) or config.precision in ("fp32", "32", "32-true"):
        return config
    if config.precision != "auto":
        warnings.warn(
            f"{name} trains in fp32 (it has no reduced-precision path): precision {config.precision!r} is not used",
            stacklevel=3,
        )
    return dataclasses.replace(config, precision="fp32")


def fit_last_epoch(
    trained: T,
    model: nn.Module,
    name: str,
    images: ImageSet,
    normalization: Normalization,
    fit: Fit,
    on_epoch_end: Callable[[int, dict[str, float], T], None] | None = None,
) -> tuple[T, FitResult]:
    """Train ``model`` (held by ``trained``) on ``images`` for the configured epochs, keeping the last one;
    ``on_epoch_end(epoch, record, trained)`` after each epoch (e.g. to draw samples and save)."""
    hook = (lambda epoch, record: on_epoch_end(epoch, record, trained)) if on_epoch_end else None
    fit = dataclasses.replace(fit, config=fp32_for(model, fit.config, name))
    result = fit.trainer().fit(
        model, images.images, images.labels, normalization, fit.plan(on_epoch_end=hook, desc=name, keep_last=True)
    )
    model.eval()
    return trained, result
