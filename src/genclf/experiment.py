"""The main job: every strategy x data budget x seed on one dataset, scored the same way, resumable.

Paired by seed: for a given (budget, seed) every strategy sees the same labeled subset, and generators
are trained once per (budget, seed) and shared. A cell whose row is already in ``results.csv`` is
skipped, so a killed run picks up where it stopped.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from genclf.config import RunConfig, load_config, save_config, to_dict
from genclf.data import Split, load_dataset, make_split
from genclf.errors import ConfigError
from genclf.evaluation.extended import extended_evaluation, validate_evaluation
from genclf.evaluation.metrics import compute_metrics
from genclf.files import atomic_write, write_json
from genclf.progress import log_line
from genclf.reporting.report import build_report
from genclf.reporting.run_figures import make_figures
from genclf.reporting.summary import METRICS, add_mce, budget_key, budget_of, slug, summarize
from genclf.strategies import Context, build_strategy

RESULTS = "results.csv"
SUMMARY = "summary.json"
__all__ = ["METRICS", "RESULTS", "SUMMARY", "RunOutput", "merge_runs", "parse_shard", "run_experiment"]


@dataclass
class RunOutput:
    folder: Path
    results: pd.DataFrame
    summary: dict


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


def validate_run_config(config: RunConfig) -> None:
    """Strategy names and parameters, evaluation settings and unique entry names, before any training."""
    for strategy_config in config.strategies:
        build_strategy(strategy_config)
    validate_evaluation(config.evaluation)
    names = [s.display_name for s in config.strategies]
    if len(set(names)) != len(names):
        raise_duplicate(names)


def run_experiment(
    config: RunConfig, out: str | Path, quiet: bool = False, shard: tuple[int, int] | None = None
) -> RunOutput:
    """Run (or resume) the grid of ``config`` (or one ``shard=(i, N)`` of it) into folder ``out``; write
    results, summary, figures, report. Shards of one config are combined by ``merge_runs``."""
    out = Path(out)
    validate_run_config(config)
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
            budget_of(r["k_per_class"]),
            int(r["seed"]),
        )
        for r in rows
    }
    cells = grid_cells(config, shard)
    contexts: dict[tuple, Context] = {}
    bar = tqdm(cells, desc="grid", unit="cell", disable=quiet or None)
    for index, (k, seed, strategy_config) in enumerate(bar, 1):
        name = strategy_config.display_name
        if (name, budget_key(k), seed) in done:
            continue
        bar.set_postfix_str(f"{name} k={budget_key(k)} seed={seed}")
        split = splits[(k, seed)]
        context = contexts.setdefault(
            (k, seed),
            Context(
                seed, config.train, config.generator_train, True, out / "generators" / f"k{budget_key(k)}_seed{seed}"
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
                out / "cells" / f"{slug(view.name)}_k{budget_key(k)}_seed{seed}.json",
                {"strategy": view.name, "k_per_class": k, "seed": seed, **metrics.to_dict(), **detail},
            )
            log_line(
                f"cell {index}/{len(cells)} {view.name} k={budget_key(k)} seed={seed}: "
                f"macro_f1 {metrics.macro_f1:.4f}  [{seconds:.0f} s]",
                quiet,
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
    order = {(budget_key(k), seed, s.display_name): i for i, (k, seed, s) in enumerate(grid_cells(config))}
    keys = [
        order.get((budget_of(k), int(seed), e), len(order))
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
