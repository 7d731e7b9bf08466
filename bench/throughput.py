"""Training throughput: genclf's Trainer vs a plain hand-written fp32 PyTorch loop, same cnn, same data.

MNIST 28x28 from ../shared/datasets, batch 128. Runs are interleaved (genclf fp32, plain fp32, plain fp32 in
channels_last memory, genclf auto, then again) so machine noise hits all alike. genclf trains in
channels_last on CPU and CUDA in every precision; the plain loop is run both as most people write it
(contiguous) and in genclf's layout, which isolates the Trainer's own overhead. Writes
bench/results/throughput.json.

    python bench/throughput.py [--epochs 2] [--rounds 2] [--data idx:../shared/datasets/mnist]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.models import build_classifier
from genclf.pipelines.classify import predict_proba
from genclf.training.trainer import Trainer

ROOT = Path(__file__).resolve().parent
DEFAULT_DATA = f"idx:{ROOT.parents[1] / 'shared' / 'datasets' / 'mnist'}"


def accuracy(model, split) -> float:
    proba = predict_proba(model, split.test.images, split.normalization)
    return float((proba.argmax(1) == split.test.labels.numpy()).mean())


def run_genclf(split, epochs: int, batch: int, precision: str, seed: int, device: str = "cpu") -> dict:
    torch.manual_seed(seed)
    model = build_classifier("cnn", split.train.channels, split.train.num_classes, split.train.image_size)
    config = TrainConfig(epochs=epochs, batch_size=batch, lr=2e-3, precision=precision, device=device)
    trainer = Trainer(config, seed=seed, quiet=True)
    result = trainer.fit(model, split.train.images, split.train.labels, split.normalization)
    return {
        "img_per_s": result.images_per_second,
        "accuracy": accuracy(model, split),
        "resolved": trainer.precision.name,
    }


def run_plain(split, epochs: int, batch: int, seed: int, device: str = "cpu", channels_last: bool = False) -> dict:
    """The loop most people write: pre-normalised float tensors (on the device), randperm batches, AdamW, fp32
    (``channels_last``: model and images in channels_last memory)."""
    torch.manual_seed(seed)
    model = build_classifier("cnn", split.train.channels, split.train.num_classes, split.train.image_size).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    images = split.normalization.apply(split.train.images).to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
        images = images.contiguous(memory_format=torch.channels_last)
    labels = split.train.labels.to(device)
    steps = epochs * (len(images) // batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    seen, seconds = 0, 0.0
    for _ in range(epochs):
        model.train()
        began = time.perf_counter()
        order = torch.randperm(len(images), device=device)
        for start in range(0, len(images) - batch + 1, batch):
            index = order[start : start + batch]
            loss = F.cross_entropy(model(images[index]), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            seen += batch
        if device == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - began
    model.to(memory_format=torch.contiguous_format)
    return {"img_per_s": seen / seconds, "accuracy": accuracy(model, split)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "throughput.json")
    args = parser.parse_args()
    split = make_split(load_dataset(args.data), 0, val_fraction=0.0)
    runs: dict[str, list[dict]] = {
        "genclf_fp32": [],
        "plain_fp32": [],
        "plain_fp32_channels_last": [],
        "genclf_auto": [],
    }
    for round_index in range(args.rounds):
        runs["genclf_fp32"].append(run_genclf(split, args.epochs, args.batch_size, "fp32", round_index))
        runs["plain_fp32"].append(run_plain(split, args.epochs, args.batch_size, round_index))
        runs["plain_fp32_channels_last"].append(
            run_plain(split, args.epochs, args.batch_size, round_index, channels_last=True)
        )
        runs["genclf_auto"].append(run_genclf(split, args.epochs, args.batch_size, "auto", round_index))
        print(
            f"round {round_index + 1}: " + ", ".join(f"{k} {v[-1]['img_per_s']:.0f} img/s" for k, v in runs.items()),
            flush=True,
        )
    table = {
        name: {
            "img_per_s": statistics.median(r["img_per_s"] for r in results),
            "accuracy": statistics.mean(r["accuracy"] for r in results),
        }
        for name, results in runs.items()
    }
    plain = table["plain_fp32"]["img_per_s"]
    report = {
        "benchmark": "throughput",
        "data": args.data,
        "model": "cnn",
        "batch_size": args.batch_size,
        "epochs_per_run": args.epochs,
        "rounds": args.rounds,
        "auto_resolved_to": runs["genclf_auto"][0]["resolved"],
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "results": table,
        "ratio_genclf_fp32_over_plain": table["genclf_fp32"]["img_per_s"] / plain,
        "ratio_genclf_auto_over_plain": table["genclf_auto"]["img_per_s"] / plain,
        "ratio_genclf_fp32_over_plain_channels_last": table["genclf_fp32"]["img_per_s"]
        / table["plain_fp32_channels_last"]["img_per_s"],
        "paired_ratios_genclf_fp32_over_plain": [
            g["img_per_s"] / p["img_per_s"] for g, p in zip(runs["genclf_fp32"], runs["plain_fp32"])
        ],
        "accuracy_gap_auto_minus_fp32_points": 100
        * (table["genclf_auto"]["accuracy"] - table["genclf_fp32"]["accuracy"]),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\n{'run':<26}{'img/s':>10}{'test acc':>10}{'ratio':>8}")
    for name, row in table.items():
        print(f"{name:<26}{row['img_per_s']:>10.0f}{row['accuracy']:>10.4f}{row['img_per_s'] / plain:>8.2f}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
