"""What is done with finished run folders: re-render one's report, merge the shards of one config."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from genclf.config import RunConfig, load_config, save_config, to_dict
from genclf.errors import ConfigError
from genclf.reporting.run_report import render_run
from genclf.run.experiment import RunOutput, grid_cells, keep_models, row_key, with_mce
from genclf.run.folder import RunFolder, RunRecord, budget_key, budget_of

__all__ = ["merge_runs", "report_run"]


def report_run(out: str | Path) -> RunOutput:
    """Re-render summary.json, figures and report.html of a finished run folder from what it recorded."""
    folder = RunFolder(out)
    folder.require_run()
    with folder.locked("report"):
        record = folder.load(load_config(RunConfig, folder.config))
        if "role" not in record.results:
            folder.refuse_old_run()
        try:
            summary = render_run(record, folder)
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # a record the schema let through
            raise ConfigError(
                folder.root,
                f"holds a record genclf cannot render ({type(exc).__name__}: {str(exc)[:80]}); if no file in it "
                "was edited or received, please report this as a bug",
            ) from None
        return RunOutput(folder.root, record.results, summary)


def merge_runs(folders: list[str | Path], out: str | Path) -> RunOutput:
    """Combine the run folders of shards of one config (``genclf run --shard i/N``) into ``out``: their
    results.csv rows in the grid's canonical order, cells/, generators/ and artifacts, then the report."""
    shards, target = [RunFolder(f) for f in folders], RunFolder(out)
    configs = []
    for shard in shards:
        shard.require_run()
        configs.append(load_config(RunConfig, shard.config))
    config = configs[0]
    for shard, other in zip(shards[1:], configs[1:]):
        if to_dict(other) != to_dict(config):
            raise ConfigError(
                shard.root, f"its config.yaml differs from {shards[0].root}'s: shards must share one config"
            )
    results = pd.concat([shard.read_results() for shard in shards], ignore_index=True)
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
    with target.locked("merge"):
        save_config(config, target.config)
        artifacts: list[dict] = []
        for shard in shards:
            if shard.root.resolve() != target.root.resolve():
                for source, dest in (
                    (shard.cells_dir, target.cells_dir),
                    (shard.generators_dir, target.generators_dir),
                    (shard.artifacts_dir, target.artifacts_dir),
                    (shard.history_dir, target.history_dir),
                    (shard.root / "models", target.root / "models"),
                ):
                    if source.is_dir():
                        shutil.copytree(source, dest, dirs_exist_ok=True)
            artifacts += [a for a in shard.read_artifacts() if a not in artifacts]
        target.write_manifest(shards[0].read_manifest())
        target.write_artifacts(artifacts)
        # every shard checked the generators of its (budget, seed) cells: their checks gate the merged verdicts too
        checks = pd.concat([shard.read_generators() for shard in shards], ignore_index=True)
        if len(checks):
            checks = checks.drop_duplicates(subset=["generator", "k_per_class", "seed"]).reset_index(drop=True)
            target.write_generators(checks)
        done = {row_key(row) for row in results.to_dict("records")}
        failed = [f for shard in shards for f in shard.read_failed() if row_key(f) not in done]
        target.write_failed(failed)
        cells = target.read_cells()
        results = with_mce(results.drop(columns=["mce"], errors="ignore"), cells)
        target.write_results(results)
        record = RunRecord(config, results, cells, target.read_manifest(), artifacts, checks, failed)
        summary = render_run(record, target)
        keep_models(target, summary)  # the shards kept every model; the merged verdict recommends one strategy
        return RunOutput(target.root, results, summary)
