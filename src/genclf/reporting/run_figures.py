"""The figures of a run: metric bars, per-class heatmap, confusion matrices, budget curves, calibration and
robustness plots, drawn from a RunRecord (the sample grids and strips come ready-made among its artifacts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genclf.reporting import plots
from genclf.reporting.record import ReportPaths, RunRecord, budget_key, slug


def _cells_of(record: RunRecord, budget: str) -> list[dict]:
    return [c for c in record.cells if budget_key(c["k_per_class"]) == budget]


def _budget_title(budget: str) -> str:
    return "all labeled images" if budget == "all" else f"{budget} labeled images per class"


def _compared(block: dict, metric: str) -> list[str]:
    """The strategies a reader compares: the baseline, the best classical and the best generative one."""
    generative = [n for n, role in block["roles"].items() if role == "generative" and metric in block["strategies"][n]]
    best = max(generative, key=lambda n: block["strategies"][n][metric]["mean"]) if generative else None
    return [n for n in dict.fromkeys([block["baseline"], block["best_classical"], best]) if n is not None]


def make_figures(record: RunRecord, summary: dict, folder: ReportPaths) -> list[tuple[Path, str]]:
    figures = []
    class_names = record.data["class_names"]
    metric = summary["primary_metric"]
    for budget, block in summary["budgets_detail"].items():
        gated = {c["strategy"] for c in block["comparisons"] if c.get("inconclusive")}
        bars = {
            n: {
                "mean": e[metric]["mean"],
                "ci": e[metric]["ci95"],
                "role": block["roles"][n],
                "inconclusive": n in gated,
            }
            for n, e in block["strategies"].items()
            if metric in e
        }
        against_baseline = [
            c
            for c in block["comparisons"]
            if c["reference"] == block.get("references", {}).get(c["strategy"], {}).get("baseline", block["baseline"])
        ]
        if against_baseline:
            figures.append(
                (
                    plots.gain_plot(
                        against_baseline,
                        metric,
                        folder.figure(f"gains_k{budget}"),
                        f"gain over the baseline, {_budget_title(budget)}",
                    ),
                    f"gains: {metric} difference from the baseline, budget {budget}",
                )
            )
        figures.append(
            (
                plots.metric_bars(bars, metric, folder.figure(f"{metric}_k{budget}")),
                f"{metric} with 95% CI, budget {budget}",
            )
        )
        cells = _cells_of(record, budget)
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
                    folder.figure(f"per_class_f1_k{budget}"),
                    f"per-class F1 (mean over seeds), budget {budget}",
                ),
                f"per-class F1, budget {budget}",
            )
        )
        shown = _compared(block, metric)
        first_seed = [c for c in cells if c["seed"] == record.config.seeds[0] and c["strategy"] in shown]
        for cell in first_seed:
            path = folder.figure(f"confusion_{slug(cell['strategy'])}_k{budget}")
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
        for name in dict.fromkeys(record.results["strategy"]):
            xs, ys, cis = [], [], []
            for budget, block in summary["budgets_detail"].items():
                if budget != "all" and name in block["strategies"]:
                    xs.append(int(budget))
                    ys.append(block["strategies"][name][metric]["mean"])
                    cis.append(block["strategies"][name][metric]["ci95"])
            curves[name] = (xs, ys, cis)
        figures.append(
            (
                plots.budget_curves(curves, metric, folder.figure("budget_curves")),
                f"{metric} vs labeled images per class",
            )
        )
    figures.extend((folder.root / a["path"], a["caption"]) for a in record.artifacts)
    figures.extend(_robustness_figures(record, summary, folder))
    return figures


def _robustness_figures(record: RunRecord, summary: dict, folder: ReportPaths) -> list[tuple[Path, str]]:
    """Reliability diagrams (first seed), and with robustness measured: accuracy vs corruption severity,
    accuracy per corruption, accuracy under attack (means over seeds)."""
    figures = []
    first_seed = summary["seeds"][0]
    for budget, block in summary["budgets_detail"].items():
        cells = _cells_of(record, budget)
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
                reliab, folder.figure(f"reliability_k{budget}"), f"reliability on the test set (seed {first_seed})"
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
                        folder.figure(f"severity_k{budget}"),
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
                        folder.figure(f"corruptions_k{budget}"),
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
                        curves,
                        folder.figure(f"adversarial_k{budget}"),
                        "accuracy under L-inf attacks (mean over seeds)",
                    ),
                    f"robustness: adversarial accuracy, budget {budget}",
                )
            )
    return figures
