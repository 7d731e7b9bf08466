"""Terminal tables of results."""

from __future__ import annotations


def format_table(strategies: dict, metrics: tuple[str, ...] = ("accuracy", "macro_f1", "train_seconds")) -> str:
    """Plain-text table of mean ± std per strategy, for the terminal."""
    names = list(strategies)
    width = max([len("strategy"), *map(len, names)])
    lines = ["strategy".ljust(width) + "".join(f"  {m:>18}" for m in metrics)]
    for name in names:
        cells = []
        for metric in metrics:
            stat = strategies[name].get(metric)
            cells.append(f"  {stat['mean']:>9.4f} ± {stat['std']:<6.4f}" if stat else f"  {'-':>18}")
        lines.append(name.ljust(width) + "".join(cells))
    return "\n".join(lines)
