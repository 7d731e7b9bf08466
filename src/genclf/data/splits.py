"""Deterministic stratified splits, k-per-class low-data subsets and imbalance simulation."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from genclf.data.images import ImageSet, LoadedData
from genclf.data.imbalance import Imbalance
from genclf.errors import ConfigError, DataError
from genclf.runtime.seeding import generator


@dataclass
class Normalization:
    """Per-channel mean and std in [0, 1] pixel units."""

    mean: list[float]
    std: list[float]

    @staticmethod
    def fit(images: torch.Tensor) -> Normalization:
        pixels = images.float().div_(255.0).transpose(0, 1).reshape(images.shape[1], -1)
        std = pixels.std(dim=1).clamp_min(1e-3)
        return Normalization(pixels.mean(dim=1).tolist(), std.tolist())

    def apply(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, C, H, W) -> normalised float32."""
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images.float().div_(255.0) - mean) / std


@dataclass
class Split:
    train: ImageSet
    val: ImageSet
    test: ImageSet
    unlabeled: ImageSet | None
    normalization: Normalization

    @property
    def class_names(self) -> list[str]:
        return self.train.class_names

    def summary(self) -> dict:
        return {
            "train": len(self.train),
            "val": len(self.val),
            "test": len(self.test),
            "unlabeled": len(self.unlabeled) if self.unlabeled is not None else 0,
            "train_per_class": self.train.class_counts(),
        }


def _per_class_perm(labels: torch.Tensor, num_classes: int, gen: torch.Generator) -> list[torch.Tensor]:
    """For each class, its indices in a seeded random order."""
    return [
        idx[torch.randperm(len(idx), generator=gen)]
        for idx in (torch.nonzero(labels == c).flatten() for c in range(num_classes))
    ]


def stratified_indices(
    labels: torch.Tensor,
    num_classes: int,
    fraction: float,
    gen: torch.Generator,
    cap: int | None = None,
):
    """Split indices into (kept, taken) with ``fraction`` of every class taken (at least 1 if >1 present)."""
    kept, taken = [], []
    for idx in _per_class_perm(labels, num_classes, gen):
        n_take = math.ceil(fraction * len(idx)) if len(idx) > 1 else 0
        if cap is not None:
            n_take = min(n_take, cap)
        taken.append(idx[:n_take])
        kept.append(idx[n_take:])
    return torch.cat(kept).sort().values, torch.cat(taken).sort().values


def make_split(
    data: LoadedData,
    seed: int,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    k_per_class: int | None = None,
    imbalance: Imbalance | None = None,
) -> Split:
    """Build train/val/test (+ unlabeled pool) deterministically from ``seed``.

    The test split is the source's own when it has one, otherwise a stratified ``test_fraction``
    of the training images, fixed across seeds (seed 0) so every seed is scored on the same images.
    With ``k_per_class``, ``k`` labeled images per class are kept and the rest of the pool becomes
    the unlabeled set; the validation set then holds at most ``k`` images per class.

    Raises:
        DataError: a class has fewer images than ``k_per_class``.
        ConfigError: the imbalance names a class the data does not have.
    """
    if k_per_class is not None and not isinstance(k_per_class, int):
        raise ConfigError(
            "k_per_class",
            f"expected one integer here (a list is a budget sweep, for 'genclf run'), got {k_per_class!r}",
        )
    num_classes = data.train.num_classes
    pool = data.train
    if data.test is None:
        rest, test_idx = stratified_indices(pool.labels, num_classes, test_fraction, generator(0))
        test, pool = pool.subset(test_idx), pool.subset(rest)
    else:
        test = data.test
    gen = generator(seed)
    rest, val_idx = stratified_indices(pool.labels, num_classes, val_fraction, gen, cap=k_per_class)
    val, pool = pool.subset(val_idx), pool.subset(rest)
    unlabeled = None
    if k_per_class is not None:
        if k_per_class < 1:
            raise ConfigError("k_per_class", f"expected a positive integer, got {k_per_class}")
        chosen, leftover = [], []
        for cls, idx in enumerate(_per_class_perm(pool.labels, num_classes, gen)):
            if len(idx) < k_per_class:
                raise DataError(
                    "k_per_class",
                    f"class {pool.class_names[cls]!r} has only {len(idx)} training images, expected at least {k_per_class}",
                )
            chosen.append(idx[:k_per_class])
            leftover.append(idx[k_per_class:])
        unlabeled = pool.subset(torch.cat(leftover).sort().values)
        pool = pool.subset(torch.cat(chosen).sort().values)
    if data.unlabeled is not None and len(data.unlabeled):  # the source's own unlabeled images
        unlabeled = data.unlabeled if unlabeled is None else ImageSet.concat([unlabeled, data.unlabeled])
    if imbalance is not None:
        pool = _apply_imbalance(pool, imbalance, gen)
    if len(pool) == 0 or len(test) == 0:
        raise DataError("data", "the split left no training or test images; use more data or smaller fractions")
    trained, tested = pool.class_counts(), test.class_counts()
    for cls, name in enumerate(pool.class_names):
        if not trained[cls] or not tested[cls]:
            total = trained[cls] + tested[cls] + len(val.labels[val.labels == cls])
            raise DataError(
                f"class {name!r}",
                f"{total} image(s) leave it with {trained[cls]} to train on and {tested[cls]} to test on: every "
                "class needs at least one of each (at least 2 images); add images or remove the class",
            )
    return Split(pool, val, test, unlabeled, Normalization.fit(pool.images))


def _apply_imbalance(pool: ImageSet, imbalance: Imbalance, gen: torch.Generator) -> ImageSet:
    counts = pool.class_counts()
    targets = list(counts)
    if imbalance.class_counts is not None:
        if len(imbalance.class_counts) != len(counts):
            raise ConfigError(
                "imbalance.class_counts",
                f"expected {len(counts)} counts (one per class), got {len(imbalance.class_counts)}",
            )
        for cls, wanted in enumerate(imbalance.class_counts):
            if wanted < 1 or wanted > counts[cls]:
                raise ConfigError(
                    "imbalance.class_counts",
                    f"class {pool.class_names[cls]!r}: expected 1..{counts[cls]}, got {wanted}",
                )
        targets = list(imbalance.class_counts)
    else:
        if not 0 < imbalance.ratio <= 1:
            raise ConfigError("imbalance.ratio", f"expected a value in (0, 1], got {imbalance.ratio}")
        for cls in imbalance.classes:
            if not 0 <= cls < len(counts):
                raise ConfigError(
                    "imbalance.classes",
                    f"class {cls} does not exist; expected ids 0..{len(counts) - 1}",
                )
            targets[cls] = max(1, round(counts[cls] * imbalance.ratio))
    keep = [idx[:n] for idx, n in zip(_per_class_perm(pool.labels, len(counts), gen), targets)]
    return pool.subset(torch.cat(keep).sort().values)
