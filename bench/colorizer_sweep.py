"""Colorizer sweep on CIFAR-10 photos: how much of the colour -> grey accuracy drop each colorizer setting
wins back for one colour-trained classifier, trained once.

The setting of configs/cifar10_colorization.yaml (a cnn trained 15 epochs on 500 colour photos per class,
seed 0; colorizers learn from the 45,000 colour training photos that are not validation, labels unused),
without the grid: the classifier is trained once and every colorizer is scored on the same 10,000 grey
test photos. Each setting is NAME:TASK_WEIGHT:EPOCHS (task weight 0 = plain L1 / pix2pix).

    python bench/colorizer_sweep.py unet_l1:0:1 unet_l1:0.3:1 unet_l1:1:1 pix2pix:0.3:1

Writes one JSON line per setting to stdout and all of them to bench/results/colorizer_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from genclf.config import TrainConfig
from genclf.data import load_dataset, make_split
from genclf.models.pix2pix import to_grey_rgb
from genclf.pipelines.classify import train_classifier
from genclf.pipelines.colorize import colorization_scores, colour_pool, train_colorizer
from genclf.training.fit import Fit

ROOT = Path(__file__).resolve().parent
CIFAR = ROOT.parents[1] / "shared" / "datasets" / "cifar10-jpg"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("settings", nargs="+", help="NAME:TASK_WEIGHT:EPOCHS, e.g. unet_l1:0.3:1")
    parser.add_argument("--data", default=f"folder:{CIFAR}")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "colorizer_sweep.json")
    args = parser.parse_args()
    split = make_split(load_dataset(args.data), 0, k_per_class=500)
    began = time.perf_counter()
    classifier, _ = train_classifier(
        split, "cnn", Fit(TrainConfig(epochs=15, batch_size=64, lr=3e-3), 0, quiet=True), options={"dropout": 0.2}
    )
    test = split.test
    truth = test.labels.numpy()

    def accuracy(images) -> float:
        return float((classifier.predict_proba(images).argmax(1) == truth).mean())

    grey = to_grey_rgb(test.images)
    colour_acc, grey_acc = accuracy(test.images), accuracy(grey)
    report = {
        "benchmark": "colorizer_sweep",
        "data": args.data,
        "classifier": {"seconds": round(time.perf_counter() - began, 1), "colour": colour_acc, "grey": grey_acc},
        "settings": [],
    }
    for setting in args.settings:
        name, weight, epochs = setting.split(":")
        options = {"task_weight": float(weight)} if float(weight) else {}
        began = time.perf_counter()
        colorizer, _ = train_colorizer(
            colour_pool(split),
            name,
            Fit(TrainConfig(epochs=int(epochs), batch_size=64, lr=2e-3), 0, quiet=True),
            options=options,
            guide=classifier,
        )
        colorized = colorizer.colorize(grey)
        acc = accuracy(colorized)
        row = {
            "colorizer": name,
            "task_weight": float(weight),
            "epochs": int(epochs),
            "accuracy_colorized": acc,
            "recovered_share": (acc - grey_acc) / (colour_acc - grey_acc),
            "seconds": round(time.perf_counter() - began, 1),
            **colorization_scores(test.images, colorized),
        }
        report["settings"].append(row)
        print(json.dumps(row), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"colour {colour_acc:.4f}, grey {grey_acc:.4f}; wrote {args.out}")


if __name__ == "__main__":
    main()
