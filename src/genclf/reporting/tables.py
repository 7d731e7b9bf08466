"""Results tables: mean and standard deviation per strategy over seeds."""

from __future__ import annotations

import pandas as pd

from genclf.config import RunConfig, to_dict

SUMMARY_METRICS = (
    "accuracy",
    "macro_f1",
    "macro_precision",
    "macro_recall",
    "weighted_f1",
    "roc_auc_ovr",
    "log_loss",
    "train_seconds",
)


def summarize(results: pd.DataFrame, config: RunConfig) -> dict:
    """``{"strategies": {name: {metric: {mean, std, n}}}, "config": ...}`` from one row per run."""
    strategies: dict[str, dict] = {}
    for name, group in results.groupby("strategy", sort=False):
        entry = {}
        for metric in SUMMARY_METRICS:
            if metric in group and group[metric].notna().any():
                values = group[metric].dropna().astype(float)
                entry[metric] = {
                    "mean": float(values.mean()),
                    "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
                    "n": int(len(values)),
                }
        strategies[str(name)] = entry
    return {"strategies": strategies, "seeds": list(config.seeds), "config": to_dict(config)}


def format_table(summary: dict, metrics: tuple[str, ...] = ("accuracy", "macro_f1", "train_seconds")) -> str:
    """Plain-text table of mean ± std, for the terminal."""
    names = list(summary["strategies"])
    width = max([len("strategy"), *map(len, names)])
    lines = ["strategy".ljust(width) + "".join(f"  {m:>18}" for m in metrics)]
    for name in names:
        cells = []
        for metric in metrics:
            stat = summary["strategies"][name].get(metric)
            cells.append(f"  {stat['mean']:>9.4f} ± {stat['std']:<6.4f}" if stat else f"  {'-':>18}")
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
