"""In-memory image sets: uint8 tensors (N, C, H, W) with integer labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class ImageSet:
    """Images as uint8 (N, C, H, W), labels as int64 (N,), and the class names they index."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: list[str]
    paths: list[str] | None = None
    weights: torch.Tensor | None = None  # float32 (N,): a weight per image (scikit-learn's sample_weight)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must have one entry per image")
        self.labels = self.labels.long()

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, index: torch.Tensor) -> ImageSet:
        index = torch.as_tensor(index, dtype=torch.long)
        paths = [self.paths[i] for i in index.tolist()] if self.paths is not None else None
        weights = self.weights[index] if self.weights is not None else None
        return ImageSet(self.images[index], self.labels[index], list(self.class_names), paths, weights)

    def class_counts(self) -> list[int]:
        return torch.bincount(self.labels, minlength=self.num_classes).tolist()

    @staticmethod
    def concat(sets: list[ImageSet]) -> ImageSet:
        paths = None
        if all(s.paths is not None for s in sets):
            paths = [p for s in sets for p in s.paths]  # type: ignore[union-attr]
        return ImageSet(
            torch.cat([s.images for s in sets]),
            torch.cat([s.labels for s in sets]),
            list(sets[0].class_names),
            paths,
        )


@dataclass
class LoadedData:
    """What a dataset spec yields: a train set and, when the source has one, a test set."""

    name: str
    train: ImageSet
    test: ImageSet | None = None
    notes: list[str] = field(default_factory=list)
    unlabeled: ImageSet | None = None  # images without labels (labels -1), e.g. a folder's unlabeled/


def grey_images(images: torch.Tensor) -> torch.Tensor:
    """Per image of uint8 (N, 3, H, W): True where R, G and B are equal (a grey picture stored as colour)."""
    return ((images[:, 0] == images[:, 1]) & (images[:, 1] == images[:, 2])).flatten(1).all(1)


def conform(images: torch.Tensor, image_size: int | None, channels: int | None) -> torch.Tensor:
    """Resize uint8 (N, C, H, W) images to a square size and convert between 1 and 3 channels."""
    if channels is not None and channels != images.shape[1]:
        if channels == 1:
            weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
            images = (images.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
        else:
            images = images.expand(-1, 3, -1, -1).contiguous()
    if image_size is not None and (images.shape[-1] != image_size or images.shape[-2] != image_size):
        chunks = []
        for start in range(0, images.shape[0], 4096):
            chunk = images[start : start + 4096].float()
            chunk = F.interpolate(
                chunk,
                size=(image_size, image_size),
                mode="bilinear",
                antialias=True,
                align_corners=False,
            )
            chunks.append(chunk.round().clamp(0, 255).to(torch.uint8))
        images = torch.cat(chunks) if chunks else images.new_zeros((0, images.shape[1], image_size, image_size))
    return images


def check_square(shape: tuple[int, ...], where) -> None:
    """Array images (N, H, W[, C]) must be square: genclf does not guess how to crop or pad them."""
    from genclf.errors import DataError

    if len(shape) >= 3 and shape[1] != shape[2]:
        raise DataError(where, f"images must be square (H == W), got {shape[1]}x{shape[2]}; crop or pad them first")


def compact_labels(labels, names: list[str] | None, where) -> tuple:
    """Labels as 0..K-1 with every class present: ids with gaps (e.g. {0, 1, 7}) are remapped in order, with a
    warning that names the mapping; ``names`` (indexed by the original ids) follow. Returns (labels, names)."""
    import warnings

    import numpy as np

    present = np.unique(labels)
    if len(present) and (present[0] != 0 or present[-1] != len(present) - 1):
        shown = ", ".join(f"{int(old)}->{new}" for new, old in enumerate(present[:12]))
        more = f", ... ({len(present)} classes)" if len(present) > 12 else ""
        warnings.warn(
            f"{where}: labels are not 0..K-1 without gaps; remapped in order: {shown}{more}",
            stacklevel=2,
        )
        names = [names[int(i)] if names is not None and int(i) < len(names) else str(int(i)) for i in present]
        labels = np.searchsorted(present, labels)
    elif names is None:
        names = [str(i) for i in range(len(present))]
    return labels, names
