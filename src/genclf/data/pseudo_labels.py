"""Confident, class-balanced pseudo-labels for an unlabeled pool, from a classifier's probabilities."""

from __future__ import annotations

import numpy as np


def confident_pseudo_labels(proba: np.ndarray, threshold: float) -> np.ndarray:
    """Indices of the pool images whose top class probability reaches ``threshold``, class-balanced: no
    class keeps more than the median number of confident picks per class (the most confident first)."""
    labels, confidence = proba.argmax(1), proba.max(1)
    per_class = [np.flatnonzero((labels == c) & (confidence >= threshold)) for c in range(proba.shape[1])]
    counts = [len(p) for p in per_class]
    cap = max(int(np.median(counts)), 1) if counts else 0
    kept = [p[np.argsort(-confidence[p], kind="stable")[:cap]] for p in per_class if len(p)]
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=np.int64)


def pseudo_label_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """The share of pseudo-labels that match the pool's hidden labels (NaN when none were chosen or some
    hidden labels are unknown, -1): measured for the report only, never used by training."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if not len(predicted) or bool((truth < 0).any()):
        return float("nan")
    return float((predicted == truth).mean())
