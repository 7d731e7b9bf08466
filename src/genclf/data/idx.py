"""MNIST-style IDX files (optionally gzip-compressed)."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from genclf.data.images import ImageSet, LoadedData, check_square, compact_labels
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
    if any(side < 0 for side in shape):
        raise DataError(path, f"IDX header announces negative dimensions {shape}")
    size = math.prod(shape)  # a Python int: no overflow whatever the header says
    if len(raw) - header != size:
        raise DataError(
            path,
            f"IDX header announces {size} bytes of data, file holds {len(raw) - header} (truncated?)",
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def _read_split(folder: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    images_path = _find(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = _find(folder, f"{prefix}-labels-idx1-ubyte")
    images = read_idx(images_path, IMAGE_MAGIC)
    labels = read_idx(labels_path, LABEL_MAGIC)
    if len(images) != len(labels):
        raise DataError(labels_path, f"{len(labels)} labels for {len(images)} images in {images_path.name}")
    check_square(images.shape, images_path)
    return images, labels.astype(np.int64)


def _image_set(images: np.ndarray, labels: np.ndarray, names: list[str]) -> ImageSet:
    return ImageSet(torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels), list(names))


def load(argument: str, image_size: int | None = None, channels: int | None = None) -> LoadedData:
    folder = Path(argument).expanduser()
    if not folder.is_dir():
        raise DataError(folder, "folder not found (expected a folder of IDX files)")
    names = FASHION_NAMES if "fashion" in folder.resolve().name.lower() else None
    images, labels = _read_split(folder, "train")
    present = np.unique(labels)
    names = names if names is not None and len(names) == (int(present[-1]) + 1 if len(present) else 0) else None
    compact, class_names = compact_labels(labels, names, folder / "train-labels-idx1-ubyte")
    train = _image_set(images, compact, class_names)
    test = None
    if any((folder / f"t10k-images-idx3-ubyte{ext}").is_file() for ext in ("", ".gz")):
        test_images, test_labels = _read_split(folder, "t10k")
        if not np.isin(test_labels, present).all():
            raise DataError(folder, "test labels contain classes absent from the training labels")
        test = _image_set(test_images, np.searchsorted(present, test_labels), class_names)
    return LoadedData(folder.name, train, test)
