"""Strategy benchmarks: run one of the shipped experiment configs (configs/*.yaml) on the real data in
../shared/datasets and keep its summary.

    python bench/strategies.py fashion_low_data   # or mnist_imbalance, fashion_imbalance, mnist_ssl_100
    python bench/strategies.py mnist_imbalance --set seeds=[0]

The run folder (results.csv, summary.json, figures, report.html) goes to runs/bench_<name>/ and is
resumable: run the same command again after an interruption. The summary, wall time and peak memory go to
bench/results/<name>.json; a table is printed.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

from genclf.config import RunConfig, load_config
from genclf.reporting.tables import format_table
from genclf.run.experiment import run_experiment

ROOT = Path(__file__).resolve().parent
REPO = ROOT.parent
METRICS = ("accuracy", "macro_f1", "acsa", "gmean", "train_seconds")


def _cell_seconds(results) -> float:
    """Fitting time summed over grid cells (a strategy with several result rows counts once)."""
    key = "entry" if "entry" in results else "strategy"
    return results.drop_duplicates(subset=[key, "k_per_class", "seed"])["train_seconds"].sum()


def run_benchmark(
    name: str, overrides: list[str], out: Path | None = None, metrics=METRICS, workers: int | str = 1
) -> dict:
    """Run configs/<name>.yaml (resumable), write bench/results/<name>.json, print the tables."""
    config = load_config(RunConfig, REPO / "configs" / f"{name}.yaml", overrides)
    out = out or REPO / "runs" / f"bench_{name}"
    began = time.perf_counter()
    result = run_experiment(config, out, workers=workers)
    wall = time.perf_counter() - began
    summary = result.summary
    keys = ("strategies", "headline", "verdicts", "comparisons", "best_classical", "robustness")
    report = {
        "benchmark": name,
        "command": " ".join(["python", *sys.argv]),
        "data": config.data.spec,
        "seeds": list(config.seeds),
        "wall_seconds_this_invocation": round(wall, 1),  # small when it only resumed finished cells
        "fit_seconds_all_cells": round(float(_cell_seconds(result.results)), 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "primary_metric": summary["primary_metric"],
        "split": summary.get("split"),
        "budgets": {
            budget: {key: detail[key] for key in keys if key in detail}
            for budget, detail in summary["budgets_detail"].items()
        },
    }
    path = ROOT / "results" / f"{name}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    for budget, detail in summary["budgets_detail"].items():
        print(f"\n{name}  k_per_class={budget}")
        print(format_table(detail["strategies"], metrics))
        print(detail["headline"])
        if detail.get("robustness"):
            print(detail["robustness"]["headline"])
    print(f"\nwrote {path} and {out / 'report.html'}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a config in configs/, without .yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--out", type=Path, help="run folder (default runs/bench_<name>)")
    parser.add_argument("--workers", default="1", help="worker processes fitting cells (N or auto; default 1)")
    args = parser.parse_args()
    run_benchmark(args.name, args.set, args.out, workers=args.workers)


if __name__ == "__main__":
    main()
