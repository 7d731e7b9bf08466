"""Small building blocks shared by the networks."""

from __future__ import annotations

from torch import nn


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 conv -> BatchNorm -> ReLU, twice."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


def num_downsamplings(image_size: int, smallest: int = 2, most: int = 4) -> int:
    """How many 2x poolings keep the feature map at least ``smallest`` pixels wide."""
    count = 0
    while image_size // 2 >= smallest and count < most:
        image_size //= 2
        count += 1
    return count


def conv_body(
    in_channels: int, image_size: int, width: int, last_pool: int | tuple[int, int] = 2
) -> tuple[nn.Sequential, int]:
    """Up to three (conv_block, max-pool) stages, widths ``width * 2**stage``; returns (body, out_channels).

    ``last_pool`` is the last stage's pooling window ((2, 1) keeps the width for sequence readers)."""
    stages = max(1, min(3, num_downsamplings(image_size)))
    layers: list[nn.Module] = []
    channels = in_channels
    for stage in range(stages):
        out = width * 2**stage
        pool = last_pool if stage == stages - 1 and stages > 1 else 2
        layers += [conv_block(channels, out), nn.MaxPool2d(pool)]
        channels = out
    return nn.Sequential(*layers), channels
