"""Strategies: ways of using (or not using) generation to help a classifier, each registered by name."""

from genclf.strategies import baseline  # noqa: F401  (register)
from genclf.strategies.base import STRATEGIES, Context, Strategy, build_strategy

__all__ = ["STRATEGIES", "Context", "Strategy", "build_strategy"]
