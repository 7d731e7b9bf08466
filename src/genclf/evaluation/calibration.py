"""Calibration: expected calibration error (top-label, equal-width bins), reliability curves,
negative log-likelihood, and temperature scaling (Guo et al. 2017) fitted on a validation split."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch


@dataclass
class Reliability:
    """Per bin: mean confidence, accuracy and count (empty bins hold NaN and 0)."""

    edges: list[float]
    confidence: list[float]
    accuracy: list[float]
    count: list[int]


def reliability(proba: np.ndarray, labels: np.ndarray, bins: int = 15) -> Reliability:
    proba, labels = np.asarray(proba, dtype=np.float64), np.asarray(labels)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=bins) / count
        mean_acc = np.bincount(which, weights=correct, minlength=bins) / count
    return Reliability(edges.tolist(), mean_conf.tolist(), mean_acc.tolist(), count.tolist())


def expected_calibration_error(proba: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Sum over bins of (bin share) x |accuracy - confidence| (Naeini et al. 2015; Guo et al. 2017)."""
    r = reliability(proba, labels, bins)
    count = np.asarray(r.count)
    gap = np.abs(np.nan_to_num(np.asarray(r.accuracy)) - np.nan_to_num(np.asarray(r.confidence)))
    return float((count * gap).sum() / max(count.sum(), 1))


def negative_log_likelihood(proba: np.ndarray, labels: np.ndarray) -> float:
    proba = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, 1.0)
    return float(-np.log(proba[np.arange(len(labels)), np.asarray(labels)]).mean())


def fit_temperature(proba: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the NLL of softmax(log p / T) on held-out data."""
    logits = torch.log(torch.as_tensor(proba, dtype=torch.float64).clamp_min(1e-12))
    target = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([log_t], lr=0.5, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), target)
        loss.backward()
        return loss

    optimizer.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def apply_temperature(proba: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(np.clip(np.asarray(proba, dtype=np.float64), 1e-12, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


@dataclass
class CalibrationReport:
    ece: float
    nll: float
    reliability: Reliability
    temperature: float | None = None
    ece_after_temperature: float | None = None
    nll_after_temperature: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def calibration_report(
    proba: np.ndarray,
    labels: np.ndarray,
    val_proba: np.ndarray | None = None,
    val_labels: np.ndarray | None = None,
    bins: int = 15,
) -> CalibrationReport:
    """ECE, NLL and the reliability curve on test data; with validation predictions also the fitted
    temperature and the test ECE/NLL after scaling."""
    report = CalibrationReport(
        expected_calibration_error(proba, labels, bins),
        negative_log_likelihood(proba, labels),
        reliability(proba, labels, bins),
    )
    if val_proba is not None and val_labels is not None and len(val_labels):
        t = fit_temperature(val_proba, val_labels)
        scaled = apply_temperature(proba, t)
        report.temperature = t
        report.ece_after_temperature = expected_calibration_error(scaled, labels, bins)
        report.nll_after_temperature = negative_log_likelihood(scaled, labels)
    return report
