"""The rollback after a non-finite loss: the state an epoch starts from, kept so that the Trainer can return to
it, halve the learning rate and run the epoch again."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn


class Diverged(Exception):
    """A non-finite loss inside an epoch."""


def snapshot(model: nn.Module, optimizers: list[torch.optim.Optimizer]) -> dict[str, Any]:
    """The state an epoch starts from (for the rollback after a non-finite loss). Tensors are cloned and the
    rest copied one level deep: ``copy.deepcopy`` of the optimizer state cost 5 % of the default run, whose
    tiny models run many short epochs."""
    return {
        "model": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "optimizers": [_copy_optimizer_state(opt.state_dict()) for opt in optimizers],
        "rng": torch.get_rng_state(),
    }


def _copy_optimizer_state(state: dict[str, Any]) -> dict[str, Any]:
    return {
        "state": {
            index: {k: v.detach().clone() if isinstance(v, torch.Tensor) else copy.copy(v) for k, v in entry.items()}
            for index, entry in state["state"].items()
        },
        "param_groups": [{**group, "params": list(group["params"])} for group in state["param_groups"]],
    }


def restore_snapshot(model: nn.Module, optimizers: list[torch.optim.Optimizer], saved: dict[str, Any]) -> None:
    model.load_state_dict(saved["model"])
    for opt, state in zip(optimizers, saved["optimizers"]):
        opt.load_state_dict(state)
    torch.set_rng_state(saved["rng"])
