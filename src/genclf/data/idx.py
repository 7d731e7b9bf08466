"""MNIST-style IDX files (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from genclf.data.datasets import register_scheme
from genclf.data.images import ImageSet, LoadedData
from genclf.errors import DataError

IMAGE_MAGIC = 2051
LABEL_MAGIC = 2049
FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DataError(folder / stem, "file not found (expected it, or the same name with .gz)")


def _read_bytes(path: Path) -> bytes:
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (EOFError, gzip.BadGzipFile, zlib.error, OSError) as exc:
        raise DataError(path, f"unreadable or truncated gzip/IDX file ({exc.__class__.__name__})") from None


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Read one IDX array, checking the magic number and the announced sizes."""
    raw = _read_bytes(path)
    dims = 3 if magic == IMAGE_MAGIC else 1
    header = 4 + 4 * dims
    if len(raw) < header:
        raise DataError(path, f"expected an IDX header of {header} bytes, file has {len(raw)}")
    found = struct.unpack(">i", raw[:4])[0]
    if found != magic:
        raise DataError(path, f"bad IDX magic number {found}, expected {magic}")
    shape = struct.unpack(f">{dims}i", raw[4:header])
    size = int(np.prod(shape))
    if len(raw) - header != size:
        raise DataError(
            path,
            f"IDX header announces {size} bytes of data, file holds {len(raw) - header} (truncated?)",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_split(folder: Path, prefix: str, names: list[str] | None) -> ImageSet:
    images_path = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if len(images) != len(labels):
        raise DataError(labels_path, f"{len(labels)} labels for {len(images)} images in {images_path.name}")
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    class_names = names if names is not None and len(names) == num_classes else [str(i) for i in range(num_classes)]
    return ImageSet(
        torch.from_numpy(images.copy()).unsqueeze(1),
        torch.from_numpy(labels.astype(np.int64)),
        class_names,
    )


@register_scheme(
    "idx",
    "MNIST-style IDX files in DIR: train-/t10k-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz]",
)
def load(argument: str, image_size: int | None = None, channels: int | None = None) -> LoadedData:
    folder = Path(argument).expanduser()
    if not folder.is_dir():
        raise DataError(folder, "folder not found (expected a folder of IDX files)")
    names = FASHION_NAMES if "fashion" in folder.resolve().name.lower() else None
    train = _read_split(folder, "train", names)
    test = None
    if any((folder / f"t10k-images-idx3-ubyte{ext}").is_file() for ext in ("", ".gz")):
        test = _read_split(folder, "t10k", train.class_names)
        if test.num_classes > train.num_classes:
            raise DataError(folder, "test labels contain classes absent from the training labels")
        test.class_names = list(train.class_names)
    return LoadedData(folder.name, train, test)
