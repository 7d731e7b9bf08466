"""Small building blocks shared by the networks."""

from __future__ import annotations

import math
from typing import Any

from torch import nn

# The bounds of the numeric options the networks take, checked before anything is allocated (a width of 10^9
# would otherwise exhaust memory, a dropout of 2 end in torch's message): (low, high, integer?)
OPTION_BOUNDS: dict[str, tuple[float, float, bool]] = {
    "dropout": (0.0, 0.99, False),
    "width": (1, 1024, True),
    "hidden": (1, 8192, True),
    "latent_dim": (1, 4096, True),
    "beta": (0.0, 1e4, False),
    "lr_scale": (1e-4, 1e4, False),
    "mode_seeking": (0.0, 1e4, False),
    "task_weight": (0.0, 1e4, False),
    "l1_weight": (0.0, 1e4, False),
    "timesteps": (1, 10_000, True),
}


def check_option_bounds(options: dict[str, Any], where: str = "options") -> None:
    """Raise ConfigError (naming ``where.name``) for a known numeric option out of its bounds or not a number."""
    from genclf.errors import ConfigError

    for name, value in options.items():
        if name not in OPTION_BOUNDS:
            continue
        low, high, integer = OPTION_BOUNDS[name]
        kind = "an integer" if integer else "a number"
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and (not integer or float(value).is_integer()) and low <= value <= high
        if not ok:
            raise ConfigError(f"{where}.{name}", f"expected {kind} in [{low:g}, {high:g}], got {value!r}")


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
