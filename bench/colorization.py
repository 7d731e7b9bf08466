"""Colorization benchmark: PSNR/SSIM of pix2pix and the L1-only U-Net against grey copied to RGB, and the
share of the colour -> grey accuracy drop that colorizing wins back, on genclf's `shapes` and on CIFAR-10
photos (../shared/datasets/cifar10-jpg).

    python bench/colorization.py [--only shapes|cifar10|cifar10_pretrained] [--workers N]

Runs configs/shapes_colorization.yaml and configs/cifar10_colorization.yaml (resumable, runs/bench_*),
writes bench/results/colorization.json and prints one table per dataset.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from strategies import ROOT, run_benchmark  # noqa: E402

CONFIGS = {
    "shapes": "shapes_colorization",
    "cifar10": "cifar10_colorization",
    "cifar10_pretrained": "cifar10_colorization_pretrained",
}
VIEWS = {
    "colour input (a)": "[colour input]",
    "grey input (b)": "[grey input]",
    "colorized (c)": "",
    "grey-trained (d)": "[grey-trained]",
}


def table(report: dict) -> dict:
    """Per colorizer: PSNR/SSIM, the four accuracies, and the recovered share (means over seeds)."""
    strategies = next(iter(report["budgets"].values()))["strategies"]
    rows = {}
    for name in (n for n in strategies if n.startswith("colorize_then_classify[") and n.count("[") == 1):
        main = strategies[name]
        row = {k: main[k]["mean"] for k in ("psnr", "ssim", "psnr_grey_baseline", "ssim_grey_baseline") if k in main}
        for label, suffix in VIEWS.items():
            row[f"accuracy {label}"] = strategies[name + suffix]["accuracy"]["mean"]
        share = main.get("recovered_share")
        row["recovered_share"] = share["mean"] if share else None
        row["recovered_share_std"] = share["std"] if share else None
        rows[name.removeprefix("colorize_then_classify[").rstrip("]")] = row
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=list(CONFIGS))
    parser.add_argument("--workers", default="1", help="worker processes fitting cells (N or auto; default 1)")
    args = parser.parse_args()
    path = ROOT / "results" / "colorization.json"
    results = json.loads(path.read_text()) if path.is_file() else {"benchmark": "colorization", "datasets": {}}
    for dataset, config in CONFIGS.items():
        if args.only and dataset != args.only:
            continue
        report = run_benchmark(config, [], workers=args.workers)
        results["datasets"][dataset] = {
            "config": f"configs/{config}.yaml",
            "seeds": report["seeds"],
            "fit_seconds_all_cells": report["fit_seconds_all_cells"],
            "colorizers": table(report),
        }
        path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"\n{dataset}")
        for colorizer, row in results["datasets"][dataset]["colorizers"].items():
            print(f"  {colorizer}: " + ", ".join(f"{k} {v:.4f}" for k, v in row.items() if v is not None))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
