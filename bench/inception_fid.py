"""Cross-check of genclf's standard Inception-V3 FID (the genclf[fid] extra) on real photos: the FID between
CIFAR-10's training and test photos (../shared/datasets/cifar10-jpg), whose true distance is small; with N
images a side FID is biased upwards (about 30 at N = 2,000, a figure reported for this pair by the
k-diffusion maintainers, against low single digits at 50,000 vs 10,000).

    python bench/inception_fid.py [--n 2000] [--threads 2]

--n 0 takes every photo (50,000 vs 10,000: about 2 hours on 2 CPU cores; minutes on a GPU). Features are
kept in chunks of 1,000 photos under runs/inception_fid_chunks/ (each written atomically, named by a digest of
its photos), so an interrupted run resumes where it stopped.
Writes bench/results/inception_fid.json and prints the figure.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from genclf.data import load_dataset
from genclf.evaluation.generator_quality import frechet_distance
from genclf.evaluation.inception import inception_features
from genclf.files import atomic_write

ROOT = Path(__file__).resolve().parent
DATA = "folder:" + str(ROOT.parent.parent / "shared" / "datasets" / "cifar10-jpg")
CHUNKS = ROOT.parent / "runs" / "inception_fid_chunks"
CHUNK = 1000


def _save(path: Path, features: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, features)


def chunked_features(images: torch.Tensor, device: str, label: str) -> tuple[np.ndarray, int]:
    """Inception features of ``images``, 1,000 at a time, reusing chunks saved by an earlier (interrupted) run.

    Returns the features and how many photos were computed now (not read back)."""
    parts, computed = [], 0
    for start in tqdm(range(0, len(images), CHUNK), desc=f"{label} Inception features", unit="chunk"):
        chunk = images[start : start + CHUNK]
        path = CHUNKS / f"{hashlib.blake2b(chunk.numpy().tobytes(), digest_size=12).hexdigest()}.npy"
        if path.is_file():
            parts.append(np.load(path, allow_pickle=False))
            continue
        features = inception_features(chunk, device=device)
        atomic_write(path, lambda tmp, f=features: _save(tmp, f))
        parts.append(features)
        computed += len(chunk)
    return np.concatenate(parts), computed


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
    features, computed = {}, 0
    for name, images in sides.items():
        features[name], done = chunked_features(images, args.device, name)
        computed += done
    seconds = time.perf_counter() - began
    fid = frechet_distance(features["train"], features["test"])
    result = {
        "benchmark": "inception_fid",
        "command": f"python bench/inception_fid.py --n {args.n} --threads {args.threads}",
        "device": args.device,
        "images": {name: len(images) for name, images in sides.items()},
        "fid_train_vs_test": round(fid, 3),
        "feature_seconds": round(seconds, 1),
        "images_computed_this_run": computed,
        "images_per_second": round(computed / seconds, 2) if computed else None,
    }
    suffix = "_all" if args.n == 0 else "" if args.n == 2000 else f"_n{args.n}"
    path = ROOT / "results" / f"inception_fid{suffix}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
