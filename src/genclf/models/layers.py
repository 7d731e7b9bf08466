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
