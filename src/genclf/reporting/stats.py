"""Paired comparisons over seeds: paired t-test (with exact handling of zero-spread differences), Holm
correction across the strategies of one family, Wilcoxon signed-rank where it can reach significance,
and the paired t confidence interval of the mean difference (the t-test's own interval: it excludes 0
exactly when the unadjusted p is below 0.05)."""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

EQUAL_TOLERANCE = 1e-9  # metric differences (in [0, 1] units) below this are floating-point noise, not differences
WILCOXON_MIN_SEEDS = 6  # the exact two-sided signed-rank p is at least 2 / 2**n: 0.0625 at n = 5, 0.031 at n = 6
ALPHA = 0.05

UNTESTED, IDENTICAL, CONSTANT, TESTED = "untested", "identical", "constant", "tested"


@dataclass
class Comparison:
    """One strategy against one reference on one metric, over the seeds both ran.

    ``kind``: ``untested`` (one seed), ``identical`` (equal on every seed within EQUAL_TOLERANCE),
    ``constant`` (the same non-zero difference on every seed: zero spread, where the paired t-test's p
    tends to 0 as the spread does), or ``tested``. ``p_holm`` is ``p_ttest`` after Holm's correction
    across the family of strategies compared with the same reference; verdicts read ``p``.
    """

    strategy: str
    reference: str
    metric: str
    n: int
    mean_diff: float
    std_diff: float
    ci_low: float | None  # the 95% paired t-interval of the mean difference (None with one seed)
    ci_high: float | None
    p_ttest: float | None
    p_wilcoxon: float | None
    kind: str = TESTED
    p_holm: float | None = None
    inconclusive: str | None = None  # why no verdict can be given (a generator it relies on failed its check)

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict_word()}

    @property
    def p(self) -> float | None:
        return self.p_holm if self.p_holm is not None else self.p_ttest

    def significant(self, alpha: float = ALPHA) -> bool:
        return self.inconclusive is None and self.kind in (TESTED, CONSTANT) and self.p is not None and self.p < alpha

    def verdict_word(self, alpha: float = ALPHA) -> str:
        if self.inconclusive is not None:
            return f"inconclusive: {self.inconclusive}"
        if self.kind == UNTESTED:
            return "untested (one seed)"
        if self.kind == IDENTICAL:
            return "identical on every seed (changed nothing)"
        if self.significant(alpha):
            return f"significant {'gain' if self.mean_diff > 0 else 'loss'}"
        return "no significant difference"

    def verdict(self, alpha: float = ALPHA) -> str:
        """One plain-language line, in percentage points."""
        if self.inconclusive is not None:
            return f"inconclusive: {self.inconclusive}"
        if self.kind == IDENTICAL:
            return f"identical to {self.reference} on every seed: the strategy changed nothing on this data"
        diff = f"{100 * self.mean_diff:+.1f} ± {100 * self.std_diff:.1f}"
        if self.kind == UNTESTED:
            return f"untested: {diff} {self.metric} points vs {self.reference} on one seed; run more seeds to test it"
        if self.kind == CONSTANT:
            test = "the same difference on every seed: zero spread, paired t-test p -> 0"
        else:
            test = f"paired t-test p = {self.p_ttest:.3g}"
        if self.p_holm is not None:
            test += f", Holm-adjusted p = {self.p_holm:.3g}"
        detail = (
            f"{diff} {self.metric} points vs {self.reference} ({test}, unadjusted 95% t-interval "
            f"[{100 * (self.ci_low or 0.0):+.1f}, {100 * (self.ci_high or 0.0):+.1f}], {self.n} seeds)"
        )
        return f"{self.verdict_word(alpha)}: {detail}"


def paired_comparison(
    values: dict[int, float], reference: dict[int, float], strategy: str, reference_name: str, metric: str
) -> Comparison | None:
    """Compare two strategies on the seeds both ran (pairs share the labeled subset of their seed)."""
    seeds = sorted(set(values) & set(reference))
    if not seeds:
        return None
    diffs = np.array([values[s] - reference[s] for s in seeds], dtype=float)
    n = len(diffs)
    if np.all(np.abs(diffs) <= EQUAL_TOLERANCE):
        diffs = np.zeros_like(diffs)
    elif np.ptp(diffs) <= EQUAL_TOLERANCE:
        diffs = np.full_like(diffs, diffs.mean())
    p_t = p_w = None
    if n < 2:
        kind = UNTESTED
    elif not diffs.any():
        kind, p_t = IDENTICAL, 1.0
    elif np.ptp(diffs) == 0:
        kind, p_t = CONSTANT, 0.0  # the limit of the paired t-test's p as the spread of the differences -> 0
    else:
        kind = TESTED
        p_t = float(stats.ttest_rel([values[s] for s in seeds], [reference[s] for s in seeds]).pvalue)
    if n >= WILCOXON_MIN_SEEDS and kind in (TESTED, CONSTANT):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            p_w = float(stats.wilcoxon(diffs).pvalue)
    mean, half = float(diffs.mean()), t_interval(diffs)
    low, high = (mean - half, mean + half) if n > 1 else (None, None)
    std = float(diffs.std(ddof=1)) if n > 1 else 0.0
    if p_t is not None and math.isnan(p_t):
        p_t = None
    return Comparison(strategy, reference_name, metric, n, mean, std, low, high, p_t, p_w, kind)


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (None stays None and is not counted)."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m, adjusted, running = len(tested), list(pvalues), 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted


def apply_holm(comparisons: list[Comparison]) -> None:
    """Set ``p_holm`` on each comparison, the family being every comparison with the same reference."""
    for reference in {c.reference for c in comparisons}:
        family = [c for c in comparisons if c.reference == reference and c.kind in (TESTED, CONSTANT)]
        for comparison, adjusted in zip(family, holm([c.p_ttest for c in family])):
            comparison.p_holm = adjusted


def t_interval(values: np.ndarray, confidence: float = 0.95) -> float:
    """Half-width of the t confidence interval of the mean."""
    if len(values) < 2:
        return 0.0
    return float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values)))
