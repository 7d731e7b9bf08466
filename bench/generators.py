"""Generator benchmark: train cgan, cvae and ddpm on MNIST and Fashion-MNIST (../shared/datasets),
then score them offline (FID/KID/PRDC in a genclf classifier's feature space, and CAS).

    python bench/generators.py [--models cgan] [--epochs cvae=8 cgan=8 ddpm=4] [--datasets mnist fashion-mnist]
    python bench/generators.py --models cgan --datasets mnist --epochs cgan=5 --tag 10min \
        --out bench/results/generators_cgan_10min.json      # a shorter schedule, kept apart
    python bench/generators.py --models cgan --datasets mnist --option cgan.upsample=true ...   # a model option

Writes bench/results/generators.json and bench/results/samples_<model>_<dataset>.png; the trained
generators go to runs/bench_generators/<model>_<dataset>/ (re-score one with `genclf evaluate-generator`).
The real-data reference classifier (seed 0, the same for every generator and seed) is cached in
runs/bench_generators/reference/, keyed by the dataset, its budget and genclf's source: a trial of another
generator option reuses it, any change to genclf's code retrains it (--retrain-reference forces it).
CAS follows Ravuri & Vinyals (2019): by default the synthetic training set has as many images per class as
the real training split (--per-class N for a smaller one).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import torch
import yaml

import genclf
from genclf.config import TrainConfig, config_hash
from genclf.data import load_dataset, make_split
from genclf.evaluation.generator_quality import assess_generator, assessment_budget
from genclf.pipelines.classify import TrainedClassifier, load_classifier, save_classifier, train_classifier
from genclf.pipelines.generate import save_generator, train_generator
from genclf.reporting.plots import sample_grid
from genclf.training.fit import Fit

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[1] / "shared" / "datasets"
BUDGETS = {
    "cvae": TrainConfig(epochs=5, batch_size=128, lr=2e-3),
    "cgan": TrainConfig(epochs=20, batch_size=128, lr=2e-3),
    "ddpm": TrainConfig(epochs=1, batch_size=128, lr=2e-3),
}


def source_digest() -> str:
    """A digest of genclf's Python source: a cached reference classifier is reused only by the same code."""
    digest = hashlib.sha256()
    for path in sorted(Path(genclf.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()


def reference_classifier(
    split, spec: str, budget: TrainConfig, cache: Path, retrain: bool = False
) -> tuple[TrainedClassifier, str]:
    """The real-data cnn (seed 0) that scores every generator: from ``cache`` when one matches (unless
    ``retrain``), else trained and stored there. Returns it and where it came from."""
    folder = cache / config_hash({"data": spec, "budget": vars(budget), "source": source_digest()})
    if not retrain and (folder / "model.json").is_file():
        return load_classifier(folder), f"read from {folder}"
    began = time.perf_counter()
    trained, _ = train_classifier(split, "cnn", Fit(budget, 0, quiet=True))
    save_classifier(folder, trained, data={"spec": spec})
    return trained, f"trained in {time.perf_counter() - began:.0f} s, cached in {folder}"


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
    parser.add_argument(
        "--retrain-reference", action="store_true", help="train the reference classifier even when one is cached"
    )
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
        spec = f"idx:{SHARED / dataset}"
        data = load_dataset(spec)
        split = make_split(data, 0)
        budget = assessment_budget(len(split.train))
        cache = args.checkpoints / "reference"
        real_classifier, where = reference_classifier(split, spec, budget, cache, args.retrain_reference)
        print(f"{dataset}: real-data classifier {where}", flush=True)
        for model in args.models:
            began = time.perf_counter()
            trained, fit = train_generator(
                split.train, model, Fit(BUDGETS[model], args.seed), options=options.get(model)
            )
            train_seconds = time.perf_counter() - began
            save_generator(args.checkpoints / f"{model}_{dataset}{suffix}", trained, data={"spec": spec})
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
