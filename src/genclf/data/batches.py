"""Fast batching of in-memory uint8 images: index, convert, normalise; no worker processes needed."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from genclf.data.splits import Normalization


def iterate_batches(
    images: torch.Tensor,
    labels: torch.Tensor | None,
    batch_size: int,
    normalization: Normalization,
    shuffle: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
    device: torch.device | str = "cpu",
    channels_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (normalised float images, labels) batches."""
    count = images.shape[0]
    order = torch.randperm(count, generator=generator) if shuffle else torch.arange(count)
    stop = count - count % batch_size if drop_last and count >= batch_size else count
    for start in range(0, stop, batch_size):
        index = order[start : start + batch_size]
        batch = normalization.apply(images[index].to(device, non_blocking=True))
        if channels_last:
            batch = batch.contiguous(memory_format=torch.channels_last)
        yield batch, (labels[index].to(device, non_blocking=True) if labels is not None else None)
