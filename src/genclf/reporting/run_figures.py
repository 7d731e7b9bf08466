"""The figures of a run folder: metric bars, per-class heatmap, confusion matrices, budget curves,
generator grids and colorization strips, calibration and robustness plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from genclf.config import RunConfig
from genclf.data import ImageSet
from genclf.reporting import plots
from genclf.reporting.summary import budget_key, slug


def make_figures(
    results: pd.DataFrame,
    summary: dict,
    config: RunConfig,
    class_names: list[str],
    out: Path,
    test: ImageSet | None = None,
) -> list[tuple[Path, str]]:
    figures_dir, figures = out / "figures", []
    metric = summary["primary_metric"]
    for budget, block in summary["budgets_detail"].items():
        bars = {
            n: {"mean": e[metric]["mean"], "ci": e[metric]["ci95"]}
            for n, e in block["strategies"].items()
            if metric in e
        }
        figures.append(
            (
                plots.metric_bars(bars, metric, figures_dir / f"{metric}_k{budget}.png"),
                f"{metric} with 95% CI, budget {budget}",
            )
        )
        cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob(f"*_k{budget}_seed*.json"))]
        names = list(block["strategies"])
        heat = np.array(
            [
                [
                    np.mean([c["per_class"][cls]["f1"] for c in cells if c["strategy"] == n] or [np.nan])
                    for cls in class_names
                ]
                for n in names
            ]
        )
        figures.append(
            (
                plots.per_class_heatmap(
                    heat,
                    names,
                    class_names,
                    figures_dir / f"per_class_f1_k{budget}.png",
                    f"per-class F1 (mean over seeds), budget {budget}",
                ),
                f"per-class F1, budget {budget}",
            )
        )
        first_seed = [c for c in cells if c["seed"] == config.seeds[0]]
        for cell in first_seed:
            path = figures_dir / f"confusion_{slug(cell['strategy'])}_k{budget}.png"
            figures.append(
                (
                    plots.confusion_figure(
                        cell["confusion_matrix"], class_names, f"{cell['strategy']} (seed {cell['seed']})", path
                    ),
                    f"confusion: {cell['strategy']}, budget {budget}",
                )
            )
    if len(summary["budgets"]) > 1:
        curves = {}
        for name in dict.fromkeys(results["strategy"]):
            xs, ys, cis = [], [], []
            for budget, block in summary["budgets_detail"].items():
                if budget != "all" and name in block["strategies"]:
                    xs.append(int(budget))
                    ys.append(block["strategies"][name][metric]["mean"])
                    cis.append(block["strategies"][name][metric]["ci95"])
            curves[name] = (xs, ys, cis)
        figures.append(
            (
                plots.budget_curves(curves, metric, figures_dir / "budget_curves.png"),
                f"{metric} vs labeled images per class",
            )
        )
    figures.extend(_generator_grids(out, config, class_names, test))
    figures.extend(_robustness_figures(out, summary))
    return figures


def _robustness_figures(out: Path, summary: dict) -> list[tuple[Path, str]]:
    """Reliability diagrams (first seed), and with robustness measured: accuracy vs corruption severity,
    accuracy per corruption, accuracy under attack (means over seeds)."""
    figures, folder = [], out / "figures"
    first_seed = summary["seeds"][0]
    for budget, block in summary["budgets_detail"].items():
        cells = [json.loads(p.read_text()) for p in sorted((out / "cells").glob(f"*_k{budget}_seed*.json"))]
        names = [n for n in block["strategies"] if any(c["strategy"] == n for c in cells)]
        by_name = {n: [c for c in cells if c["strategy"] == n] for n in names}
        reliab = {
            n: (c["calibration"]["reliability"], c["calibration"]["ece"])
            for n in names
            for c in by_name[n]
            if c["seed"] == first_seed and c.get("calibration")
        }
        if reliab:
            path = plots.reliability_diagrams(
                reliab, folder / f"reliability_k{budget}.png", f"reliability on the test set (seed {first_seed})"
            )
            figures.append((path, f"calibration: reliability diagrams, budget {budget}"))
        robust = {n: [c["corruptions"] for c in by_name[n] if c.get("corruptions")] for n in names}
        robust = {n: v for n, v in robust.items() if v}
        if robust:
            curves, heat = {}, []
            corruptions = list(next(iter(robust.values()))[0]["accuracy"])
            for n, tables in robust.items():
                severities = [int(s) for s in tables[0]["severities"]]
                clean = float(np.mean([t["clean_accuracy"] for t in tables]))
                per_severity = [
                    float(np.mean([t["accuracy"][c][str(s)] for t in tables for c in t["accuracy"]]))
                    for s in severities
                ]
                curves[n] = ([0, *severities], [clean, *per_severity])
                heat.append(
                    [float(np.mean([np.mean(list(t["accuracy"][c].values())) for t in tables])) for c in corruptions]
                )
            figures.append(
                (
                    plots.severity_curves(
                        curves,
                        folder / f"severity_k{budget}.png",
                        "accuracy vs corruption severity (mean over corruptions and seeds)",
                    ),
                    f"robustness: accuracy vs severity, budget {budget}",
                )
            )
            figures.append(
                (
                    plots.per_class_heatmap(
                        np.array(heat),
                        list(robust),
                        corruptions,
                        folder / f"corruptions_k{budget}.png",
                        "accuracy per corruption (mean over severities and seeds)",
                        label="accuracy",
                    ),
                    f"robustness: accuracy per corruption, budget {budget}",
                )
            )
        attacks = {n: [c["adversarial"] for c in by_name[n] if c.get("adversarial")] for n in names}
        attacks = {n: v for n, v in attacks.items() if v}
        if attacks:
            curves = {}
            for n, runs in attacks.items():
                for kind in ("fgsm", "pgd"):
                    accs = np.mean([r[f"{kind}_accuracy"] for r in runs], axis=0)
                    curves[f"{n} {kind.upper()}"] = (runs[0]["eps"], accs.tolist())
            figures.append(
                (
                    plots.adversarial_curves(
                        curves, folder / f"adversarial_k{budget}.png", "accuracy under L-inf attacks (mean over seeds)"
                    ),
                    f"robustness: adversarial accuracy, budget {budget}",
                )
            )
    return figures


def _generator_grids(
    out: Path, config: RunConfig, class_names: list[str], test: ImageSet | None = None
) -> list[tuple[Path, str]]:
    """Sample grids of the generators, and grey | colorized | original strips of the colorizers (on
    ``test`` images), trained for the first seed of each budget."""
    from genclf.colorize import colorization_strip, load_colorizer, per_class_sample
    from genclf.generation import load_generator

    grids = []
    for budget in config.data.budgets():
        cell = f"k{budget_key(budget)}_seed{config.seeds[0]}"
        for folder in sorted((out / "generators" / cell).glob("*/")):
            if folder.name.startswith("colorizer_") and test is not None and (folder / "model.safetensors").is_file():
                shown = per_class_sample(test)
                path = colorization_strip(
                    test.images[shown],
                    load_colorizer(folder).colorize(test.images[shown]),
                    out / "figures" / f"colorized_{folder.name}_{cell}.png",
                    f"{folder.name.removeprefix('colorizer_')} on test images ({cell})",
                )
                grids.append((path, f"colorized: {folder.name.removeprefix('colorizer_')}, {cell}"))
            elif (folder / "model.safetensors").is_file():
                samples = load_generator(folder).sample_per_class(8, seed=0)
                path = plots.sample_grid(
                    samples.images,
                    samples.labels,
                    class_names,
                    out / "figures" / f"samples_{folder.name}_{cell}.png",
                    title=f"{folder.name} ({cell})",
                )
                grids.append((path, f"generated samples: {folder.name}, {cell}"))
    return grids
