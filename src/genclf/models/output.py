"""Structured outputs of a training step."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StepOutput:
    """What ``training_step`` returns: the loss to minimise and scalars to log. Logged values may be 0-d
    tensors (detached): the Trainer sums them on the device and reads them once per epoch, so a step never
    waits for the accelerator just to log."""

    loss: torch.Tensor
    logs: dict[str, float | torch.Tensor] = field(default_factory=dict)
