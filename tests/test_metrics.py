"""Metrics on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from genclf.evaluation.metrics import compute_metrics


def test_perfect_predictions():
    labels = np.array([0, 1, 2, 2])
    proba = np.eye(3)[labels]
    m = compute_metrics(labels, proba, ["a", "b", "c"])
    assert m.accuracy == m.macro_f1 == m.roc_auc_ovr == 1.0
    assert m.confusion_matrix == [[1, 0, 0], [0, 1, 0], [0, 0, 2]]
    assert m.log_loss < 1e-6


def test_known_mixed_case_matches_hand_computation():
    labels = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.3, 0.7]])
    m = compute_metrics(labels, proba, ["neg", "pos"])
    assert m.accuracy == 0.75
    # class 0: precision 1, recall 0.5, F1 2/3; class 1: precision 2/3, recall 1, F1 0.8
    assert m.per_class["neg"]["f1"] == pytest.approx(2 / 3)
    assert m.per_class["pos"]["f1"] == pytest.approx(0.8)
    assert m.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)
    assert m.roc_auc_ovr == pytest.approx(1.0)
    assert m.log_loss == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.7])))


def test_missing_class_in_labels_gives_no_auc_but_other_metrics():
    m = compute_metrics(np.array([0, 0]), np.array([[0.8, 0.2], [0.6, 0.4]]), ["a", "b"])
    assert m.roc_auc_ovr is None and m.accuracy == 1.0
    assert set(m.scalars()) >= {"accuracy", "macro_f1", "macro_precision", "macro_recall", "log_loss"}


def test_fast_validation_macro_f1_equals_scikit_learn():
    import torch
    from sklearn.metrics import f1_score

    from genclf.pipelines.classify import macro_f1

    rng = np.random.default_rng(3)
    labels, predicted = rng.integers(0, 5, 300), rng.integers(0, 5, 300)
    predicted[predicted == 4] = 3  # a class never predicted: zero_division path
    expected = f1_score(labels, predicted, average="macro", labels=range(5), zero_division=0)
    assert macro_f1(torch.from_numpy(labels), predicted, 5) == pytest.approx(expected)
