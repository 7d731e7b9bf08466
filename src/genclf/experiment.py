"""The main job: every strategy x data budget x seed on one dataset, scored the same way, resumable.

Paired by seed: for a given (budget, seed) every strategy sees the same labeled subset, and generators
are trained once per (budget, seed) and shared. A cell whose row is already in ``results.csv`` is
skipped, so a killed run picks up where it stopped.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from genclf.config import RunConfig, load_config, save_config, to_dict
from genclf.data import ImageSet, Split, load_dataset, make_split
from genclf.errors import ConfigError
from genclf.evaluation.extended import extended_evaluation, validate_evaluation
from genclf.evaluation.metrics import compute_metrics
from genclf.evaluation.robustness import corruption_error
from genclf.files import atomic_write, write_json
from genclf.reporting import plots
from genclf.reporting.report import build_report
from genclf.reporting.stats import CLASSICAL, REFERENCES, paired_comparison, t_interval
from genclf.strategies import Context, build_strategy

RESULTS = "results.csv"
SUMMARY = "summary.json"
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


@dataclass
class RunOutput:
    folder: Path
    results: pd.DataFrame
    summary: dict


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(name)).strip("_")


def _budget_key(budget: int | None) -> str:
    return "all" if budget is None else str(budget)


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/N"`` (1 <= i <= N) -> (i, N)."""
    if text is None:
        return None
    left, _, right = str(text).partition("/")
    try:
        i, n = int(left), int(right)
    except ValueError:
        i = n = 0
    if not 1 <= i <= n:
        raise ConfigError("--shard", f"expected i/N with 1 <= i <= N (e.g. 2/4), got {text!r}")
    return i, n


def grid_cells(config: RunConfig, shard: tuple[int, int] | None = None) -> list[tuple]:
    """The (budget, seed, strategy) cells in their canonical order; with ``shard=(i, N)`` every N-th one from the i-th."""
    d = config.data
    cells = [(k, seed, s) for k in d.budgets() for seed in config.seeds for s in config.strategies]
    return cells if shard is None else cells[shard[0] - 1 :: shard[1]]


def run_experiment(
    config: RunConfig, out: str | Path, quiet: bool = False, shard: tuple[int, int] | None = None
) -> RunOutput:
    """Run (or resume) the grid of ``config`` (or one ``shard=(i, N)`` of it) into folder ``out``; write
    results, summary, figures, report. Shards of one config are combined by ``merge_runs``."""
    out = Path(out)
    for strategy_config in config.strategies:
        build_strategy(strategy_config)  # validate names and parameters before any training
    validate_evaluation(config.evaluation)
    names = [s.display_name for s in config.strategies]
    if len(set(names)) != len(names):
        raise_duplicate(names)
    data = load_dataset(config.data.spec, config.data.image_size, config.data.channels)
    d = config.data
    splits = {
        (k, seed): make_split(data, seed, d.val_fraction, d.test_fraction, k, d.imbalance)
        for k in d.budgets()
        for seed in config.seeds
    }
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    results_path = out / RESULTS
    rows = (
        pd.read_csv(results_path, keep_default_na=False, na_values=[""]).to_dict("records")
        if results_path.is_file()
        else []
    )
    done = {  # keyed by the config entry's name: one entry may write several rows (views)
        (
            r.get("entry") if isinstance(r.get("entry"), str) else r["strategy"],
            _budget_key(None if pd.isna(r["k_per_class"]) else int(r["k_per_class"])),
            int(r["seed"]),
        )
        for r in rows
    }
    cells = grid_cells(config, shard)
    contexts: dict[tuple, Context] = {}
    bar = tqdm(cells, desc="grid", unit="cell", disable=quiet or None)
    for k, seed, strategy_config in bar:
        name = strategy_config.display_name
        if (name, _budget_key(k), seed) in done:
            continue
        bar.set_postfix_str(f"{name} k={_budget_key(k)} seed={seed}")
        split = splits[(k, seed)]
        context = contexts.setdefault(
            (k, seed),
            Context(
                seed, config.train, config.generator_train, True, out / "generators" / f"k{_budget_key(k)}_seed{seed}"
            ),
        )
        strategy = build_strategy(strategy_config)
        torch.manual_seed(seed)
        began = time.perf_counter()
        strategy.fit(split, context)
        seconds = time.perf_counter() - began
        for view in strategy.views(split):
            metrics = compute_metrics(split.test.labels.numpy(), view.proba, split.class_names)
            extended, detail = extended_evaluation(
                view.predict_proba or strategy.predict_proba,
                view.pixel_model,
                (split.test.images, split.test.labels),
                config.evaluation,
                seed=seed,
                val=(split.val.images, split.val.labels),
                test_proba=view.proba,
            )
            rows.append(
                {
                    "strategy": view.name,
                    "entry": name,
                    "method": view.method,
                    "classifier": strategy_config.classifier,
                    "k_per_class": k,
                    "seed": seed,
                    "n_train": len(split.train),
                    "n_test": len(split.test),
                    **metrics.scalars(),
                    **extended,
                    **view.columns,
                    "train_seconds": round(seconds, 3),
                    **strategy.extra,
                }
            )
            write_json(
                out / "cells" / f"{_slug(view.name)}_k{_budget_key(k)}_seed{seed}.json",
                {"strategy": view.name, "k_per_class": k, "seed": seed, **metrics.to_dict(), **detail},
            )
        table = pd.DataFrame(rows)
        atomic_write(results_path, lambda tmp, t=table: t.to_csv(tmp, index=False))
    first = splits[(d.budgets()[0], config.seeds[0])]
    return finalize(pd.DataFrame(rows), config, out, data.name, data.train.class_names, first)


def finalize(
    results: pd.DataFrame, config: RunConfig, out: Path, data_name: str, class_names: list[str], first: Split
) -> RunOutput:
    """From results.csv's rows: mCE, summary.json, figures and report.html."""
    results = add_mce(results, out)
    atomic_write(out / RESULTS, lambda tmp: results.to_csv(tmp, index=False))
    summary = summarize(results, config)
    summary["split"] = first.summary()
    figures = make_figures(results, summary, config, class_names, out, first.test)
    summary["figures"] = [str(p.relative_to(out)) for p, _ in figures]
    write_json(out / SUMMARY, summary)
    build_report(summary, figures, out / "report.html", title=f"genclf report: {data_name}")
    return RunOutput(out, results, summary)


def merge_runs(folders: list[str | Path], out: str | Path) -> RunOutput:
    """Combine the run folders of shards of one config (``genclf run --shard i/N``) into ``out``: their
    results.csv rows in the grid's canonical order, cells/ and generators/, then summary, figures, report."""
    folders, out = [Path(f) for f in folders], Path(out)
    configs = []
    for folder in folders:
        if not (folder / RESULTS).is_file() or not (folder / "config.yaml").is_file():
            raise ConfigError(folder, "not a genclf run folder (expected results.csv and config.yaml)")
        configs.append(load_config(RunConfig, folder / "config.yaml"))
    config = configs[0]
    for folder, other in zip(folders[1:], configs[1:]):
        if to_dict(other) != to_dict(config):
            raise ConfigError(folder, f"its config.yaml differs from {folders[0]}'s: shards must share one config")
    tables = [pd.read_csv(f / RESULTS, keep_default_na=False, na_values=[""]) for f in folders]
    results = pd.concat(tables, ignore_index=True)
    entry = results["entry"] if "entry" in results else results["strategy"]
    order = {(_budget_key(k), seed, s.display_name): i for i, (k, seed, s) in enumerate(grid_cells(config))}
    keys = [
        order.get((_budget_key(None if pd.isna(k) else int(k)), int(seed), e), len(order))
        for k, seed, e in zip(results["k_per_class"], results["seed"], entry)
    ]
    results = (
        results.assign(_order=keys, _row=range(len(results)))
        .sort_values(["_order", "_row"], kind="stable")
        .drop_duplicates(subset=["strategy", "k_per_class", "seed"])
        .drop(columns=["_order", "_row"])
        .reset_index(drop=True)
    )
    out.mkdir(parents=True, exist_ok=True)
    save_config(config, out / "config.yaml")
    for folder in folders:
        for sub in ("cells", "generators"):
            if (folder / sub).is_dir() and folder.resolve() != out.resolve():
                shutil.copytree(folder / sub, out / sub, dirs_exist_ok=True)
    data = load_dataset(config.data.spec, config.data.image_size, config.data.channels)
    d = config.data
    first = make_split(data, config.seeds[0], d.val_fraction, d.test_fraction, d.budgets()[0], d.imbalance)
    return finalize(results, config, out, data.name, data.train.class_names, first)


def raise_duplicate(names: list[str]) -> None:
    from genclf.errors import ConfigError

    duplicate = next(n for n in names if names.count(n) > 1)
    raise ConfigError("strategies", f"two strategies are both named {duplicate!r}; give one a 'label'")


def _per_seed(group: pd.DataFrame, metric: str) -> dict[int, float]:
    return {int(s): float(v) for s, v in zip(group["seed"], group[metric]) if not pd.isna(v)}


def summarize(results: pd.DataFrame, config: RunConfig) -> dict:
    """Mean/std/CI per strategy and budget, and paired comparisons against baseline and the best classical strategy."""
    metric = config.primary_metric
    detail: dict[str, dict] = {}
    results = results.assign(budget=[_budget_key(None if pd.isna(k) else int(k)) for k in results["k_per_class"]])
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
        "budgets": [_budget_key(k) for k in config.data.budgets()],
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
            tables[(cell["strategy"], _budget_key(cell["k_per_class"]), int(cell["seed"]))] = cell["corruptions"][
                "accuracy"
            ]
    baseline = results.loc[results["method"] == "baseline", "strategy"].iloc[0]
    mce = []
    for _, row in results.iterrows():
        budget = _budget_key(None if pd.isna(row["k_per_class"]) else int(row["k_per_class"]))
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
            path = figures_dir / f"confusion_{_slug(cell['strategy'])}_k{budget}.png"
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
    from genclf.colorize import colorization_strip, load_colorizer
    from genclf.generation import load_generator

    grids = []
    for budget in config.data.budgets():
        cell = f"k{_budget_key(budget)}_seed{config.seeds[0]}"
        for folder in sorted((out / "generators" / cell).glob("*/")):
            if folder.name.startswith("colorizer_") and test is not None and (folder / "model.safetensors").is_file():
                shown = torch.cat([torch.nonzero(test.labels == c).flatten()[:3] for c in range(test.num_classes)])
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
