"""Calibration, corruption and adversarial evaluation of one fitted model, shared by ``genclf run``
(one call per grid cell) and ``genclf evaluate --robustness``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from genclf.config import EvaluationConfig
from genclf.errors import ConfigError
from genclf.evaluation.calibration import calibration_report
from genclf.evaluation.robustness import (
    adversarial_accuracy,
    check_corruptions,
    check_eps,
    check_severities,
    corruption_accuracy,
)


def validate_evaluation(config: EvaluationConfig, where: str | None = "evaluation") -> EvaluationConfig:
    """Check names and ranges up front, so a bad config fails before any training. Errors name the
    config field (``evaluation.eps``), or the command-line flag (``--eps``) when ``where`` is None."""

    def name(field: str) -> str:
        return f"--{field.replace('_', '-')}" if where is None else f"{where}.{field}"

    config.corruptions = check_corruptions(config.corruptions, name("corruptions"))
    config.severities = check_severities(config.severities, name("severities"))
    config.eps = check_eps(config.eps, name("eps"))
    if config.max_images < 1:
        raise ConfigError(name("max_images"), f"expected a positive integer, got {config.max_images}")
    if config.pgd_steps < 1:
        raise ConfigError(name("pgd_steps"), f"expected a positive integer, got {config.pgd_steps}")
    return config


def robustness_subset(images: torch.Tensor, labels: torch.Tensor, max_images: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``max_images`` of a fixed (seed-independent) shuffle, so every strategy and seed sees the same images."""
    if len(images) <= max_images:
        return images, labels
    index = torch.randperm(len(images), generator=torch.Generator().manual_seed(12345))[:max_images]
    return images[index], labels[index]


def extended_evaluation(
    predict_proba: Callable[[torch.Tensor], np.ndarray],
    pixel_model: Callable[[torch.Tensor], torch.Tensor] | None,
    test: tuple[torch.Tensor, torch.Tensor],
    config: EvaluationConfig,
    seed: int = 0,
    val: tuple[torch.Tensor, torch.Tensor] | None = None,
    test_proba: np.ndarray | None = None,
) -> tuple[dict[str, float], dict]:
    """Returns (flat columns for a results row, full detail for JSON).

    Columns: ``ece``, ``nll``, ``temperature`` and ``ece_scaled`` (after temperature scaling fitted on ``val``);
    with ``config.robustness`` ``corruption_accuracy`` (mean over corruptions and severities); with
    ``config.adversarial`` ``fgsm_acc@eps`` and ``pgd_acc@eps`` (NaN where the model has no gradient path).
    """
    images, labels = test
    proba = predict_proba(images) if test_proba is None else test_proba
    val_proba = predict_proba(val[0]) if val is not None and len(val[0]) else None
    calibration = calibration_report(
        proba, labels.numpy(), val_proba, val[1].numpy() if val_proba is not None else None
    )
    columns: dict[str, float] = {"ece": calibration.ece, "nll": calibration.nll}
    if calibration.temperature is not None:
        columns["temperature"] = calibration.temperature
        columns["ece_scaled"] = calibration.ece_after_temperature
    detail: dict = {"calibration": calibration.to_dict()}
    if config.robustness or config.adversarial:
        sub_images, sub_labels = robustness_subset(images, labels, config.max_images)
    if config.robustness:
        corruption = corruption_accuracy(
            predict_proba, sub_images, sub_labels, config.corruptions, config.severities, seed=seed
        )
        corruption["n_images"] = len(sub_labels)
        detail["corruptions"] = corruption
        columns["corruption_accuracy"] = corruption["mean_corruption_accuracy"]
    if config.adversarial:
        if pixel_model is None:
            detail["adversarial"] = None
            for e in config.eps:
                columns[f"fgsm_acc@{e:g}"] = float("nan")
                columns[f"pgd_acc@{e:g}"] = float("nan")
        else:
            adversarial = adversarial_accuracy(
                pixel_model, sub_images, sub_labels, config.eps, config.pgd_steps, seed=seed
            )
            adversarial["n_images"] = len(sub_labels)
            detail["adversarial"] = adversarial
            for e, f, p in zip(config.eps, adversarial["fgsm_accuracy"], adversarial["pgd_accuracy"]):
                columns[f"fgsm_acc@{e:g}"] = f
                columns[f"pgd_acc@{e:g}"] = p
    return columns, detail
