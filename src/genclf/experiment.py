"""The main job: every strategy x data budget x seed on one dataset, scored the same way, resumable.

Paired by seed: for a given (budget, seed) every strategy sees the same labeled subset, and generators
are trained once per (budget, seed) and shared. A cell whose row is already in ``results.csv`` is
skipped, so a killed run picks up where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

import genclf.tracking as tracking
from genclf.config import (
    RunConfig,
    StrategyConfig,
    config_changes,
    config_hash,
    read_yaml,
    save_config,
    to_dict,
    validate_config,
)
from genclf.data import Split, load_dataset, make_split
from genclf.environment import describe_environment
from genclf.errors import ConfigError
from genclf.evaluation.extended import extended_evaluation, validate_evaluation
from genclf.evaluation.metrics import compute_metrics
from genclf.evaluation.robustness import corruption_error
from genclf.progress import eta_text, header, log_line
from genclf.reporting.run_report import render_run
from genclf.roles import BASELINE, GENERATIVE
from genclf.run_folder import RunFolder, RunRecord, budget_key, budget_of, cell_tag
from genclf.strategies import STRATEGIES, Context, build_strategy

__all__ = ["RunOutput", "parse_shard", "run_experiment"]


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
    """Every field's range and choice, strategy names and parameters, and unique entry names, before any
    data is loaded or anything trained."""
    validate_config(config)
    validate_evaluation(config.evaluation)
    for strategy_config in config.strategies:
        build_strategy(strategy_config)
    names = [s.display_name for s in config.strategies]
    if len(set(names)) != len(names):
        raise_duplicate(names)


def run_experiment(
    config: RunConfig,
    out: str | Path,
    quiet: bool = False,
    shard: tuple[int, int] | None = None,
    log_to: list[str] | None = None,
) -> RunOutput:
    """Run (or resume) the grid of ``config`` (or one ``shard=(i, N)`` of it) into folder ``out``; write
    results, summary, figures, report. Shards of one config are combined by ``finished_runs.merge_runs``. ``log_to``:
    tracking backends (``tensorboard``, ``mlflow``) that receive every epoch, every cell's results, the config
    and the report."""
    tracking.check_backends(log_to)
    validate_run_config(config)
    folder = RunFolder(out)
    rows = folder.read_results().to_dict("records")
    check_resumable(config, folder, rows)
    with tracking.tracking(log_to, out, Path(out).name, to_dict(config)) as tracker:
        result = _run_grid(config, folder, rows, quiet, shard, tracker)
        if tracker is not None:
            tracker.artifacts([result.folder / "report.html", *sorted((result.folder / "figures").glob("*.png"))])
    return result


def _run_grid(config: RunConfig, folder: RunFolder, rows: list[dict], quiet: bool, shard, tracker) -> RunOutput:
    """The grid's cells not in ``rows`` (the finished ones), appended to ``rows``; then the report."""
    data = load_dataset(config.data.spec, config.data.image_size, config.data.channels)
    d = config.data
    splits = {
        (k, seed): make_split(data, seed, d.val_fraction, d.test_fraction, k, d.imbalance)
        for k in d.budgets()
        for seed in config.seeds
    }
    folder.root.mkdir(parents=True, exist_ok=True)
    save_config(config, folder.config)
    sizes = splits[(d.budgets()[0], config.seeds[0])].summary()
    folder.write_manifest(
        {
            "name": data.name,
            "class_names": data.train.class_names,
            "split": sizes,
            "environment": describe_environment(config.train.device),
        }
    )
    cells = folder.read_cells()
    artifacts = folder.read_artifacts()
    checks = folder.read_generators().to_dict("records")
    done = {  # keyed by the config entry's name: one entry may write several rows (views)
        (
            r.get("entry") if isinstance(r.get("entry"), str) else r["strategy"],
            budget_of(r["k_per_class"]),
            int(r["seed"]),
        )
        for r in rows
    }
    grid = grid_cells(config, shard)
    contexts: dict[tuple, Context] = {}
    todo = sum((entry.display_name, budget_key(k), seed) not in done for k, seed, entry in grid)
    header(
        f"genclf run {data.name}: {len(config.strategies)} strategies x {len(d.budgets())} budget(s) x "
        f"{len(config.seeds)} seed(s) = {len(grid)} cells ({todo} to run); split: train {sizes['train']}, "
        f"val {sizes['val']}, test {sizes['test']}, unlabeled {sizes['unlabeled']}; output {folder.root}",
        quiet,
    )
    started, finished = time.perf_counter(), 0
    bar = tqdm(grid, desc="grid", unit="cell", disable=quiet or None)
    for index, (k, seed, strategy_config) in enumerate(bar, 1):
        name = strategy_config.display_name
        if (name, budget_key(k), seed) in done:
            continue
        bar.set_postfix_str(f"{name} k={budget_key(k)} seed={seed}")
        split = splits[(k, seed)]
        context = contexts.setdefault(
            (k, seed),
            Context(
                seed,
                config.train,
                config.generator_train,
                True,
                folder.generator_store(k, seed),
                generator_pool=config.generator_pool,
            ),
        )
        strategy = build_strategy(strategy_config)
        torch.manual_seed(seed)
        context.start_strategy()
        began = time.perf_counter()
        with tracking.scope(f"{name}/k{budget_key(k)}/seed{seed}"), tracking.recording() as history:
            strategy.fit(split, context)
        own_seconds = time.perf_counter() - began - context.trained_now
        shared_seconds, used = context.shared_seconds(), " ".join(context.used)
        seconds = own_seconds + shared_seconds  # every generator it used counted in full, shared or not
        if seed == config.seeds[0]:
            artifacts = draw_generators(context, split, folder, cell_tag(k, seed), artifacts)
        if history:
            folder.write_history(name, k, seed, pd.DataFrame(history))
        with tracking.scope(f"generator_checks/k{budget_key(k)}/seed{seed}"):
            checked_now = check_generators(context, split, config, k, seed, checks)
        if checked_now:
            folder.write_generators(pd.DataFrame(checks))
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
                    "role": view.role,
                    "classifier": strategy_config.classifier,
                    "k_per_class": k,
                    "seed": seed,
                    "config_hash": cell_hash(config, k, seed, strategy_config),
                    "n_train": len(split.train),
                    "n_test": len(split.test),
                    **metrics.scalars(),
                    **extended,
                    **view.columns,
                    "train_seconds": round(seconds, 3),
                    "generator_seconds": round(shared_seconds, 3),
                    "generators": used,
                    **strategy.extra,
                }
            )
            if tracker is not None:
                tracker.metrics(
                    {**metrics.scalars(), **extended}, step=seed, prefix=f"results/{view.name}/k{budget_key(k)}"
                )
            cell = {"strategy": view.name, "k_per_class": k, "seed": seed, **metrics.to_dict(), **detail}
            folder.write_cell(cell)
            cells.append(cell)
            log_line(
                f"cell {index}/{len(grid)} {view.name} k={budget_key(k)} seed={seed}: "
                f"macro_f1 {metrics.macro_f1:.4f}  [{seconds:.0f} s]{eta_text(started, finished + 1, todo - finished - 1)}",
                quiet,
            )
        folder.write_results(with_mce(pd.DataFrame(rows), cells))
        finished += 1
    record = RunRecord(
        config, with_mce(pd.DataFrame(rows), cells), cells, folder.read_manifest(), artifacts, pd.DataFrame(checks)
    )
    return RunOutput(folder.root, record.results, render_run(record, folder))


def cell_hash(config: RunConfig, budget: int | None, seed: int, strategy: StrategyConfig) -> str:
    """The digest of everything that determines one cell's results: data, budget, seed, the strategy entry,
    the classifier budget, the generator budget (for strategies that use generators) and the evaluation."""
    values = {
        "data": {**to_dict(config.data), "k_per_class": budget},
        "seed": seed,
        "strategy": to_dict(strategy),
        "train": to_dict(config.train),
        "evaluation": to_dict(config.evaluation),
        "primary_metric": config.primary_metric,
    }
    if STRATEGIES.get(strategy.name).role == GENERATIVE:
        values["generator_train"] = to_dict(config.generator_train)
        values["generator_pool"] = config.generator_pool
    return "h" + config_hash(values)  # a letter first: a digest of digits is still read back as text


def check_resumable(config: RunConfig, folder: RunFolder, rows: list[dict]) -> None:
    """Refuse to resume into a folder whose finished cells were made with another config: their results
    would be credited to this one. Cells of strategies, budgets or seeds the new config adds are fine."""
    if rows and any("role" not in row for row in rows):
        folder.refuse_old_run()
    expected = {
        (s.display_name, budget_key(k), seed): cell_hash(config, k, seed, s) for k, seed, s in grid_cells(config)
    }
    for row in rows:
        entry = row.get("entry") if isinstance(row.get("entry"), str) else row["strategy"]
        key = (entry, budget_of(row["k_per_class"]), int(row["seed"]))
        saved = row.get("config_hash")
        if key in expected and isinstance(saved, str) and saved != expected[key]:
            previous = read_yaml(folder.config) if folder.config.is_file() else {}
            changed = "; ".join(config_changes(previous, to_dict(config))[:4]) or "the config"
            raise ConfigError(
                folder.root,
                f"holds finished cells made with another config ({changed}); resume with the same config, "
                "or run into a new --out",
            )


def check_generators(
    context: Context, split: Split, config: RunConfig, budget: int | None, seed: int, checks: list[dict]
) -> bool:
    """Append to ``checks`` the quality check of every generator ``context`` holds that has none yet for this
    (budget, seed); return whether any was added."""
    from genclf.evaluation.generator_quality import generator_check

    done = {(budget_of(c["k_per_class"]), int(c["seed"]), c["generator"]) for c in checks}
    added = False
    for key, generator in context.generators().items():
        if (budget_key(budget), seed, key) in done:
            continue
        began = time.perf_counter()
        quality = generator_check(
            generator,
            split,
            context.labeled_classifier(split),
            config.train,
            seed=seed,
            min_cas_ratio=config.evaluation.generator_min_cas_ratio,
            min_diversity=config.evaluation.generator_min_diversity,
        )
        checks.append(
            {
                "generator": key,
                "k_per_class": budget,
                "seed": seed,
                **context.generator_data,
                "train_seconds": round(context.seconds.get(key, 0.0), 3),
                **{k: round(v, 4) if isinstance(v, float) else v for k, v in quality.items()},
                "check_seconds": round(time.perf_counter() - began, 3),
            }
        )
        added = True
    return added


def draw_generators(context: Context, split: Split, folder: RunFolder, tag: str, artifacts: list[dict]) -> list[dict]:
    """Sample grids of the generators and grey | colorized | original strips (on test images) of the
    colorizers that ``context`` trained, as run artifacts; returns the updated artifact list."""
    from genclf.colorize import colorization_strip, per_class_sample
    from genclf.reporting.plots import sample_grid

    known = {a["path"] for a in artifacts}
    added = []
    for key, trained in {**context.generators(), **context.colorizers()}.items():
        kind = "colorized" if hasattr(trained, "colorize") else "samples"
        path = folder.artifact(f"{kind}_{key}_{tag}")
        relative = str(path.relative_to(folder.root))
        if relative in known:
            continue
        if kind == "colorized":
            name = key.removeprefix("colorizer_")
            shown = split.test.images[per_class_sample(split.test)]
            colorization_strip(shown, trained.colorize(shown), path, f"{name} on test images ({tag})")
            caption = f"colorized: {name}, {tag}"
        else:
            samples = trained.sample_per_class(8, seed=0)
            sample_grid(samples.images, samples.labels, split.class_names, path, title=f"{key} ({tag})")
            caption = f"generated samples: {key}, {tag}"
        added.append({"path": relative, "caption": caption})
    if not added:
        return artifacts
    artifacts = artifacts + added
    folder.write_artifacts(artifacts)
    return artifacts


def with_mce(results: pd.DataFrame, cells: list[dict]) -> pd.DataFrame:
    """``results`` with ``mce``: each row's corruption error relative to the baseline of the same budget and
    seed (Hendrycks & Dietterich 2019), from the per-severity accuracies of the cells."""
    if results.empty or "corruption_accuracy" not in results.columns or not (results["role"] == BASELINE).any():
        return results
    tables = {
        (c["strategy"], budget_key(c["k_per_class"]), int(c["seed"])): c["corruptions"]["accuracy"]
        for c in cells
        if c.get("corruptions")
    }
    baseline = results.loc[results["role"] == BASELINE, "strategy"].iloc[0]
    mce = []
    for strategy, k, seed in zip(results["strategy"], results["k_per_class"], results["seed"]):
        ours, ref = tables.get((strategy, budget_of(k), int(seed))), tables.get((baseline, budget_of(k), int(seed)))
        mce.append(corruption_error(ours, ref)["mce"] if ours and ref else np.nan)
    return results.assign(mce=mce)


def raise_duplicate(names: list[str]) -> None:
    duplicate = next(n for n in names if names.count(n) > 1)
    raise ConfigError("strategies", f"two strategies are both named {duplicate!r}; give one a 'label'")
