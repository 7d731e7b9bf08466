"""Terminal tables of results."""

from __future__ import annotations

# colorize_then_classify's own measures: the share of the colour -> grey accuracy drop its colorizer
# recovers, and the colorized images' PSNR/SSIM against the original colour (grey copied to three channels:
# the trivial baseline's)
COLORIZATION = ("recovered_share", "psnr", "ssim", "psnr_grey_baseline", "ssim_grey_baseline")


def colorization_rows(strategies: dict) -> dict:
    """The strategies that carry colorization measures (rows of colorize_then_classify)."""
    return {name: entry for name, entry in strategies.items() if "recovered_share" in entry}


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
