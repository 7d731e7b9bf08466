"""Structured outputs of a training step."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class StepOutput:
    """What ``training_step`` returns: the loss to minimise and scalars to log."""

    loss: torch.Tensor
    logs: dict[str, float] = field(default_factory=dict)
