"""The main job's commands: run, merge (shards of one run), report (re-render a finished run).

Parsing and its errors import nothing heavy (help and usage errors answer within a second): the runner,
torch and pandas are imported by the handlers, once the arguments and the config are known to be good.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from genclf.catalogue import EXECUTORS, SAVE_POLICIES, STRATEGY_ROLES
from genclf.cli.common import (
    EXIT_PARTIAL,
    Command,
    add_common,
    config_from_args,
    default_config_path,
    default_out,
    resolve_config,
    shipped_configs,
)
from genclf.config import RunConfig, to_dict
from genclf.files import check_output_folder

if TYPE_CHECKING:
    from genclf.run.experiment import RunOutput


def run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "config_file",
        nargs="?",
        type=Path,
        help="YAML config file, or the name of a shipped config (" + ", ".join(shipped_configs()) + "); "
        "default: with --data, a plan derived from the data; without, the built-in digits low-data demonstration",
    )
    add_common(p)
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan (grid, cells, estimated wall time from a short timing probe) and stop",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        metavar="MINUTES",
        help="scale epochs (then seeds) down so the estimated wall time fits",
    )
    p.add_argument("--seeds", type=int, nargs="+", help="seeds to run (default from the config)")
    p.add_argument(
        "--shard",
        metavar="I/N",
        help="run only the I-th of N deterministic slices of the budget x seed x strategy grid "
        "(one per machine; combine the run folders with 'genclf merge')",
    )
    p.add_argument(
        "--save-models",
        choices=SAVE_POLICIES,
        default="best",
        help="cell classifiers kept in RUN/models/: best = every seed of the recommended strategy and of the "
        "baseline (default), all, or none",
    )
    p.add_argument(
        "--workers",
        default=os.environ.get("GENCLF_WORKERS", "auto"),
        metavar="N|auto",
        help="processes fitting grid cells at once, one thread each; auto: one per CPU core (at most 8) on CPU, "
        "1 on a GPU or with --log-to (default: $GENCLF_WORKERS, else %(default)s)",
    )

    p.add_argument(
        "--executor",
        choices=EXECUTORS,
        default=os.environ.get("GENCLF_EXECUTOR", "local"),
        help="where cells are fitted: local = this machine's worker pool; ray = tasks on a Ray cluster, no shared "
        "file system needed (pip install 'genclf[ray]') (default: $GENCLF_EXECUTOR, else %(default)s)",
    )
    p.add_argument(
        "--address",
        help="with --executor ray: the cluster, auto (the one 'ray start' joined this machine to) or "
        "ray://HOST:PORT (default: a local Ray instance on this machine's cores)",
    )
    p.add_argument("--cpus-per-cell", type=float, default=1.0, help="with --executor ray: CPUs per cell (default: 1)")
    p.add_argument(
        "--gpus-per-cell", type=float, default=0.0, help="with --executor ray: GPUs per cell, e.g. 0.25 (default: 0)"
    )


def cmd_run(args: argparse.Namespace) -> int | None:
    if args.config_file is not None and args.config is not None:
        raise_both(args)
    if args.seed is not None and args.seeds is None:
        args.seeds = [args.seed]
    chosen = args.config_file or args.config
    if chosen is None and args.data is not None:  # a plan derived from the data
        from genclf.run import plan

        planned = plan.plan_run(args.data, seeds=args.seeds)
        config = config_from_args(RunConfig, args, drop=("seed",), base=to_dict(planned.config))
    else:
        path = resolve_config(chosen) if chosen is not None else default_config_path()
        config = config_from_args(RunConfig, args, path, drop=("seed",))
        from genclf.run import plan  # the config is good: now the runner

        planned = plan.Plan(config, plan.survey(config.data.spec)) if args.dry_run or args.time_budget else None
    from genclf.run.executor import check_executor
    from genclf.run.experiment import grid_cells, parse_shard, run_experiment, validate_run_config
    from genclf.run.pool import resolve_workers

    shard = parse_shard(args.shard)
    check_executor(args.executor, args.address, args.cpus_per_cell, args.gpus_per_cell)
    if planned is not None:
        validate_run_config(config)  # a bad config is refused before the probe trains anything
        planned.config = config
        cells = len(grid_cells(config, shard))
        workers = resolve_workers(args.workers, cells, config.train.device, bool(args.log_to))
        plan.estimate(planned, workers)
        if args.time_budget is not None:
            plan.fit_time_budget(planned, args.time_budget)
            config = planned.config
        print(plan.describe(planned), flush=True)
        if args.dry_run:
            return
    out = check_output_folder(args.out or default_out("run"))
    args.out = out  # where environment.json goes
    result = run_experiment(
        config,
        out,
        quiet=args.quiet,
        shard=shard,
        log_to=args.log_to,
        workers=args.workers,
        plan=planned,
        save_models=args.save_models,
        executor=args.executor,
        address=args.address,
        cpus_per_cell=args.cpus_per_cell,
        gpus_per_cell=args.gpus_per_cell,
    )
    if shard is not None:
        print(f"shard {shard[0]}/{shard[1]} done; combine all shards with: genclf merge RUN_DIRS... --out DIR")
    print_run(result)
    failed = result.summary.get("failed_cells", [])
    if failed:  # the run finished without them: a partial answer, said by the exit code too
        sys.stderr.write(
            f"genclf: {len(failed)} cell(s) failed (errors in {Path(out) / 'failed.json'}); "
            "run the same command again to retry them\n"
        )
        return EXIT_PARTIAL
    return None


def raise_both(args: argparse.Namespace) -> None:
    from genclf.errors import ConfigError

    raise ConfigError(
        "--config", f"give the config once: as CONFIG ({args.config_file}) or as --config ({args.config})"
    )


def merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("runs", nargs="+", type=Path, help="run folders of the shards")
    p.add_argument("--out", type=Path, required=True, help="folder of the merged run")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def cmd_merge(args: argparse.Namespace) -> None:
    from genclf.run.finished import merge_runs

    result = merge_runs(args.runs, args.out)
    print(f"merged {len(args.runs)} run folder(s), {len(result.results)} results rows")
    print_run(result)


def report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", type=Path, help="folder of a finished 'genclf run'")


def cmd_report(args: argparse.Namespace) -> None:
    from genclf.run.finished import report_run

    print_run(report_run(args.run_dir))


def print_run(result: RunOutput) -> None:
    from genclf.reporting.tables import COLORIZATION, colorization_rows, format_table

    for budget, block in result.summary["budgets_detail"].items():
        print(f"\n== {budget} labeled per class ==" if budget != "all" else "\n== all labeled images ==")
        print(format_table(block["strategies"]))
        colorized = colorization_rows(block["strategies"])
        if colorized:
            print(format_table(colorized, COLORIZATION))
        for name, lines in block["verdicts"].items():
            print(f"  {name}: {lines[0]}")
        for warning in block.get("warnings", []):
            print(f"warning: {warning}")
        print(block["headline"])
        if block.get("recommendation"):
            print(block["recommendation"])
        if block.get("robustness"):
            print(block["robustness"]["headline"])
    for cell in result.summary.get("failed_cells", []):
        k = "all" if cell["k_per_class"] is None else cell["k_per_class"]
        print(f"warning: cell {cell['strategy']} k={k} seed={cell['seed']} failed: {cell['error']}")
    out = result.folder
    print(f"\nreport: {out / 'report.html'}\nresults: {out / 'results.csv'}\nsummary: {out / 'summary.json'}")


COMMANDS = [
    Command(
        "run",
        "Run an experiment config (default: the built-in digits low-data config). Strategies (role): "
        + ", ".join(f"{name} ({role})" for name, role in STRATEGY_ROLES.items())
        + ".",
        run_arguments,
        cmd_run,
    ),
    Command(
        "merge",
        "Concatenate the shards' results.csv in grid order, copy their cells, generators and artifacts, and rebuild "
        "summary.json, the figures and report.html. The shards must share one config.",
        merge_arguments,
        cmd_merge,
    ),
    Command(
        "report",
        "Rebuild a run folder's report from what the run recorded (results.csv, cells, artifacts): no training, "
        "no data loading.",
        report_arguments,
        cmd_report,
    ),
]
