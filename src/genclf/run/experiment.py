"""The main job: every strategy x data budget x seed on one dataset, scored the same way, resumable.

Paired by seed: for a given (budget, seed) every strategy sees the same labeled subset, and generators
are trained once per (budget, seed) and shared. A cell whose row is already in ``results.csv`` is
skipped, so a killed run picks up where it stopped.
"""

from __future__ import annotations

import collections
import functools
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

import genclf.training.tracking as tracking
from genclf.catalogue import SAVE_POLICIES
from genclf.config import RunConfig, config_changes, read_yaml, save_config, to_dict, validate_config
from genclf.errors import ConfigError, TrainingError
from genclf.evaluation.extended import validate_evaluation
from genclf.evaluation.robustness import corruption_error
from genclf.files import write_json
from genclf.models.layers import check_option_bounds
from genclf.reporting.run_report import render_run
from genclf.roles import BASELINE, GENERATIVE
from genclf.run.cells import CellJob, CellRunner, cell_hash, check_key, load_splits
from genclf.run.eta import eta_clock
from genclf.run.executor import RayExecutor, check_executor
from genclf.run.folder import RunFolder, RunRecord, budget_key, budget_of
from genclf.run.plan import Plan
from genclf.run.pool import resolve_workers, run_cells
from genclf.runtime.environment import describe_environment
from genclf.strategies import STRATEGIES, build_strategy
from genclf.training.progress import header, log_line

__all__ = ["SAVE_POLICIES", "RunOutput", "parse_shard", "run_experiment"]


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
    for i, strategy_config in enumerate(config.strategies):
        build_strategy(strategy_config)
        params = strategy_config.params or {}
        check_option_bounds(params, f"strategies[{i}].params")  # dropout, hidden, task_weight, ...
        for key, value in params.items():
            if key.endswith("_options") and isinstance(value, dict):
                check_option_bounds(value, f"strategies[{i}].params.{key}")
    names = [s.display_name for s in config.strategies]
    if len(set(names)) != len(names):
        raise_duplicate(names)


def run_experiment(
    config: RunConfig,
    out: str | Path,
    quiet: bool = False,
    shard: tuple[int, int] | None = None,
    log_to: list[str] | None = None,
    workers: int | str = 1,
    plan: Plan | None = None,
    save_models: str = "best",
    executor: str = "local",
    address: str | None = None,
    cpus_per_cell: float = 1.0,
    gpus_per_cell: float = 0.0,
) -> RunOutput:
    """Run (or resume) the grid of ``config`` (or one ``shard=(i, N)`` of it) into folder ``out``; write
    results, summary, figures, report. Shards of one config are combined by ``finished_runs.merge_runs``. ``log_to``:
    tracking backends (``tensorboard``, ``mlflow``) that receive every epoch, every cell's results, the config
    and the report. ``workers``: processes fitting cells at once (``"auto"``: one per CPU core, see
    ``genclf.run.pool.resolve_workers``); results are the same for any number of workers that each use one thread.
    ``plan``: the estimated run plan this config came from (its per-cell seconds weight the progress ETA).
    ``save_models``: which cells' final classifiers stay in ``out/models/`` (``best``: every seed of the
    recommended strategy and of the baseline; ``all``; ``none``). ``executor``: ``local`` (this machine's
    pool of ``workers``) or ``ray`` (a Ray cluster at ``address``, each cell a task with ``cpus_per_cell``
    and ``gpus_per_cell``; see ``genclf.run.executor``)."""
    check_executor(executor, address, cpus_per_cell, gpus_per_cell)
    tracking.check_backends(log_to)
    if save_models not in SAVE_POLICIES:
        raise ConfigError("--save-models", f"expected one of {', '.join(SAVE_POLICIES)}, got {save_models!r}")
    validate_run_config(config)
    if workers not in (None, "auto"):  # its value, before anything is written (the count is settled later)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolve_workers(workers, 2, "cpu", bool(log_to))
    ray = RayExecutor(address, cpus_per_cell, gpus_per_cell).start() if executor == "ray" else None
    folder = RunFolder(out)
    try:
        with folder.locked("run"):
            rows = folder.read_results().to_dict("records")
            check_resumable(config, folder, rows)
            with tracking.tracking(log_to, out, Path(out).name, to_dict(config)) as tracker:
                result = _run_grid(config, folder, rows, quiet, shard, tracker, workers, plan, save_models, ray)
                if tracker is not None:
                    write_json(folder.root / "environment.json", describe_environment(config.train.device))
                    tables = ["results.csv", "generators.csv", "summary.json", "config.yaml", "run.json"]
                    outputs = [folder.root / name for name in (*tables, "environment.json", "report.html")]
                    tracker.artifacts([*outputs, *sorted((result.folder / "figures").glob("*.png"))])
    finally:
        if ray is not None:
            ray.close()
    return result


def build_runner(config: RunConfig, out: str | Path, save_models: str = "best") -> CellRunner:
    """The data, the splits of every (budget, seed) and the folder's generator checks, ready to fit cells
    (also how a spawned worker process rebuilds them)."""
    data, splits = load_splits(config)
    folder = RunFolder(out)
    runner = CellRunner(config, folder, splits, folder.read_generators().to_dict("records"), folder.read_artifacts())
    runner.data_name, runner.class_names = data.name, data.train.class_names
    runner.save_models = save_models
    return runner


def _run_grid(
    config: RunConfig,
    folder: RunFolder,
    rows: list[dict],
    quiet: bool,
    shard,
    tracker,
    workers,
    plan: Plan | None,
    save_models: str = "best",
    ray: RayExecutor | None = None,
) -> RunOutput:
    """The grid's cells not in ``rows`` (the finished ones), appended to ``rows``; then the report."""
    runner = build_runner(config, folder.root, save_models)
    d = config.data
    folder.root.mkdir(parents=True, exist_ok=True)
    save_config(config, folder.config)
    sizes = runner.splits[(d.budgets()[0], config.seeds[0])].summary()
    folder.write_manifest(
        {
            "name": runner.data_name,
            "class_names": runner.class_names,
            "split": sizes,
            "environment": describe_environment(config.train.device),
        }
    )
    cells, artifacts, checks = folder.read_cells(), list(runner.artifacts), list(runner.checks)
    done = {row_key(r) for r in rows}  # keyed by the config entry's name: one entry may write several rows
    grid = grid_cells(config, shard)
    order = {(s.display_name, budget_key(k), seed): i for i, (k, seed, s) in enumerate(grid_cells(config))}
    jobs = [
        CellJob(index, k, seed, entry)
        for index, (k, seed, entry) in enumerate(grid, 1)
        if (entry.display_name, budget_key(k), seed) not in done
    ]
    retried = {(job.entry.display_name, budget_key(job.budget), job.seed) for job in jobs}
    failed = [f for f in folder.read_failed() if row_key(f) not in retried]
    jobs = schedule(jobs)
    workers = resolve_workers(workers, len(jobs), config.train.device, tracker is not None) if ray is None else 1
    header(
        f"genclf run {runner.data_name}: {len(config.strategies)} strategies x {len(d.budgets())} budget(s) x "
        f"{len(config.seeds)} seed(s) = {len(grid)} cells ({len(jobs)} to run"
        f"{' as Ray tasks' if ray else f' in {workers} worker processes' if workers > 1 else ''}); "
        f"split: train {sizes['train']}, "
        f"val {sizes['val']}, test {sizes['test']}, unlabeled {sizes['unlabeled']}; output {folder.root}",
        quiet,
    )
    clock = eta_clock(config, jobs, runner.splits, workers, plan)
    bar = tqdm(total=len(jobs), desc="grid", unit="cell", disable=quiet or None)
    make = functools.partial(build_runner, config, folder.root, save_models)
    outputs = (
        run_cells(runner, jobs, workers, make)
        if ray is None
        else ray.map(config, folder, jobs, save_models, list(runner.checks), list(runner.artifacts))
    )
    for out in outputs:
        job = out.job
        eta = clock.finish(job.index, out.wall_seconds)
        bar.update()
        bar.set_postfix_str(f"{job.entry.display_name} k={budget_key(job.budget)} seed={job.seed}")
        if out.failed is not None:
            failed.append(out.failed)
            failed.sort(key=lambda f: order.get(row_key(f), len(order)))
            folder.write_failed(failed)
            log_line(
                f"cell {job.index}/{len(grid)} {job.entry.display_name} k={budget_key(job.budget)} seed={job.seed}: "
                f"FAILED ({out.failed['error'][:160]}); the run goes on{eta}",
                quiet,
            )
            continue
        rows += out.rows
        cells += out.cells
        known = {a["path"] for a in artifacts}
        if any(a["path"] not in known for a in out.artifacts):
            artifacts = sorted(
                artifacts + [a for a in out.artifacts if a["path"] not in known], key=lambda a: a["path"]
            )
            folder.write_artifacts(artifacts)
        checked = {check_key(c) for c in checks}
        if any(check_key(c) not in checked for c in out.checks):
            checks += [c for c in out.checks if check_key(c) not in checked]
            checks.sort(key=lambda c: (check_key(c)[1:], check_key(c)[0]))  # budget, seed, name: any finish order
            folder.write_generators(pd.DataFrame(checks))
        for row, scores in zip(out.rows, out.scores):
            if tracker is not None:
                tracker.metrics(scores, step=job.seed, prefix=f"results/{row['strategy']}/k{budget_key(job.budget)}")
            log_line(
                f"cell {job.index}/{len(grid)} {row['strategy']} k={budget_key(job.budget)} seed={job.seed}: "
                f"{config.primary_metric} {row[config.primary_metric]:.4f}  [{out.seconds:.0f} s]"
                f"{eta}",
                quiet,
            )
        rows.sort(key=lambda r: order.get(row_key(r), len(order)))  # canonical order, whatever finished first
        folder.write_results(with_mce(pd.DataFrame(rows), cells))
    bar.close()
    folder.write_failed(failed)  # a cell that failed before and succeeded now is no longer listed
    if failed and not rows:
        raise TrainingError(folder.failed, f"every cell failed ({len(failed)}); the first: {failed[0]['error'][:300]}")
    cells = folder.read_cells()  # in the folder's order, as 'genclf report' reads them, whatever finished first
    record = RunRecord(
        config,
        with_mce(pd.DataFrame(rows), cells),
        cells,
        folder.read_manifest(),
        artifacts,
        pd.DataFrame(checks),
        failed,
    )
    summary = render_run(record, folder)
    if save_models == "best" and shard is None:  # a shard keeps them all: 'genclf merge' chooses
        keep_models(folder, summary)
    return RunOutput(folder.root, record.results, summary)


def schedule(jobs: list[CellJob]) -> list[CellJob]:
    """The order cells start in. Generative cells first: they train the shared generators and take longest,
    so no worker idles at the end. Among them, one per (budget, seed) in turn: workers that start together
    train different seeds' shared generators and colorizers, instead of one training while the others wait
    for it (measured: the grey-camera config took 570 s in grid order, 396 s so, on 2 workers)."""
    turn, seen = {}, collections.Counter()
    for job in sorted(jobs, key=lambda job: job.index):
        if STRATEGIES.get(job.entry.name).role == GENERATIVE:  # the others share nothing: grid order
            turn[job.index] = seen[(budget_key(job.budget), job.seed)]
            seen[(budget_key(job.budget), job.seed)] += 1
    return sorted(
        jobs, key=lambda job: (STRATEGIES.get(job.entry.name).role != GENERATIVE, turn.get(job.index, 0), job.index)
    )


def keep_models(folder: RunFolder, summary: dict) -> list[str]:
    """Remove the saved classifiers of every strategy but each budget's recommended one and its baseline;
    returns the strategy folders kept (relative to the run folder)."""
    import shutil

    from genclf.run.folder import slug

    keep = {
        slug(name)
        for detail in summary["budgets_detail"].values()
        for name in (detail.get("recommended"), detail.get("baseline"))
        if name
    }
    root = folder.root / "models"
    if not root.is_dir():
        return []
    for strategy in root.iterdir():
        if strategy.is_dir() and strategy.name not in keep:
            shutil.rmtree(strategy, ignore_errors=True)
    return sorted(str(p.relative_to(folder.root)) for p in root.iterdir() if p.is_dir())


def row_key(row: dict) -> tuple:
    """A results row's (or a failed cell's) grid cell: (config entry, budget key, seed)."""
    entry = row.get("entry") if isinstance(row.get("entry"), str) else row["strategy"]
    return entry, budget_of(row["k_per_class"]), int(row["seed"])


def check_resumable(config: RunConfig, folder: RunFolder, rows: list[dict]) -> None:
    """Refuse to resume into a folder whose finished cells were made with another config: their results
    would be credited to this one. Cells of strategies, budgets or seeds the new config adds are fine."""
    if rows and any("role" not in row for row in rows):
        folder.refuse_old_run()
    expected = {
        (s.display_name, budget_key(k), seed): cell_hash(config, k, seed, s) for k, seed, s in grid_cells(config)
    }
    for row in rows:
        saved = row.get("config_hash")
        if (key := row_key(row)) in expected and isinstance(saved, str) and saved != expected[key]:
            previous = read_yaml(folder.config) if folder.config.is_file() else {}
            changed = "; ".join(config_changes(previous, to_dict(config))[:4]) or "the config"
            raise ConfigError(
                folder.root,
                f"holds finished cells made with another config ({changed}); resume with the same config, "
                "or run into a new --out",
            )


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
