"""Generator benchmark: train cgan, cvae and ddpm on MNIST and Fashion-MNIST (../shared/datasets),
then score them offline (FID/KID/PRDC in a genclf classifier's feature space, and CAS).

    python bench/generators.py [--models cgan] [--epochs cvae=8 cgan=8 ddpm=4] [--datasets mnist fashion-mnist]
    python bench/generators.py --models cgan --datasets mnist --epochs cgan=5 --tag 10min \
        --out bench/results/generators_cgan_10min.json      # a shorter schedule, kept apart
    python bench/generators.py --models cgan --datasets mnist --option cgan.upsample=true ...   # a model option

Writes bench/results/generators.json and bench/results/samples_<model>_<dataset>.png; the trained
generators go to runs/bench_generators/<model>_<dataset>/ (re-score one with `genclf evaluate-generator`).
CAS follows Ravuri & Vinyals (2019): by default the synthetic training set has as many images per class as
the real training split (--per-class N for a smaller one).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import yaml

from genclf.classify import train_classifier
from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.evaluation.generator_quality import assess_generator, assessment_budget
from genclf.generation import save_generator, train_generator
from genclf.reporting.plots import sample_grid

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[1] / "shared" / "datasets"
BUDGETS = {
    "cvae": TrainConfig(epochs=5, batch_size=128, lr=2e-3),
    "cgan": TrainConfig(epochs=20, batch_size=128, lr=2e-3),
    "ddpm": TrainConfig(epochs=1, batch_size=128, lr=2e-3),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"])
    parser.add_argument("--models", nargs="+", default=list(BUDGETS))
    parser.add_argument("--epochs", nargs="*", default=[], metavar="MODEL=N", help="override epochs per model")
    parser.add_argument(
        "--per-class",
        type=int,
        default=None,
        help="generated images per class for CAS and FID (default: as many as real)",
    )
    parser.add_argument(
        "--option", action="append", default=[], metavar="MODEL.KEY=VALUE", help="generator option (YAML value)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator and scoring seed (default: 0)")
    parser.add_argument("--checkpoints", type=Path, default=ROOT.parent / "runs" / "bench_generators")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "generators.json")
    parser.add_argument("--tag", default="", help="suffix of the sample grids' and checkpoints' names (e.g. 10min)")
    args = parser.parse_args()
    for item in args.epochs:
        name, value = item.split("=")
        BUDGETS[name] = TrainConfig(**{**vars(BUDGETS[name]), "epochs": int(value)})
    options: dict[str, dict] = {}
    for item in args.option:
        key, value = item.split("=", 1)
        model, name = key.split(".", 1)
        options.setdefault(model, {})[name] = yaml.safe_load(value)
    report = json.loads(args.out.read_text()) if args.out.is_file() else {"benchmark": "generators", "results": {}}
    suffix = f"_{args.tag}" if args.tag else ""
    for dataset in args.datasets:
        data = load_dataset(f"idx:{SHARED / dataset}")
        split = make_split(data, 0)
        budget = assessment_budget(len(split.train))
        began = time.perf_counter()
        real_classifier, _ = train_classifier(split, "cnn", budget, 0, quiet=True)
        print(f"{dataset}: real-data classifier trained in {time.perf_counter() - began:.0f} s", flush=True)
        for model in args.models:
            began = time.perf_counter()
            trained, fit = train_generator(
                split.train, model, BUDGETS[model], seed=args.seed, options=options.get(model)
            )
            train_seconds = time.perf_counter() - began
            save_generator(
                args.checkpoints / f"{model}_{dataset}{suffix}", trained, data={"spec": f"idx:{SHARED / dataset}"}
            )
            torch.manual_seed(args.seed)
            metrics = assess_generator(
                trained,
                split,
                assessment_budget(len(split.train)),
                seed=args.seed,
                per_class=args.per_class,
                quiet=False,
                real_classifier=real_classifier,  # the feature space and reference: trained once, seed 0
            )
            samples = trained.sample_per_class(10, seed=args.seed)
            grid = sample_grid(
                samples.images,
                samples.labels,
                samples.class_names,
                ROOT / "results" / f"samples_{model}_{dataset}{suffix}.png",
                per_class=10,
                title=f"{model} on {dataset}",
            )
            row = {
                "train_seconds": round(train_seconds, 1),
                "epochs": BUDGETS[model].epochs,
                "options": options.get(model, {}),
                "seed": args.seed,
                "train_img_per_s": round(fit.images_per_second, 1),
                "sample_grid": str(grid.relative_to(ROOT)),
                **{k: v for k, v in metrics.items() if k != "per_class_generated_accuracy"},
                "per_class_generated_accuracy": metrics["per_class_generated_accuracy"],
            }
            report["results"][f"{model}/{dataset}"] = row
            args.out.write_text(
                json.dumps(
                    report, indent=2, default=lambda o: None if isinstance(o, float) and math.isnan(o) else str(o)
                )
                + "\n"
            )
            print(
                f"{dataset:>14} {model:>5}: train {train_seconds:6.0f} s  FID {row['fid']:8.2f} (floor {row['fid_floor_real_train_vs_test']:.2f})  P {row['precision']:.3f} R {row['recall']:.3f}  CAS {row['cas']:.4f}  real {row['real_data_accuracy']:.4f}",
                flush=True,
            )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
