"""``cutmix``: a box of one image pasted into another, labels mixed by the box's area share."""

from __future__ import annotations

from torchvision.transforms import v2

from genclf.roles import CLASSICAL
from genclf.strategies.base import Proposal, from_scratch, register_strategy
from genclf.strategies.mixing import MixingStrategy


@register_strategy("cutmix", CLASSICAL, cost=1.0, plan=[Proposal(3, from_scratch)])
class CutMix(MixingStrategy):
    """A box of one image pasted into another, labels mixed by the box's area share."""

    transform = v2.CutMix
