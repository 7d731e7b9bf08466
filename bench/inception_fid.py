"""Cross-check of genclf's standard Inception-V3 FID (the genclf[fid] extra) on real photos: the FID between
CIFAR-10's training and test photos (../shared/datasets/cifar10-jpg), whose true distance is small; with N
images a side FID is biased upwards (about 30 at N = 2,000, a figure reported for this pair by the
k-diffusion maintainers, against low single digits at 50,000 vs 10,000).

    python bench/inception_fid.py [--n 2000] [--threads 2]

--n 0 takes every photo (50,000 vs 10,000: about 2.6 hours on 2 CPU cores; minutes on a GPU).
Writes bench/results/inception_fid.json and prints the figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genclf.data import load_dataset
from genclf.evaluation.generator_quality import frechet_distance
from genclf.evaluation.inception import inception_features

ROOT = Path(__file__).resolve().parent
DATA = "folder:" + str(ROOT.parent.parent / "shared" / "datasets" / "cifar10-jpg")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000, help="photos per side (0: all)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_dataset(DATA, 32, 3)
    generator = torch.Generator().manual_seed(0)
    sides = {}
    for name, images in (("train", data.train.images), ("test", data.test.images)):
        order = torch.randperm(len(images), generator=generator)
        sides[name] = images[order[: args.n]] if args.n else images
    began = time.perf_counter()
    features = {name: inception_features(images, device=args.device) for name, images in sides.items()}
    seconds = time.perf_counter() - began
    fid = frechet_distance(features["train"], features["test"])
    result = {
        "benchmark": "inception_fid",
        "command": f"python bench/inception_fid.py --n {args.n} --threads {args.threads}",
        "device": args.device,
        "images": {name: len(images) for name, images in sides.items()},
        "fid_train_vs_test": round(fid, 3),
        "feature_seconds": round(seconds, 1),
        "images_per_second": round(sum(len(s) for s in sides.values()) / seconds, 2),
    }
    path = ROOT / "results" / "inception_fid.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
