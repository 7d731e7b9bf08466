"""NumPy ``.npz`` archives with arrays ``x`` (N, H, W[, C]) and ``y`` (N,)."""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np
import torch

from genclf.data.images import ImageSet, LoadedData, check_square, compact_labels
from genclf.errors import DataError

MAX_ARRAY_BYTES = 16 * 2**30  # no array genclf reads may announce more than this (16 GiB)


def _check_announced_sizes(path: Path) -> None:
    """Read each member's .npy header (not its data) and refuse sizes the file cannot hold, before numpy
    allocates what a header announces."""
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    read_header = (
                        np.lib.format.read_array_header_1_0
                        if version == (1, 0)
                        else np.lib.format.read_array_header_2_0
                    )
                    shape, _, dtype = read_header(member, max_header_size=100_000)
                    announced = math.prod(shape) * dtype.itemsize
                    if announced > MAX_ARRAY_BYTES or announced > info.file_size:
                        raise DataError(
                            path,
                            f"array {info.filename!r} announces {announced:,} bytes ({shape}, {dtype}) but the "
                            f"archive holds {info.file_size:,} for it (corrupt or hostile file)",
                        )
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, TypeError) as exc:
        raise DataError(path, f"not a readable .npz archive ({exc.__class__.__name__})") from None


def _to_uint8(x: np.ndarray, path: Path) -> np.ndarray:
    if x.dtype == np.uint8:
        return x
    if not np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.complexfloating):
        raise DataError(path, f"array 'x' must be numeric, got dtype {x.dtype}")
    x = x.astype(np.float64)
    if not np.isfinite(x).all():
        raise DataError(path, "array 'x' contains NaN or infinite values")
    low, high = float(x.min(initial=0)), float(x.max(initial=0))
    if low < 0 or high > 255:
        raise DataError(path, f"array 'x' values must lie in [0, 1] or [0, 255], found [{low:g}, {high:g}]")
    if high <= 1.0:
        x = x * 255.0  # floats in [0, 1]
    return np.round(x).astype(np.uint8)


def load(argument: str, image_size: int | None = None, channels: int | None = None) -> LoadedData:
    path = Path(argument).expanduser()
    if not path.is_file():
        raise DataError(path, "file not found (expected an .npz archive)")
    _check_announced_sizes(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in ("x", "y") if key not in archive.files]
            if missing:
                raise DataError(
                    path,
                    f"missing array(s) {', '.join(missing)}; expected 'x' (images) and 'y' (labels)",
                )
            x, y = archive["x"], archive["y"]
            names = [str(n) for n in archive["class_names"].tolist()] if "class_names" in archive.files else None
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DataError(path, f"not a readable .npz archive ({exc.__class__.__name__})") from None
    if x.ndim not in (3, 4) or (x.ndim == 4 and x.shape[-1] not in (1, 3)):
        raise DataError(path, f"array 'x' must be (N,H,W) or (N,H,W,C) with C in 1 or 3, got shape {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise DataError(path, f"array 'y' must be (N,) with N = {len(x)}, got shape {y.shape}")
    if np.issubdtype(y.dtype, np.floating) and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise DataError(path, "array 'y' must hold integer class ids (found NaN or fractions)")
    if not np.issubdtype(y.dtype, np.number) or (len(y) and y.min() < 0):
        raise DataError(path, "array 'y' must hold non-negative integer class ids")
    check_square(x.shape, path)
    labels = y.astype(np.int64)
    num_classes = int(labels.max()) + 1 if len(labels) else 0
    if names is not None and len(names) < num_classes:
        raise DataError(path, f"class_names has {len(names)} entries but labels go up to {num_classes - 1}")
    labels, names = compact_labels(labels, names, path)
    images = _to_uint8(x, path)
    images = images[..., None] if images.ndim == 3 else images
    tensor = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return LoadedData(path.stem, ImageSet(tensor, torch.from_numpy(labels), names))
