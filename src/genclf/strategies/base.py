"""Strategy protocol: ``fit(split, context)`` then ``predict_proba(images)``; no file I/O in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from genclf.config import StrategyConfig
from genclf.data.splits import Split
from genclf.errors import ConfigError
from genclf.registry import Registry
from genclf.training.trainer import TrainConfig

STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


@dataclass
class Context:
    """What the runner shares between strategies of one (data, seed) cell: caches, settings."""

    seed: int
    train: TrainConfig
    quiet: bool = True
    cache: dict[str, Any] = field(default_factory=dict)


class Strategy:
    """Base class. Subclasses set ``params`` defaults and implement ``fit`` and ``predict_proba``."""

    defaults: dict[str, Any] = {}

    def __init__(self, config: StrategyConfig):
        self.config = config
        unknown = set(config.params) - set(self.defaults)
        if unknown:
            raise ConfigError(
                f"strategies.{config.name}.params",
                f"unknown parameter(s) {sorted(unknown)}; expected: {sorted(self.defaults) or 'none'}",
            )
        self.params = {**self.defaults, **config.params}
        self.extra: dict[str, Any] = {}  # columns the strategy adds to its results row

    def fit(self, split: Split, context: Context) -> None:
        raise NotImplementedError

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        raise NotImplementedError


def build_strategy(config: StrategyConfig) -> Strategy:
    return STRATEGIES.get(config.name, "strategies.name")(config)
