"""One input convention for images handed to genclf's Python API.

genclf's images are **uint8 values 0..255**, shape (N, C, H, W) inside the library. ``as_images`` turns what a
user has into that, or raises one clear ``DataError``:

- numpy arrays or torch tensors; a list of equal-shaped arrays is stacked;
- (N, H, W) grey, or 4-D with the channel axis last (N, H, W, C: the PIL / matplotlib layout) or first
  (N, C, H, W: the PyTorch layout), C in {1, 3}; a channel axis of 1 or 3 at one end decides the layout;
- uint8 as is; other integer types must lie in 0..255; float images need the caller to say which range they
  use (``value_range=(0, 1)`` or ``(0, 255)``) and are checked against it: a float array in [0, 1] read as
  0..255 would be all black, so genclf never guesses;
- optionally the channels and size a trained model expects: a mismatch is an error, not a silent resize.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from genclf.errors import DataError

RANGES = ((0, 1), (0, 255))


def _as_array(x: Any, where: str) -> np.ndarray | torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu()
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, Sequence) and not isinstance(x, (str, bytes)) and len(x):
        try:
            return np.stack([np.asarray(item) for item in x])
        except ValueError as exc:
            raise DataError(where, f"a list of images must hold equal-shaped arrays ({exc})") from None
    raise DataError(where, f"expected a numpy array or torch tensor of images, got {type(x).__name__}")


def as_images(
    x: Any,
    value_range: tuple[float, float] | None = None,
    channels: int | None = None,
    image_size: int | None = None,
    where: str = "X",
) -> torch.Tensor:
    """``x`` as uint8 (N, C, H, W) images; see the module docstring for what is accepted.

    Raises:
        DataError: wrong type, dtype, value range, shape, channel count or size, naming ``where``.
    """
    array = _as_array(x, where)
    if array.dtype == torch.bool or array.dtype == np.bool_ or getattr(array.dtype, "kind", "") in ("c", "O", "U", "S"):
        raise DataError(where, f"expected numeric images, got dtype {array.dtype}")
    tensor = torch.from_numpy(np.ascontiguousarray(array)) if isinstance(array, np.ndarray) else array
    if tensor.ndim == 3:
        tensor = tensor.unsqueeze(1)
    elif tensor.ndim == 4:
        last, first = tensor.shape[-1], tensor.shape[1]
        if last in (1, 3) and first not in (1, 3):
            tensor = tensor.permute(0, 3, 1, 2)
        elif first not in (1, 3):
            raise DataError(
                where,
                f"expected (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {{1, 3}}, got shape {tuple(tensor.shape)}",
            )
    elif tensor.ndim == 2:  # a feature matrix: say how to make images of it when its rows are square ones
        side = int(round(tensor.shape[1] ** 0.5))
        hint = f" (e.g. X.reshape(-1, {side}, {side}))" if side > 1 and side * side == tensor.shape[1] else ""
        raise DataError(
            where,
            f"expected a batch of images (N, H, W), (N, H, W, C) or (N, C, H, W), got a 2-D array of shape "
            f"{tuple(tensor.shape)}: a table of features, not images; reshape each row to an image{hint}",
        )
    else:
        raise DataError(
            where,
            f"expected a batch of images (N, H, W), (N, H, W, C) or (N, C, H, W), got shape {tuple(tensor.shape)}",
        )
    if tensor.shape[-1] != tensor.shape[-2]:
        raise DataError(where, f"images must be square (H == W), got {tensor.shape[-2]}x{tensor.shape[-1]}")
    tensor = _to_uint8(tensor, value_range, where)
    if channels is not None and tensor.shape[1] != channels:
        raise DataError(where, f"the model expects {channels}-channel images, got {tensor.shape[1]} channel(s)")
    if image_size is not None and tensor.shape[-1] != image_size:
        raise DataError(
            where,
            f"the model expects {image_size}x{image_size} images, got {tensor.shape[-1]}x{tensor.shape[-1]}; "
            "resize them first",
        )
    return tensor.contiguous()


def _to_uint8(tensor: torch.Tensor, value_range: tuple[float, float] | None, where: str) -> torch.Tensor:
    if value_range is not None and tuple(value_range) not in RANGES:
        raise DataError(f"{where} value_range", f"expected (0, 1) or (0, 255), got {value_range!r}")
    if tensor.dtype == torch.uint8:
        if value_range == (0, 1):
            raise DataError(f"{where} value_range", "uint8 images are 0..255; (0, 1) applies to float images only")
        return tensor
    if tensor.dtype.is_floating_point:
        if value_range is None:
            raise DataError(
                where,
                f"float images ({tensor.dtype}) need their range stated: value_range=(0, 1) or (0, 255); "
                "or pass uint8 images (0..255)",
            )
        if tensor.numel() and not torch.isfinite(tensor).all():
            raise DataError(where, "images contain NaN or infinite values")
        low, high = (float(tensor.min()), float(tensor.max())) if tensor.numel() else (0.0, 0.0)
        top = value_range[1]
        if low < -1e-6 or high > top + 1e-6 * max(top, 1):
            raise DataError(
                where, f"values must lie in [0, {top}] (value_range={value_range}), got [{low:.4g}, {high:.4g}]"
            )
        if top == 255 and 0 < high <= 1.0:
            warnings.warn(
                f"{where}: every value lies in [0, 1] though value_range=(0, 255): the images would be almost "
                "black; pass value_range=(0, 1) if they are 0..1 images",
                stacklevel=4,
            )
        scale = 255.0 / top
        return (tensor.double() * scale).round().clamp(0, 255).to(torch.uint8)
    # other integer types
    low, high = (int(tensor.min()), int(tensor.max())) if tensor.numel() else (0, 0)
    if low < 0 or high > 255:
        raise DataError(where, f"integer images must lie in 0..255, got {low}..{high}")
    return tensor.to(torch.uint8)
