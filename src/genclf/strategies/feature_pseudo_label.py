"""``feature_pseudo_label``: self-training on a pretrained backbone's frozen features. The linear probe of
the labeled images labels the unlabeled pool's embeddings; the confident, class-balanced part joins the
labeled ones and a fresh head is fitted on both. The classical semi-supervised row of a photo run with an
unlabeled pool: it costs one pass of the backbone over the pool (cached) and two heads.
"""

from __future__ import annotations

from genclf.config_rules import between
from genclf.roles import CLASSICAL
from genclf.strategies.base import Proposal, photos_unlabeled, register_strategy
from genclf.strategies.features import DEFAULT_BACKBONE, FeatureStrategy


@register_strategy("feature_pseudo_label", CLASSICAL, plan=[Proposal(7, photos_unlabeled, classifier=DEFAULT_BACKBONE)])
class FeaturePseudoLabel(FeatureStrategy):
    """The probe labels the pool's embeddings; the confident ones (calibrated probability >= ``threshold``) join."""

    defaults = {"resolution": 128, "threshold": 0.9}
    heads = 2  # the teacher probe and the final head

    def validate_params(self) -> None:
        super().validate_params()
        self.check_param("threshold", between(0, 1))

    def head_data(self, x, y, split, context, val):
        return self.with_pseudo_labels(x, y, split, context, val)
