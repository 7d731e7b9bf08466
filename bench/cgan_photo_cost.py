"""Training cost of the cgan at photo size (64 px RGB, batch 32, --precision auto): the upsample + conv
generator (the default, bf16 where the CPU has it) against the transposed-convolution one (fp32). One epoch of
640 random images per run, rounds interleaved; seconds include building the model.

    python bench/cgan_photo_cost.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from genclf.config import TrainConfig
from genclf.data.images import ImageSet
from genclf.pipelines.generate import train_generator
from genclf.training.fit import Fit

RESULTS = Path(__file__).resolve().parent / "results" / "cgan_photo_cost.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--images", type=int, default=640)
    args = parser.parse_args()
    noise = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (args.images, 3, 64, 64), dtype=torch.uint8, generator=noise)
    images = ImageSet(pixels, torch.arange(args.images) % 2, ["a", "b"])
    seconds: dict[str, list[float]] = {"upsample=false": [], "upsample=true": []}
    for _ in range(args.rounds):
        for upsample in (False, True):
            config = TrainConfig(epochs=1, batch_size=32, lr=2e-3, precision="auto")
            began = time.perf_counter()
            train_generator(images, "cgan", Fit(config, 0, quiet=True), options={"upsample": upsample})
            seconds[f"upsample={str(upsample).lower()}"].append(round(time.perf_counter() - began, 2))
    report = {"benchmark": "cgan_photo_cost", "images": args.images, "image_size": 64, "seconds": seconds}
    RESULTS.write_text(json.dumps(report, indent=1) + "\n")
    print(f"{'generator':<16} seconds per epoch of {args.images} images (rounds)")
    for name, values in seconds.items():
        print(f"{name:<16} {', '.join(f'{v:.2f}' for v in values)}")


if __name__ == "__main__":
    main()
