"""One-call classifier pipelines: train, save, load, predict."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genclf.data.batches import iterate_batches
from genclf.data.inputs import as_images
from genclf.data.splits import Normalization, Split
from genclf.models.classifiers import Classifier, build_classifier, prepare_for
from genclf.runtime.precision import Precision, resolve_device, resolve_precision
from genclf.training.checkpoint import load_model, save_model
from genclf.training.fit import Fit
from genclf.training.trainer import Augment, FitResult

KIND = "classifier"


@dataclass
class TrainedClassifier:
    """A classifier with everything needed to use it on raw uint8 images."""

    model: Classifier
    name: str
    options: dict[str, Any]
    class_names: list[str]
    normalization: Normalization

    @property
    def image_size(self) -> int:
        return self.model.image_size

    @property
    def channels(self) -> int:
        return self.model.in_channels

    def predict_proba(
        self,
        images: Any,
        batch_size: int = 512,
        precision: Precision | None = None,
        value_range: tuple[float, float] | None = None,
    ) -> np.ndarray:
        """Class probabilities (N, K) in ``class_names`` order. ``images``: numpy or torch, uint8 0..255 (or float
        with ``value_range``), (N, H, W), (N, H, W, C) or (N, C, H, W) at the model's size and channels
        (``genclf.data.inputs.as_images``)."""
        images = as_images(images, value_range, self.channels, self.image_size, where="images")
        return predict_proba(self.model, images, self.normalization, batch_size, precision)

    def predict(self, images: Any, batch_size: int = 512, value_range: tuple[float, float] | None = None) -> list[str]:
        """The predicted class name of every image."""
        proba = self.predict_proba(images, batch_size, value_range=value_range)
        return [self.class_names[i] for i in proba.argmax(1)]

    def pixel_model(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The network in eval mode as a differentiable function of [0, 1] images (N, C, H, W) -> logits."""
        self.model.eval()
        device = next(self.model.parameters()).device
        mean = torch.tensor(self.normalization.mean, device=device).view(1, -1, 1, 1)
        std = torch.tensor(self.normalization.std, device=device).view(1, -1, 1, 1)
        return lambda x: self.model((x.to(device) - mean) / std).float()

    def meta(self, **extra: Any) -> dict[str, Any]:
        return {
            "kind": KIND,
            "model": self.name,
            "model_options": self.options,
            "in_channels": self.channels,
            "image_size": self.image_size,
            "class_names": self.class_names,
            "normalization": {"mean": self.normalization.mean, "std": self.normalization.std},
            **extra,
        }


def macro_f1(labels: torch.Tensor, predicted: np.ndarray, num_classes: int) -> float:
    """Macro-F1 from a bincount confusion matrix; the same value as scikit-learn's (zero_division=0),
    without its per-call overhead, which dominates validation of tiny models every epoch."""
    confusion = (
        torch.bincount(labels * num_classes + torch.as_tensor(predicted), minlength=num_classes**2)
        .view(num_classes, num_classes)
        .double()
    )
    tp = confusion.diag()
    denominator = confusion.sum(0) + confusion.sum(1)
    f1 = torch.where(denominator > 0, 2 * tp / denominator.clamp_min(1), torch.zeros_like(tp))
    return float(f1.mean())


@torch.inference_mode()
def predict_proba(
    model: torch.nn.Module,
    images: torch.Tensor,
    normalization: Normalization,
    batch_size: int = 512,
    precision: Precision | None = None,
) -> np.ndarray:
    """Class probabilities (N, K) for uint8 images (N, C, H, W)."""
    model.eval()
    device = next(model.parameters()).device
    precision = precision or resolve_precision("fp32", device)
    outputs = []
    for batch, _ in iterate_batches(
        images,
        None,
        batch_size,
        normalization,
        device=device,
        channels_last=precision.channels_last,
    ):
        with precision.autocast(device):
            logits = model(batch)
        outputs.append(torch.softmax(logits.float(), dim=1).cpu())
    if not outputs:
        return np.zeros((0, getattr(model, "num_classes", 0)), dtype=np.float32)
    return torch.cat(outputs).numpy()


def train_classifier(
    split: Split,
    model_name: str,
    fit: Fit,
    *,
    options: dict[str, Any] | None = None,
    augment: Augment | None = None,
    class_weights: torch.Tensor | None = None,
    train_images: torch.Tensor | None = None,
    train_labels: torch.Tensor | None = None,
    model: Classifier | None = None,
    keep_last: bool = False,
    sample_weights: torch.Tensor | None = None,
) -> tuple[TrainedClassifier, FitResult]:
    """Train a registered classifier (or the given ``model``) on ``split.train`` or on the given images,
    keeping the weights of the best validation macro-F1 epoch (the last epoch's with ``keep_last``; the
    validation score is still recorded every epoch). ``sample_weights``: one non-negative weight per training
    image, each image's loss weighted by it."""
    torch.manual_seed(fit.seed)
    options = dict(options or {})
    if model is None:
        model = build_classifier(
            model_name, split.train.channels, split.train.num_classes, split.train.image_size, **options
        )
        prepare_for(model, split.normalization, fit.quiet)
    if class_weights is not None:
        model.class_weights.copy_(class_weights)
    trainer = fit.trainer()
    val_labels = split.val.labels

    def validate(net: torch.nn.Module) -> dict[str, float]:
        proba = predict_proba(net, split.val.images, split.normalization, precision=trainer.precision)
        return {"macro_f1": macro_f1(val_labels, proba.argmax(1), split.train.num_classes)}

    images = split.train.images if train_images is None else train_images
    labels = split.train.labels if train_labels is None else train_labels
    if sample_weights is not None:  # (label, weight) pairs: the classifier's loss weighs each image
        if sample_weights.shape != labels.shape:
            raise ValueError(f"sample_weights: expected one per training image {tuple(labels.shape)}")
        labels = torch.stack([labels.float(), sample_weights.float()], 1)
    result = trainer.fit(
        model,
        images,
        labels,
        split.normalization,
        fit.plan(
            validate=validate if len(split.val) else None,
            augment=augment,
            desc=model_name,
            keep_last=keep_last,
        ),
    )
    return TrainedClassifier(model, model_name, options, list(split.class_names), split.normalization), result


def save_classifier(folder: str | Path, trained: TrainedClassifier, **extra: Any) -> Path:
    return save_model(folder, trained.model, trained.meta(**extra))


def load_classifier(folder: str | Path, device: str = "cpu") -> TrainedClassifier:
    """Rebuild a classifier from its checkpoint folder alone.

    Raises:
        CheckpointError: the folder is missing, holds another kind of model, or weights do not fit.
    """
    model, meta = load_model(folder, KIND, build_classifier)
    model.to(resolve_device(device)).eval()
    norm = Normalization(meta["normalization"]["mean"], meta["normalization"]["std"])
    return TrainedClassifier(model, meta["model"], meta["model_options"], meta["class_names"], norm)
