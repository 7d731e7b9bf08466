"""The imbalance a split simulates (a config value: no heavy imports here, the command line reads it)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Imbalance:
    """Keep chosen classes at a fraction of their size, or set exact per-class training counts."""

    classes: list[int] = field(default_factory=list)
    ratio: float = 1.0
    class_counts: list[int] | None = None
