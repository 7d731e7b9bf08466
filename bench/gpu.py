"""One GPU session's worth of benchmarks, ready to go: classifier throughput (genclf Trainer vs a plain loop),
the cgan and cvae on MNIST (CAS, FID), and MNIST with 100 labels (FixMatch and the semi-supervised GAN,
test errors), at bf16 (or 16-mixed where bf16 is not native), printing one JSON.

    bash bench/gpu.sh                 # on a CUDA machine: full budget, within 10 minutes on one H100-class GPU
    python bench/gpu.py --reduced     # anywhere (CPU included): tiny data and budgets, checks the pipeline

Needs ../shared/datasets/mnist for the full run (the reduced run uses scikit-learn's digits). Never
required: CI runs only the reduced mode (tests/test_bench.py). Writes bench/results/gpu.json (full) or the
--out path.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genclf.classify import train_classifier
from genclf.config import StrategyConfig, TrainConfig
from genclf.data import load_dataset, make_split
from genclf.environment import describe_environment
from genclf.evaluation.generator_quality import assess_generator, assessment_budget
from genclf.generation import train_generator
from genclf.strategies import Context, build_strategy

ROOT = Path(__file__).resolve().parent
MNIST = ROOT.parents[1] / "shared" / "datasets" / "mnist"

FULL = {
    "throughput_epochs": 3,
    "generators": {"cgan": 15, "cvae": 10},
    "ssl_epochs": {"fixmatch": 60, "semi_supervised_gan": 60},
    "batch_size": 256,
    "assess_epochs": None,  # genclf's assessment budget (about 1,500 steps)
}
REDUCED = {
    "throughput_epochs": 1,
    "generators": {"cgan": 1, "cvae": 1},
    "ssl_epochs": {"fixmatch": 1, "semi_supervised_gan": 1},
    "batch_size": 64,
    "assess_epochs": 2,
}


def precision_for(device: str) -> str:
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "auto"


def timed(function):
    began = time.perf_counter()
    value = function()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return value, time.perf_counter() - began


def throughput(split, budget: dict, device: str, precision: str) -> dict:
    config = TrainConfig(
        epochs=budget["throughput_epochs"], batch_size=budget["batch_size"], precision=precision, device=device
    )
    trained, fit = train_classifier(split, "cnn", config, 0, quiet=True)
    accuracy = float((trained.predict_proba(split.test.images).argmax(1) == split.test.labels.numpy()).mean())
    return {
        "images_per_second": round(fit.images_per_second, 1),
        "precision": precision,
        "test_accuracy": round(accuracy, 4),
    }


def generators(split, budget: dict, device: str, precision: str) -> dict:
    out = {}
    for name, epochs in budget["generators"].items():
        config = TrainConfig(epochs=epochs, batch_size=budget["batch_size"], precision=precision, device=device)
        (trained, fit), seconds = timed(lambda: train_generator(split.train, name, config, 0, quiet=True))  # noqa: B023
        assess = assessment_budget(len(split.train))
        if budget["assess_epochs"] is not None:
            assess = TrainConfig(epochs=budget["assess_epochs"], batch_size=64)
        scores = assess_generator(trained, split, assess, per_class=100)
        out[name] = {
            "epochs": epochs,
            "train_seconds": round(seconds, 1),
            "cas": round(scores["cas"], 4),
            "fid": round(scores["fid"], 3),
        }
    return out


def semi_supervised(data, budget: dict, device: str, precision: str) -> dict:
    split = make_split(data, 0, k_per_class=10)
    config = TrainConfig(epochs=budget["ssl_epochs"]["fixmatch"], batch_size=64, precision=precision, device=device)
    out = {}
    for name, epochs in budget["ssl_epochs"].items():
        params = {"epochs": epochs} if name == "semi_supervised_gan" else {}
        strategy = build_strategy(StrategyConfig(name, params=params))
        _, seconds = timed(lambda: strategy.fit(split, Context(0, config)))  # noqa: B023
        errors = int((strategy.predict_proba(split.test.images).argmax(1) != split.test.labels.numpy()).sum())
        out[name] = {"test_errors": errors, "n_test": len(split.test), "seconds": round(seconds, 1)}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reduced", action="store_true", help="tiny data and budgets (any device, e.g. in CI)")
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/gpu.json; none when --reduced)")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu" and not args.reduced:
        parser.error("no CUDA device: run on a GPU machine, or pass --reduced to check the pipeline")
    budget = REDUCED if args.reduced else FULL
    spec = "digits" if args.reduced or not MNIST.is_dir() else f"idx:{MNIST}"
    precision = precision_for(device)
    data = load_dataset(spec)
    split = make_split(data, 0, k_per_class=30 if args.reduced else None)
    began = time.perf_counter()
    report = {
        "benchmark": "gpu",
        "mode": "reduced" if args.reduced else "full",
        "data": spec,
        "environment": describe_environment(device),
        "throughput": throughput(split, budget, device, precision),
        "generators": generators(split, budget, device, precision),
        "semi_supervised_100_labels": semi_supervised(data, budget, device, precision),
    }
    report["wall_seconds"] = round(time.perf_counter() - began, 1)
    text = json.dumps(report, indent=2)
    print(text)
    out = args.out or (None if args.reduced else ROOT / "results" / "gpu.json")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")


if __name__ == "__main__":
    main()
