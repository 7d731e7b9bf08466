"""Where a training step's time goes: torch.profiler over one short epoch of each model genclf trains.

Models: the cnn classifier, cgan, cvae, ddpm (MNIST 28x28 grey, 2,048 images), pix2pix (CIFAR-10 32x32
colour, 1,024 images) and the semi-supervised GAN (MNIST, 100 labeled + 2,048 unlabeled). Each runs
through genclf's own pipeline (Trainer, batching, augmentation, optimizer) at the precision it resolves to
(``--precision auto`` by default). Self CPU time of the profiled operators is grouped into convolution
(transposed ones included: the profiler names both aten::convolution), normalisation, linear/matmul, optimizer, data movement and elementwise/other; wall
time not spent in any operator is Python and framework overhead. Without ../shared/datasets, random images
of the same shapes are used (the breakdown depends on shapes, not content).

    python bench/step_profile.py [--precision auto|fp32] [--models cnn,cgan,...] [--images 2048]

Writes bench/results/profile_<precision>.json and prints a table (percent of wall time per group).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch

from genclf.config import TrainConfig
from genclf.data import ImageSet, load_dataset
from genclf.training.fit import Fit

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[1] / "shared" / "datasets"
GROUPS = {
    "convolution": ("conv", "mkldnn_convolution", "_convolution"),
    "normalisation": ("batch_norm", "group_norm", "layer_norm", "instance_norm", "native_norm"),
    "linear/matmul": ("addmm", "aten::mm", "bmm", "matmul", "linear"),
    "optimizer": ("optimizer.step", "_fused_adam", "adam", "_foreach_"),
    "data movement": ("copy_", "aten::to", "_to_copy", "index", "cat", "stack", "contiguous", "clone", "permute"),
}
MODELS = ("cnn", "cgan", "cvae", "ddpm", "pix2pix", "semi_supervised_gan")


def group_of(name: str) -> str:
    lowered = name.lower()
    for group, keys in GROUPS.items():
        if any(key in lowered for key in keys):
            return group
    return "elementwise/other"


def data(kind: str, n: int) -> ImageSet:
    if kind == "grey":
        if (SHARED / "mnist").is_dir():
            train = load_dataset(f"idx:{SHARED / 'mnist'}").train
            return train.subset(torch.arange(n))
        return ImageSet(
            torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8), torch.arange(n) % 10, list("0123456789")
        )
    if (SHARED / "cifar10-jpg").is_dir():
        train = load_dataset(f"folder:{SHARED / 'cifar10-jpg'}", 32, 3).train
        return train.subset(torch.arange(0, len(train), max(1, len(train) // n))[:n])
    return ImageSet(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8), torch.arange(n) % 10, list("0123456789"))


def job(model: str, n: int, precision: str):
    """A zero-argument function that trains ``model`` for one epoch through genclf's pipeline."""
    config = TrainConfig(epochs=1, batch_size=64, precision=precision, device="cpu")
    if model == "cnn":
        from genclf.data.splits import Normalization, Split
        from genclf.pipelines.classify import train_classifier

        images = data("grey", n)
        split = Split(
            images,
            images.subset(torch.arange(64)),
            images.subset(torch.arange(64)),
            None,
            Normalization.fit(images.images),
        )
        return lambda: train_classifier(split, "cnn", Fit(config, 0, quiet=True))
    if model in ("cgan", "cvae", "ddpm"):
        from genclf.pipelines.generate import train_generator

        images = data("grey", n)
        return lambda: train_generator(images, model, Fit(config, 0, quiet=True))
    if model == "pix2pix":
        from genclf.pipelines.colorize import train_colorizer

        images = data("colour", n // 2)
        return lambda: train_colorizer(images, "pix2pix", Fit(config, 0, quiet=True))
    from genclf.config import StrategyConfig
    from genclf.data.splits import Normalization, Split
    from genclf.strategies import Context, build_strategy

    images = data("grey", n + 164)
    labeled, val, pool = (
        images.subset(torch.arange(100)),
        images.subset(torch.arange(100, 164)),
        images.subset(torch.arange(164, n + 164)),
    )
    split = Split(labeled, val, val, pool, Normalization.fit(labeled.images))
    strategy = build_strategy(StrategyConfig("semi_supervised_gan", params={"epochs": 1}))
    return lambda: strategy.fit(split, Context(0, config))


def profile(model: str, n: int, precision: str) -> dict:
    run = job(model, n, precision)
    run()  # warm-up: allocator, kernels, lazy imports
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        began = time.perf_counter()
        run()
        wall = time.perf_counter() - began
    groups: dict[str, float] = {}
    top = prof.key_averages()
    for event in top:
        # top-level operators only would need the call tree; self time counts each microsecond once
        groups[group_of(event.key)] = groups.get(group_of(event.key), 0.0) + event.self_cpu_time_total / 1e6
    op_seconds = sum(groups.values())
    threads = torch.get_num_threads()
    # self CPU time sums over intra-op threads' work as measured on the calling thread; clip at wall time
    overhead = max(0.0, wall - op_seconds)
    shares = {k: round(100 * v / wall, 1) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])}
    shares["python/framework overhead"] = round(100 * overhead / wall, 1)
    heaviest = sorted(top, key=lambda e: -e.self_cpu_time_total)[:6]
    return {
        "model": model,
        "wall_seconds": round(wall, 2),
        "threads": threads,
        "percent_of_wall": shares,
        "top_ops": [(e.key, round(e.self_cpu_time_total / 1e6, 3)) for e in heaviest],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32"))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--images", type=int, default=2048)
    parser.add_argument("--out", type=Path, help="JSON path (default bench/results/profile_<precision>.json)")
    args = parser.parse_args()
    results = [profile(m, args.images, args.precision) for m in args.models.split(",")]
    report = {
        "benchmark": "profile",
        "command": f"python bench/step_profile.py --precision {args.precision} --images {args.images}",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "capability": torch.backends.cpu.get_cpu_capability(),
            "torch": torch.__version__,
        },
        "results": results,
    }
    out = args.out or ROOT / "results" / f"profile_{args.precision}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    columns = [
        "convolution",
        "normalisation",
        "linear/matmul",
        "optimizer",
        "data movement",
        "elementwise/other",
        "python/framework overhead",
    ]
    print(f"{'model':<22}{'wall s':>8}  " + "  ".join(f"{c[:12]:>12}" for c in columns))
    for r in results:
        print(
            f"{r['model']:<22}{r['wall_seconds']:>8.2f}  "
            + "  ".join(f"{r['percent_of_wall'].get(c, 0.0):>11.1f}%" for c in columns)
        )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
