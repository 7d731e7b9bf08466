"""Strategies: ways of using (or not using) generation to help a classifier, each registered by name."""

from genclf.strategies import (  # noqa: F401  (register the strategies)
    classical,
    colorization,
    fusion,
    generative,
    generative_classifier,
    mixing,
    self_training,
    semi_supervised,
    transfer,
)
from genclf.strategies.base import STRATEGIES, Context, Strategy, build_strategy

__all__ = ["STRATEGIES", "Context", "Strategy", "build_strategy"]
