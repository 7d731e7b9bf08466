"""Paired comparisons over seeds: paired t-test, Wilcoxon signed-rank, bootstrap CI of the mean difference."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats


@dataclass
class Comparison:
    strategy: str
    reference: str
    metric: str
    n: int
    mean_diff: float
    std_diff: float
    ci_low: float
    ci_high: float
    p_ttest: float | None
    p_wilcoxon: float | None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def p(self) -> float | None:
        return self.p_ttest

    def verdict(self, alpha: float = 0.05) -> str:
        """One plain-language line, in percentage points."""
        diff = f"{100 * self.mean_diff:+.1f} ± {100 * self.std_diff:.1f}"
        p = "n/a" if self.p is None else f"{self.p:.3g}"
        detail = f"{diff} {self.metric} points vs {self.reference} (paired t-test p = {p}, 95% bootstrap CI [{100 * self.ci_low:+.1f}, {100 * self.ci_high:+.1f}], {self.n} seeds)"
        if self.p is not None and self.p < alpha:
            return f"significant {'gain' if self.mean_diff > 0 else 'loss'}: {detail}"
        return f"no significant difference: {detail}"


def bootstrap_ci(
    diffs: np.ndarray, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = rng.choice(diffs, size=(resamples, len(diffs)), replace=True).mean(axis=1)
    tail = (1 - confidence) / 2
    return float(np.quantile(means, tail)), float(np.quantile(means, 1 - tail))


def paired_comparison(
    values: dict[int, float], reference: dict[int, float], strategy: str, reference_name: str, metric: str
) -> Comparison | None:
    """Compare two strategies on the seeds both ran (pairs share the labeled subset of their seed)."""
    seeds = sorted(set(values) & set(reference))
    if not seeds:
        return None
    diffs = np.array([values[s] - reference[s] for s in seeds], dtype=float)
    p_t = p_w = None
    if len(diffs) >= 2 and np.ptp(diffs) > 0:
        p_t = float(stats.ttest_rel([values[s] for s in seeds], [reference[s] for s in seeds]).pvalue)
    elif len(diffs) >= 2 and np.all(diffs == 0):
        p_t = 1.0
    if len(diffs) >= 2 and np.any(diffs != 0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_w = float(stats.wilcoxon(diffs).pvalue)
    low, high = bootstrap_ci(diffs)
    std = float(diffs.std(ddof=1)) if len(diffs) > 1 else 0.0
    return Comparison(
        strategy,
        reference_name,
        metric,
        len(diffs),
        float(diffs.mean()),
        std,
        low,
        high,
        p_t if p_t is None or not math.isnan(p_t) else None,
        p_w,
    )


def t_interval(values: np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the t confidence interval of the mean."""
    if len(values) < 2:
        return 0.0
    return float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
