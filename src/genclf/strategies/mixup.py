"""``mixup``: convex combinations of image pairs and of their one-hot labels, Beta(alpha, alpha) weights."""

from __future__ import annotations

from torchvision.transforms import v2

from genclf.roles import CLASSICAL
from genclf.strategies.base import Proposal, from_scratch, register_strategy
from genclf.strategies.mixing import MixingStrategy


@register_strategy("mixup", CLASSICAL, cost=1.0, plan=[Proposal(2, from_scratch)])
class Mixup(MixingStrategy):
    """Convex combinations of image pairs and of their one-hot labels, Beta(alpha, alpha) weights."""

    transform = v2.MixUp
