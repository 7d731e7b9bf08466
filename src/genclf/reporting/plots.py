"""Figures people would rather look at than read: confusion matrices, per-run bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genclf.files import atomic_write  # noqa: E402
from genclf.roles import BASELINE, CLASSICAL, GENERATIVE, REFERENCE  # noqa: E402


def save_figure(fig, path: str | Path) -> Path:
    path = Path(path)
    atomic_write(
        path,
        lambda tmp: fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=110, bbox_inches="tight"),
    )
    plt.close(fig)
    return path


def confusion_figure(matrix: list[list[int]], class_names: list[str], title: str, path: str | Path) -> Path:
    """Row-normalised confusion matrix with counts written in the cells."""
    counts = np.asarray(matrix)
    rates = counts / np.clip(counts.sum(axis=1, keepdims=True), 1, None)
    size = max(4.0, 0.45 * len(class_names) + 2.0)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if len(class_names) <= 20:
        for (row, col), value in np.ndenumerate(counts):
            ax.text(
                col,
                row,
                str(value),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if rates[row, col] > 0.5 else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of true class")
    return save_figure(fig, path)


ROLE_COLOURS = {BASELINE: "#9aa5b1", CLASSICAL: "#9aa5b1", GENERATIVE: "#4C78A8", REFERENCE: "#c9c28a"}


def clipped_errors(means, halfwidths, low: float = 0.0, high: float = 1.0) -> np.ndarray:
    """Asymmetric error bars (2, N) for mean ± half-width, clipped to the metric's range [low, high]."""
    means, halfwidths = np.asarray(means, dtype=float), np.nan_to_num(np.asarray(halfwidths, dtype=float))
    return np.vstack([np.minimum(halfwidths, means - low), np.minimum(halfwidths, high - means)]).clip(min=0)


def metric_bars(summary: dict[str, dict], metric: str, path: str | Path, title: str | None = None) -> Path:
    """Mean with a 95% CI (``ci`` half-width, clipped to [0, 1]) of ``metric`` per strategy
    ({name: {mean, ci, role}}), coloured by role, on an axis from 0 to 1 with the mean written on each bar."""
    names = list(summary)
    means = [summary[n]["mean"] for n in names]
    errors = clipped_errors(means, [summary[n].get("ci", 0.0) for n in names])
    fig, ax = plt.subplots(figsize=(max(4.5, 0.75 * len(names) + 1.5), 3.8))
    colors = [ROLE_COLOURS.get(summary[n].get("role", GENERATIVE), "#4C78A8") for n in names]
    hatches = ["//" if summary[n].get("inconclusive") else None for n in names]
    bars = ax.bar(range(len(names)), means, yerr=errors, capsize=4, color=colors)
    for bar, hatch in zip(bars, hatches):
        if hatch:  # inconclusive: its generator failed its check
            bar.set_hatch(hatch)
            bar.set_edgecolor(VERDICT_COLOURS["inconclusive"])
    for x, (mean, top) in enumerate(zip(means, errors[1])):
        mark = " (inconclusive)" if hatches[x] else ""
        ax.text(x, min(mean + top + 0.01, 1.02), f"{mean:.3f}{mark}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(metric)
    ax.set_ylim(0, 1.08)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_title(
        title
        or f"{metric}: mean and 95% CI over seeds (grey = classical, blue = generative, olive = upper bound, "
        "hatched = inconclusive)",
        fontsize=10,
    )
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


VERDICT_COLOURS = {"gain": "#1a7f37", "loss": "#b42318", "none": "#6b7280", "inconclusive": "#b7791f"}


def _verdict_kind(comparison: dict) -> str:
    word = comparison.get("verdict", "")
    if comparison.get("inconclusive") or word.startswith("inconclusive"):
        return "inconclusive"
    return "gain" if word == "significant gain" else "loss" if word == "significant loss" else "none"


def gain_plot(comparisons: list[dict], metric: str, path: str | Path, title: str) -> Path:
    """Each strategy's difference from its reference in ``metric`` points, with the paired t-test's 95%
    interval, coloured by verdict (significant gain/loss, none, inconclusive: hatched and labelled), on an
    axis scaled to the differences (not 0-1), a line at 0."""
    rows = sorted(comparisons, key=lambda c: c["mean_diff"])
    fig, ax = plt.subplots(figsize=(8.5, max(2.2, 0.42 * len(rows) + 1.3)))
    for y, c in enumerate(rows):
        kind, diff = _verdict_kind(c), 100 * c["mean_diff"]
        colour = VERDICT_COLOURS[kind]
        ax.barh(y, diff, color=colour, alpha=0.35, hatch="//" if kind == "inconclusive" else None, edgecolor=colour)
        if c.get("ci_low") is not None:
            ax.errorbar(diff, y, xerr=[[diff - 100 * c["ci_low"]], [100 * c["ci_high"] - diff]], fmt="o",
                        color=colour, capsize=4)  # fmt: skip
        else:
            ax.plot(diff, y, "o", color=colour, mfc="white")
        label = {"gain": "significant gain", "loss": "significant loss", "none": "no significant difference",
                 "inconclusive": "inconclusive (generator failed its check)"}[kind]  # fmt: skip
        if c.get("kind") == "untested":
            label = "untested (one seed)"
        ax.annotate(f"{diff:+.1f}  {label}", (1.0, y), xycoords=("axes fraction", "data"), xytext=(6, 0),
                    textcoords="offset points", va="center", fontsize=8, color=colour)  # fmt: skip
    ax.axvline(0, color="#222", lw=1)
    references = list(dict.fromkeys(c["reference"] for c in rows))
    if len(references) == 1:  # one reference: named once, in the title
        labels, title = [c["strategy"] for c in rows], f"{title} ({references[0]})"
    else:
        labels = [f"{c['strategy']}  vs {c['reference']}" for c in rows]
    ax.set_yticks(range(len(rows)), labels, fontsize=9)
    ax.set_xlabel(f"difference in {metric} (points), mean over seeds and 95% paired-t interval")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return save_figure(fig, path)


def budget_curves(curves: dict[str, tuple[list[int], list[float], list[float]]], metric: str, path: str | Path) -> Path:
    """``metric`` against labeled images per class, one line per strategy ({name: (budgets, means, cis)})."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, (budgets, means, cis) in curves.items():
        ax.errorbar(budgets, means, yerr=clipped_errors(means, cis), marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xlabel("labeled images per class")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"{metric} vs data budget", fontsize=10)
    return save_figure(fig, path)


def per_class_heatmap(
    values: np.ndarray, strategies: list[str], class_names: list[str], path: str | Path, title: str, label: str = "F1"
) -> Path:
    """Per-class F1 (rows: strategies, columns: classes). The colour scale spans the values shown (from the
    lowest, rounded down to 0.05, to 1), so 0.85 and 0.99 look different; the numbers are written in the cells."""
    finite = values[np.isfinite(values)]
    low = float(np.floor(finite.min() * 20) / 20) if finite.size else 0.0
    low = min(low, 0.95)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * len(class_names) + 2.5), max(2.5, 0.35 * len(strategies) + 1.2)))
    image = ax.imshow(values, cmap="viridis", vmin=low, vmax=1, aspect="auto")
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(strategies)), strategies, fontsize=8)
    if values.size <= 400:
        middle = (low + 1) / 2
        for (row, col), value in np.ndenumerate(values):
            ax.text(
                col,
                row,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=6,
                color="white" if value < middle else "black",
            )
    fig.colorbar(image, ax=ax, fraction=0.046, label=f"{label} (scale {low:.2f}–1)")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def sample_grid(
    images, labels, class_names: list[str], path: str | Path, per_class: int = 8, title: str | None = None
) -> Path:
    """One row per class, ``per_class`` images per row, class names on the left."""
    import torch

    rows = []
    for cls in range(len(class_names)):
        chosen = images[labels == cls][:per_class]
        pad = per_class - len(chosen)
        if pad > 0:
            chosen = torch.cat([chosen, torch.zeros((pad, *images.shape[1:]), dtype=images.dtype)])
        rows.append(chosen)
    gap = max(1, images.shape[-1] // 16)  # a grey frame around every image, so neighbours never merge
    grid = torch.nn.functional.pad(torch.stack(rows), (gap, gap, gap, gap), value=96)  # (K, per_class, C, H, W)
    k, n, c, h, w = grid.shape
    canvas = grid.permute(0, 3, 1, 4, 2).reshape(k * h, n * w, c).numpy()
    fig, ax = plt.subplots(figsize=(max(3.0, 0.45 * n + 1.2), max(2.0, 0.45 * k + 0.4)))
    ax.imshow(
        canvas[..., 0] if c == 1 else canvas, cmap="gray" if c == 1 else None, vmin=0, vmax=255, interpolation="nearest"
    )
    ax.set_yticks([h * (i + 0.5) for i in range(k)], class_names, fontsize=8)
    ax.set_xticks([])
    if title:
        ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def severity_curves(curves: dict[str, tuple[list[int], list[float]]], path: str | Path, title: str) -> Path:
    """Accuracy against corruption severity (0 = clean), one line per strategy ({name: (severities, accs)})."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, (severities, accuracy) in curves.items():
        ax.plot(severities, accuracy, marker="o", label=name)
    ax.set_xlabel("corruption severity (0 = clean)")
    ax.set_ylabel("accuracy")
    ax.set_xticks(sorted({s for xs, _ in curves.values() for s in xs}))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def reliability_diagrams(curves: dict, path: str | Path, title: str = "reliability") -> Path:
    """One panel per model: accuracy against confidence per bin, the diagonal is perfect calibration.
    ``curves`` maps a name to a ``Reliability`` (or its dict) and optionally its ECE: {name: (reliability, ece)}."""
    names = list(curves)
    cols = min(4, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        rel, ece = curves[name]
        rel = rel if isinstance(rel, dict) else vars(rel)
        edges = np.asarray(rel["edges"])
        centers, width = (edges[:-1] + edges[1:]) / 2, np.diff(edges)
        accuracy = np.nan_to_num(np.asarray(rel["accuracy"], dtype=float))
        ax.bar(centers, accuracy, width=width, color="#4C78A8", edgecolor="white", label="accuracy")
        confidence = np.asarray(rel["confidence"], dtype=float)
        gap = np.where(np.isnan(confidence), 0, confidence - accuracy)
        ax.bar(centers, gap, bottom=accuracy, width=width, color="#E45756", alpha=0.35, label="gap to confidence")
        ax.plot([0, 1], [0, 1], color="#333", lw=1, ls="--", label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_title(f"{name}\nECE {ece:.3f}", fontsize=8)
        ax.set_xlabel("confidence", fontsize=8)
        ax.set_ylabel("accuracy", fontsize=8)
        ax.tick_params(labelsize=7)
    axes.flat[0].legend(fontsize=6, loc="upper left", title="per confidence bin", title_fontsize=6)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)


def adversarial_curves(curves: dict[str, tuple[list[float], list[float]]], path: str | Path, title: str) -> Path:
    """Accuracy under attack against eps, one line per (strategy, attack) ({label: (eps, accs)})."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    colours: dict[str, str] = {}
    for name, (eps, accuracy) in curves.items():
        model = name.rsplit(" ", 1)[0]  # "<strategy> FGSM" and "<strategy> PGD" share a colour
        colours.setdefault(model, f"C{len(colours) % 10}")
        ax.plot(eps, accuracy, marker="o", ls="--" if name.endswith("PGD") else "-", color=colours[model], label=name)
    ax.set_xlabel("eps (L-infinity, pixel units in [0, 1])")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def image_strip(rows: list, row_labels: list[str], path: str | Path, title: str, max_images: int = 12) -> Path:
    """A mosaic with one row per image set (uint8 (N, C, H, W) tensors of equal shape), N columns."""
    n = min(max_images, len(rows[0]))
    tiles = []
    for images in rows:
        x = images[:n].numpy()
        if x.shape[1] == 1:
            x = np.repeat(x, 3, axis=1)
        tiles.append(np.concatenate(list(x.transpose(0, 2, 3, 1)), axis=1))
    mosaic = np.concatenate(tiles, axis=0)
    side = rows[0].shape[-1]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.75 * n), 0.8 * len(rows) + 0.6))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([side * (i + 0.5) for i in range(len(rows))], row_labels, fontsize=8)
    ax.set_title(title, fontsize=10)
    return save_figure(fig, path)


def colorization_strip(original, colorized, path: str | Path, title: str) -> Path:
    """Rows of grey | colorized | original, one row per image (uint8 tensors N x 3 x H x W)."""
    from genclf.models.pix2pix import to_grey_rgb

    return image_strip(
        [to_grey_rgb(original), colorized, original], ["grey input", "colorized", "original"], path, title, 24
    )
