"""``baseline``: the classifier trained on the labeled data only, the do-nothing option every strategy is
compared with.
"""

from __future__ import annotations

from genclf.roles import BASELINE
from genclf.strategies.base import (
    Proposal,
    from_scratch,
    register_strategy,
)
from genclf.strategies.classifier import ClassifierStrategy


@register_strategy(
    "baseline",
    BASELINE,
    cost=1.0,
    plan=[
        Proposal(0, from_scratch),
        Proposal(2, lambda s: s.photos and s.image_size <= 32, label="cnn_from_scratch"),  # cheap at this size
    ],
)
class Baseline(ClassifierStrategy):
    """The classifier trained on the labeled data only."""
