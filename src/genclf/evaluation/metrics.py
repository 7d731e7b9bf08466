"""Classification metrics (via scikit-learn), as a dataclass that serialises to JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from imblearn.metrics import geometric_mean_score
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
    roc_auc_score,
)


@dataclass
class ClassificationMetrics:
    accuracy: float
    macro_f1: float
    macro_precision: float
    macro_recall: float
    weighted_f1: float
    acsa: float  # average class-specific accuracy (mean per-class recall)
    gmean: float  # geometric mean of the per-class recalls
    roc_auc_ovr: float | None
    log_loss: float
    per_class: dict[str, dict[str, float]]
    confusion_matrix: list[list[int]]

    def to_dict(self) -> dict:
        return asdict(self)

    def scalars(self) -> dict[str, float]:
        """The flat numbers, for one row of a results table."""
        return {k: v for k, v in self.to_dict().items() if isinstance(v, (int, float)) or v is None}


def compute_metrics(labels: np.ndarray, proba: np.ndarray, class_names: list[str]) -> ClassificationMetrics:
    """Score predicted class probabilities ``proba`` (N, K) against integer ``labels`` (N,)."""
    labels = np.asarray(labels)
    proba = np.clip(np.asarray(proba, dtype=np.float64), 1e-12, None)
    proba /= proba.sum(axis=1, keepdims=True)
    classes = list(range(len(class_names)))
    predicted = proba.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(labels, predicted, labels=classes, zero_division=0)
    macro = precision_recall_fscore_support(labels, predicted, labels=classes, average="macro", zero_division=0)
    weighted = precision_recall_fscore_support(labels, predicted, labels=classes, average="weighted", zero_division=0)
    present = np.unique(labels)
    roc_auc = None
    if len(present) == len(classes):
        scores = proba[:, 1] if len(classes) == 2 else proba
        roc_auc = float(roc_auc_score(labels, scores, multi_class="ovr", labels=classes))
    per_class = {
        name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
        for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
    }
    return ClassificationMetrics(
        accuracy=float(accuracy_score(labels, predicted)),
        macro_f1=float(macro[2]),
        macro_precision=float(macro[0]),
        macro_recall=float(macro[1]),
        weighted_f1=float(weighted[2]),
        acsa=float(balanced_accuracy_score(labels, predicted)),
        gmean=float(geometric_mean_score(labels, predicted, labels=classes, average="multiclass")),
        roc_auc_ovr=roc_auc,
        log_loss=float(log_loss(labels, proba, labels=classes)),
        per_class=per_class,
        confusion_matrix=confusion_matrix(labels, predicted, labels=classes).tolist(),
    )
