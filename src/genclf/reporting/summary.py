"""From results.csv's rows to summary.json: mean/std/CI per strategy and budget, paired comparisons
against baseline and the best classical strategy, the one-sentence headlines, and mCE."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from genclf.config import RunConfig, to_dict
from genclf.evaluation.robustness import corruption_error
from genclf.reporting.stats import CLASSICAL, REFERENCES, paired_comparison, t_interval

METRICS = (
    "accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "weighted_f1",
    "acsa",
    "gmean",
    "roc_auc_ovr",
    "log_loss",
    "ece",
    "ece_scaled",
    "corruption_accuracy",
    "mce",
    "recovered_share",
    "psnr",
    "ssim",
    "psnr_grey_baseline",
    "ssim_grey_baseline",
    "train_seconds",
)
ATTACK_PREFIXES = ("fgsm_acc@", "pgd_acc@")


def metric_columns(results: pd.DataFrame) -> list[str]:
    """The summarised columns present in ``results``: METRICS, then the adversarial ones."""
    attacks = [c for c in results.columns if c.startswith(ATTACK_PREFIXES)]
    return [m for m in METRICS if m in results.columns] + attacks


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(name)).strip("_")


def budget_key(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def budget_of(k_per_class) -> str:
    """The budget key of a results.csv ``k_per_class`` cell (empty/NaN = all labeled images)."""
    return budget_key(None if pd.isna(k_per_class) else int(k_per_class))


def _per_seed(group: pd.DataFrame, metric: str) -> dict[int, float]:
    return {int(s): float(v) for s, v in zip(group["seed"], group[metric]) if not pd.isna(v)}


def summarize(results: pd.DataFrame, config: RunConfig) -> dict:
    """Mean/std/CI per strategy and budget, and paired comparisons against baseline and the best classical strategy."""
    metric = config.primary_metric
    detail: dict[str, dict] = {}
    results = results.assign(budget=[budget_of(k) for k in results["k_per_class"]])
    for budget, block in results.groupby("budget", sort=False):
        strategies: dict[str, dict] = {}
        for name, group in block.groupby("strategy", sort=False):
            entry = {}
            for m in metric_columns(results):
                if m in group and group[m].notna().any():
                    values = group[m].dropna().to_numpy(float)
                    entry[m] = {
                        "mean": float(values.mean()),
                        "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                        "ci95": t_interval(values),
                        "n": len(values),
                    }
            strategies[str(name)] = entry
        methods = dict(zip(block["strategy"], block["method"]))
        baseline = next((n for n in strategies if methods[n] == "baseline"), None)
        detail[budget] = {
            "strategies": strategies,
            "baseline": baseline,
            **_compare(block, strategies, methods, metric),
        }
        if any("corruption_accuracy" in e for e in strategies.values()):
            robust = _compare(block, strategies, methods, "corruption_accuracy")
            robust["headline"] = "Robustness: " + robust["headline"]
            detail[budget]["robustness"] = robust
    return {
        "primary_metric": metric,
        "seeds": list(config.seeds),
        "budgets": [budget_key(k) for k in config.data.budgets()],
        "budgets_detail": detail,
        "config": to_dict(config),
        "generator_note": "Generators are trained on the labeled images of each (budget, seed) only, once, and shared by the strategies of that cell.",
    }


def _compare(block: pd.DataFrame, strategies: dict, methods: dict[str, str], metric: str) -> dict:
    """Paired comparisons of every strategy with 'baseline' and with the best classical strategy on ``metric``."""
    classical = [n for n in strategies if methods[n] in CLASSICAL and metric in strategies[n]]
    baseline = next((n for n in strategies if methods[n] == "baseline"), None)
    if baseline is None:  # a grey-camera grid: the colour classifier fed grey frames is the do-nothing option
        baseline = next((n for n in strategies if methods[n] == "grey_input"), None)
    best_classical = max(classical, key=lambda n: strategies[n][metric]["mean"]) if classical else None
    comparisons, verdicts = [], {}
    for name, group in block.groupby("strategy", sort=False):
        if methods.get(name) in REFERENCES:  # an upper bound shown for context, not a candidate
            verdicts[str(name)] = ["reference (upper bound), not compared"]
            continue
        lines = []
        for reference in dict.fromkeys([baseline, best_classical]):
            if reference is None or reference == name:
                continue
            ref_group = block[block["strategy"] == reference]
            cmp = paired_comparison(
                _per_seed(group, metric), _per_seed(ref_group, metric), str(name), str(reference), metric
            )
            if cmp is None:
                continue
            comparisons.append(cmp.to_dict())
            if methods.get(name) != "baseline" and cmp.mean_diff == 0 and cmp.std_diff == 0:
                lines.append(f"identical to {reference} on every seed: the strategy changed nothing on this data")
            else:
                lines.append(cmp.verdict())
        verdicts[str(name)] = lines or ["reference strategy"]
    return {
        "best_classical": best_classical,
        "comparisons": comparisons,
        "verdicts": verdicts,
        "headline": headline(comparisons, methods, best_classical, metric),
    }


def add_mce(results: pd.DataFrame, out: Path) -> pd.DataFrame:
    """Add ``mce``: each row's corruption error relative to 'baseline' of the same budget and seed
    (Hendrycks & Dietterich 2019), from the per-severity accuracies kept in cells/*.json."""
    if "corruption_accuracy" not in results.columns or not (results["method"] == "baseline").any():
        return results
    tables = {}
    for path in (out / "cells").glob("*.json"):
        cell = json.loads(path.read_text())
        if cell.get("corruptions"):
            tables[(cell["strategy"], budget_key(cell["k_per_class"]), int(cell["seed"]))] = cell["corruptions"][
                "accuracy"
            ]
    baseline = results.loc[results["method"] == "baseline", "strategy"].iloc[0]
    mce = []
    for _, row in results.iterrows():
        budget = budget_of(row["k_per_class"])
        ours, ref = (
            tables.get((row["strategy"], budget, int(row["seed"]))),
            tables.get((baseline, budget, int(row["seed"]))),
        )
        mce.append(corruption_error(ours, ref)["mce"] if ours and ref else np.nan)
    return results.assign(mce=mce)


def headline(comparisons: list[dict], methods: dict[str, str], best_classical: str | None, metric: str) -> str:
    """The answer to "does generation help here?" for one budget, in one sentence."""
    if best_classical is None:
        return "No classical strategy in the grid: add 'baseline' to compare against."
    against = [
        c
        for c in comparisons
        if c["reference"] == best_classical and methods.get(c["strategy"]) not in CLASSICAL + REFERENCES
    ]
    if not against:
        return f"No generative strategy in the grid; the best classical strategy is {best_classical}."
    best = max(against, key=lambda c: c["mean_diff"])
    p = "n/a" if best["p_ttest"] is None else f"{best['p_ttest']:.3g}"
    gains = [c for c in against if c["p_ttest"] is not None and c["p_ttest"] < 0.05 and c["mean_diff"] > 0]
    if best["n"] < 2:
        return (
            f"Untested: one seed cannot show significance; the best generative strategy, {best['strategy']}, is at "
            f"{100 * best['mean_diff']:+.1f} {metric} points against the best classical strategy ({best_classical}). "
            "Run more seeds for a verdict."
        )
    if gains:
        names = ", ".join(c["strategy"] for c in gains)
        return f"Yes: {names} significantly beat{'s' if len(gains) == 1 else ''} the best classical strategy ({best_classical}); the largest gain is {best['strategy']} at {100 * best['mean_diff']:+.1f} {metric} points (p = {p})."
    return (
        f"No: no generative strategy is significantly better than the best classical strategy ({best_classical}) "
        f"over {best['n']} seeds; the closest is {best['strategy']} at {100 * best['mean_diff']:+.1f} {metric} points (p = {p})."
    )
