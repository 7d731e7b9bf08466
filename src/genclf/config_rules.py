"""Field rules of genclf's typed configs: each returns None for a valid value, else what was expected.

``checked(default, rule)`` declares a dataclass field with its rule; ``config.validate_config`` applies them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

Rule = Callable[[Any], str | None]  # a value -> None when valid, else what was expected

PRECISIONS = ("auto", "fp32", "32", "32-true", "bf16", "bf16-mixed", "16-mixed")
DEVICES = ("auto", "cpu", "cuda", "mps")
MAX_SEED = 2**32 - 1  # numpy's limit; torch takes any seed numpy does


def checked(default: Any = dataclasses.MISSING, rule: Rule | None = None, factory: Any = dataclasses.MISSING):
    """A dataclass field whose values ``validate_config`` checks with ``rule``."""
    return dataclasses.field(default=default, default_factory=factory, metadata={"rule": rule})


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def at_least(low: float) -> Rule:
    def rule(value):
        if value is None or (_number(value) and math.isfinite(value) and value >= low):
            return None
        return f"must be >= {low:g}, got {value!r}"

    return rule


def above(low: float) -> Rule:
    def rule(value):
        if value is None or (_number(value) and math.isfinite(value) and value > low):
            return None
        return f"must be > {low:g}, got {value!r}"

    return rule


def number(value: Any) -> str | None:
    return None if value is None or (_number(value) and math.isfinite(value)) else f"expected a number, got {value!r}"


def integer(low: float = -math.inf, high: float = math.inf) -> Rule:
    def rule(value):
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
            return None
        span = f" in [{low:g}, {high:g}]" if math.isfinite(low) or math.isfinite(high) else ""
        return f"expected an integer{span}, got {value!r}"

    return rule


def boolean(value: Any) -> str | None:
    return None if value is None or isinstance(value, bool) else f"expected true or false, got {value!r}"


def instance_of(kind: type, words: str) -> Rule:
    return lambda value: None if value is None or isinstance(value, kind) else f"expected {words}, got {value!r}"


def needs_module(module: str, extra: str) -> Rule:
    """True only when ``module`` is installed (found without importing it): the flag of an optional extra."""

    def rule(value):
        import importlib.util

        if not isinstance(value, bool):
            return f"expected true or false, got {value!r}"
        if value and importlib.util.find_spec(module) is None:
            return f"needs the optional extra: pip install 'genclf[{extra}]'"
        return None

    return rule


def between(low: float, high: float, high_open: bool = True) -> Rule:
    def rule(value):
        ok = value is None or (_number(value) and low <= value and (value < high if high_open else value <= high))
        return None if ok else f"must be in [{low:g}, {high:g}{')' if high_open else ']'}, got {value!r}"

    return rule


def one_of(*choices: Any) -> Rule:
    def rule(value):
        return (
            None
            if value is None or value in choices
            else f"expected one of {', '.join(map(str, choices))}, got {value!r}"
        )

    return rule


def each(rule: Rule, non_empty: bool = True) -> Rule:
    """``rule`` on a scalar, or on every item of a list (which must not be empty)."""

    def check(value):
        if isinstance(value, list):
            if non_empty and not value:
                return "must not be an empty list"
            return next((f"item {i}: {e}" for i, v in enumerate(value) if (e := rule(v))), None)
        return rule(value)

    return check


def registered(kind: str, name: str) -> str | None:
    """A rule: ``name`` is in the registry of ``kind`` (looked up when checked: the registries import torch)."""
    from genclf.models.classifiers import CLASSIFIERS

    registry = {"classifier": CLASSIFIERS}[kind]
    return None if name in registry else f"unknown {kind} {name!r}; expected one of: {', '.join(registry.names())}"


positive = at_least(1)
seed_rule = between(0, MAX_SEED, high_open=False)
