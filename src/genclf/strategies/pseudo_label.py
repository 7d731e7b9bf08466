"""``pseudo_label``: self-training (Lee 2013). A classifier trained on the labeled images labels the
unlabeled pool; the confident, class-balanced part joins the training set.
"""

from __future__ import annotations

import torch

from genclf.config import TrainConfig
from genclf.config_rules import above, between
from genclf.data.pseudo_labels import confident_pseudo_labels, pseudo_label_accuracy
from genclf.data.splits import Split
from genclf.roles import CLASSICAL
from genclf.strategies.base import Context, Proposal, from_scratch_unlabeled, register_strategy
from genclf.strategies.classifier import ClassifierStrategy


def step_scaled(cls, entry, cost: float) -> float:
    """``cost`` (measured at the class's default ``step_ratio``) at the entry's ``step_ratio``."""
    default = cls.defaults["step_ratio"]
    return cost * entry.params.get("step_ratio", default) / default


@register_strategy("pseudo_label", CLASSICAL, cost=3.0, plan=[Proposal(7, from_scratch_unlabeled)])
class PseudoLabel(ClassifierStrategy):
    """A classifier trained on the labeled images labels the unlabeled pool; the confident, class-balanced
    part joins the training set of a fresh classifier. ``step_ratio``: its optimizer steps relative to the
    baseline classifier's (the larger training set would otherwise cost many times more)."""

    defaults = {"dropout": 0.2, "threshold": 0.95, "step_ratio": 2.0}

    @classmethod
    def relative_cost(cls, entry, split) -> float:
        """The cost was measured at the default ``step_ratio``; it scales with it."""
        return step_scaled(cls, entry, float(cls.cost))

    def validate_params(self) -> None:
        self.check_param("threshold", between(0, 1))
        self.check_param("step_ratio", above(0))

    def training_data(self, split: Split, context: Context) -> tuple[torch.Tensor, torch.Tensor]:
        pool = split.unlabeled
        if pool is None or not len(pool):
            self.extra["n_pseudo"] = 0
            return split.train.images, split.train.labels
        teacher = context.labeled_classifier(split, self.config.classifier)
        proba = teacher.predict_proba(pool.images)
        chosen = torch.from_numpy(confident_pseudo_labels(proba, self.params["threshold"]))
        self.extra["n_pseudo"] = len(chosen)
        pseudo = torch.from_numpy(proba.argmax(1)).long()[chosen]
        self.extra["pseudo_label_accuracy"] = pseudo_label_accuracy(pseudo.numpy(), pool.labels[chosen].numpy())
        return torch.cat([split.train.images, pool.images[chosen]]), torch.cat([split.train.labels, pseudo])

    def budget(self, context: Context, n_labeled: int, n_train: int) -> TrainConfig:
        epochs = max(1, round(context.train.epochs * self.params["step_ratio"] * n_labeled / n_train))
        return TrainConfig(**{**vars(context.train), "epochs": epochs})
