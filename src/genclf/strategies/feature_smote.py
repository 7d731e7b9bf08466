"""``feature_smote``: SMOTE on a pretrained backbone's frozen features (every class up to the largest),
then a linear head.
"""

from __future__ import annotations

import numpy as np

from genclf.roles import CLASSICAL
from genclf.strategies.base import (
    Proposal,
    photos_imbalanced,
    register_strategy,
)
from genclf.strategies.features import DEFAULT_BACKBONE, FeatureStrategy


@register_strategy("feature_smote", CLASSICAL, plan=[Proposal(4, photos_imbalanced, classifier=DEFAULT_BACKBONE)])
class FeatureSMOTE(FeatureStrategy):
    """SMOTE on the frozen features (every class up to the largest), then the head."""

    def head_data(self, x, y, split, context, val):
        from imblearn.over_sampling import SMOTE

        counts = np.bincount(y, minlength=split.train.num_classes)
        present = counts[counts > 0]
        if len(present) < 2 or present.min() == present.max():
            return x, y
        neighbours = int(min(5, present.min() - 1))
        if neighbours < 1:
            return x, y  # a class of one image: nothing to interpolate between
        return SMOTE(k_neighbors=neighbours, random_state=context.seed).fit_resample(x, y)
