"""The main job: every strategy x seed on one dataset, scored the same way, resumable cell by cell."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import torch
from tqdm.auto import tqdm

from genclf.config import RunConfig, save_config
from genclf.data import load_dataset, make_split
from genclf.data.splits import Split
from genclf.evaluation.metrics import compute_metrics
from genclf.files import atomic_write, write_json
from genclf.reporting.plots import confusion_figure, metric_bars
from genclf.reporting.tables import summarize
from genclf.strategies import Context, build_strategy

RESULTS = "results.csv"
SUMMARY = "summary.json"


@dataclass
class RunOutput:
    folder: Path
    results: pd.DataFrame
    summary: dict


def _split_for(config: RunConfig, data, seed: int) -> Split:
    d = config.data
    return make_split(data, seed, d.val_fraction, d.test_fraction, d.k_per_class, d.imbalance)


def run_experiment(config: RunConfig, out: str | Path, quiet: bool = False) -> RunOutput:
    """Run (or resume) the strategy x seed grid of ``config`` into folder ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for strategy_config in config.strategies:
        build_strategy(strategy_config)  # validates names and params before any training
    data = load_dataset(config.data.spec, config.data.image_size, config.data.channels)
    splits = {seed: _split_for(config, data, seed) for seed in config.seeds}  # validates k_per_class/imbalance
    save_config(config, out / "config.yaml")
    results_path = out / RESULTS
    rows = pd.read_csv(results_path).to_dict("records") if results_path.is_file() else []
    done = {(r["strategy"], int(r["seed"])) for r in rows}
    cells = [(s, seed) for seed in config.seeds for s in config.strategies]
    bar = tqdm(cells, desc="grid", unit="cell", disable=quiet or None)
    for strategy_config, seed in bar:
        name = strategy_config.display_name
        bar.set_postfix_str(f"{name} seed={seed}")
        if (name, seed) in done:
            continue
        split = splits[seed]
        strategy = build_strategy(strategy_config)
        torch.manual_seed(seed)
        began = time.perf_counter()
        strategy.fit(split, Context(seed=seed, train=config.train, quiet=True))
        train_seconds = time.perf_counter() - began
        proba = strategy.predict_proba(split.test.images)
        metrics = compute_metrics(split.test.labels.numpy(), proba, split.class_names)
        row = {
            "strategy": name,
            "method": strategy_config.name,
            "classifier": strategy_config.classifier,
            "seed": seed,
            "k_per_class": config.data.k_per_class,
            "n_train": len(split.train),
            "n_test": len(split.test),
            **metrics.scalars(),
            "train_seconds": round(train_seconds, 3),
            **strategy.extra,
        }
        rows.append(row)
        write_json(
            out / "cells" / f"{_slug(name)}_seed{seed}.json", {"strategy": name, "seed": seed, **metrics.to_dict()}
        )
        table = pd.DataFrame(rows)
        atomic_write(results_path, lambda tmp, t=table: t.to_csv(tmp, index=False))
    results = pd.DataFrame(rows)
    summary = summarize(results, config)
    summary["split"] = splits[config.seeds[0]].summary()
    write_json(out / SUMMARY, summary)
    figures = out / "figures"
    for name in dict.fromkeys(results["strategy"]):
        cell = out / "cells" / f"{_slug(name)}_seed{config.seeds[0]}.json"
        if not cell.is_file():
            continue
        matrix = json.loads(cell.read_text())["confusion_matrix"]
        confusion_figure(
            matrix,
            data.train.class_names,
            f"{name} (seed {config.seeds[0]})",
            figures / f"confusion_{_slug(name)}.png",
        )
    metric_bars(
        {n: s["macro_f1"] for n, s in summary["strategies"].items()},
        "macro_f1",
        figures / "macro_f1.png",
    )
    return RunOutput(out, results, summary)


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")
