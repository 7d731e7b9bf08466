"""``linear_probe``: a logistic-regression head on a pretrained backbone's frozen features (the baseline
of a photo run).
"""

from __future__ import annotations

from genclf.config_rules import one_of
from genclf.roles import BASELINE
from genclf.strategies.base import (
    Proposal,
    photos,
    photos_imbalanced,
    register_strategy,
)
from genclf.strategies.features import DEFAULT_BACKBONE, FeatureStrategy


@register_strategy(
    "linear_probe",
    BASELINE,
    plan=[
        Proposal(0, photos, classifier=DEFAULT_BACKBONE),
        Proposal(
            3,
            photos_imbalanced,
            classifier=DEFAULT_BACKBONE,
            label=f"linear_probe_balanced[{DEFAULT_BACKBONE}]",
            params={"class_weight": "balanced"},
        ),
    ],
)
class LinearProbe(FeatureStrategy):
    """A logistic-regression head on frozen pretrained features; ``class_weight: balanced`` reweights classes."""

    defaults = {"resolution": 128, "class_weight": "none"}

    def validate_params(self) -> None:
        super().validate_params()
        self.check_param("class_weight", one_of("none", "balanced"))

    def class_weight(self) -> str | None:
        return None if self.params["class_weight"] == "none" else "balanced"
