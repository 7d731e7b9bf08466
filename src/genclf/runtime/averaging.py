"""Exponential moving averages of a network's weights (a GAN's generator, FixMatch's evaluated classifier)."""

from __future__ import annotations

import torch
from torch import nn


def warmed_decay(decay: float, step: int) -> float:
    """The decay at update ``step``, warmed up as ``min(decay, (1 + t) / (10 + t))`` so that early averages
    are not dominated by the random initial weights."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_average(averaged: nn.Module, live: nn.Module, decay: float, average_buffers: bool = False) -> None:
    """Move ``averaged``'s parameters ``1 - decay`` of the way to ``live``'s; floating-point buffers (e.g.
    BatchNorm statistics) too with ``average_buffers``, otherwise buffers are copied."""
    torch._foreach_lerp_(list(averaged.parameters()), list(live.parameters()), 1.0 - decay)
    for mine, theirs in zip(averaged.buffers(), live.buffers()):
        if average_buffers and mine.is_floating_point():
            mine.lerp_(theirs, 1.0 - decay)
        else:
            mine.copy_(theirs)
