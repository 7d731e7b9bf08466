"""Figures people would rather look at than read: confusion matrices, per-run bars."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genclf.files import atomic_write  # noqa: E402


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


def metric_bars(summary: dict[str, dict[str, float]], metric: str, path: str | Path) -> Path:
    """Mean ± std of ``metric`` per entry of ``summary`` ({name: {mean, std}})."""
    names = list(summary)
    means = [summary[n]["mean"] for n in names]
    stds = [summary[n]["std"] for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(names) + 1.5), 3.6))
    ax.bar(range(len(names)), means, yerr=stds, capsize=4, color="#4C78A8")
    ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
    ax.set_ylabel(metric)
    low = max(0.0, min(m - s for m, s in zip(means, stds)) - 0.05)
    ax.set_ylim(low, min(1.0, max(m + s for m, s in zip(means, stds)) + 0.03))
    ax.set_title(f"{metric} (mean ± std over seeds)")
    ax.grid(axis="y", alpha=0.3)
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
    grid = torch.stack(rows)  # (K, per_class, C, H, W)
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
