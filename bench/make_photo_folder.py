"""Build the held-out photo folder genclf's photo benchmarks use: CIFAR-10 training photos of two classes
(airplane 750, ship 250: 3:1), each upscaled (bicubic) to a random 256-1024 px side and saved as JPEG or PNG,
in class sub-folders, the way a user's folder of camera photos looks to genclf.

    python bench/make_photo_folder.py /tmp/photos            # from ../shared/datasets/cifar10-jpg
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SOURCE = REPO.parent / "shared" / "datasets" / "cifar10-jpg" / "train"
CLASSES = {"airplane": 750, "ship": 250}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    for name, count in CLASSES.items():
        files = sorted((args.source / name).iterdir())[:count]
        folder = args.out / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, path in enumerate(files):
            side = rng.randint(256, 1024)
            with Image.open(path) as image:
                big = image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
            suffix = ".png" if i % 5 == 0 else ".jpg"
            big.save(folder / f"{path.stem}{suffix}", quality=92)
    print(f"wrote {sum(CLASSES.values())} photos to {args.out}")


if __name__ == "__main__":
    main()
