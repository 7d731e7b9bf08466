"""Robustness benchmark: MNIST (../shared/datasets) with 100 labeled images per class; baseline, classic
augmentation and generative strategies, each scored on the clean test set, under 9 corruptions x 5
severities (mean corruption accuracy, mCE relative to baseline), under FGSM/PGD, and for calibration (ECE).

    python bench/robustness.py [--set seeds=[0]]

Runs configs/mnist_robustness.yaml into runs/bench_mnist_robustness/ (resumable) and writes
bench/results/mnist_robustness.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from strategies import run_benchmark  # noqa: E402

METRICS = ("accuracy", "corruption_accuracy", "mce", "pgd_acc@0.1", "ece")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    args = parser.parse_args()
    run_benchmark("mnist_robustness", args.set, metrics=METRICS)


if __name__ == "__main__":
    main()
