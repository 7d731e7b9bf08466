"""Evaluation: classification metrics (and, later, calibration, robustness, generator quality)."""

from genclf.evaluation.metrics import ClassificationMetrics, compute_metrics

__all__ = ["ClassificationMetrics", "compute_metrics"]
