"""``finetune``: the pretrained backbone fine-tuned end to end on the labeled images (LP-FT by default:
the head from a linear probe first, then the whole network at a lower learning rate).
"""

from __future__ import annotations

import torch

from genclf.config_rules import at_least, one_of
from genclf.data.splits import Split
from genclf.roles import CLASSICAL
from genclf.strategies.base import (
    Context,
    Proposal,
    budget_columns,
    photos,
    register_strategy,
)
from genclf.strategies.classifier import ClassifierStrategy
from genclf.strategies.features import DEFAULT_BACKBONE, FeatureHead, PlannedOnBackbone, backbone_of
from genclf.training.fit import Fit


def finetune_backbone(strategy, split: Split, context: Context, images: torch.Tensor, labels: torch.Tensor) -> None:
    """Fine-tune ``strategy.config.classifier``'s pretrained backbone on ``images`` (the labeled images, or
    those plus generated ones) the way ``finetune`` does: LP-FT (the head from the linear probe of the
    labeled images' cached features, then everything at a tenth of the run's rate) or a random head, for
    ``params.epochs`` (default 6) at ``params.resolution`` px (default 128). Sets ``strategy.classifier``."""
    import dataclasses

    from genclf.models.classifiers import build_classifier, prepare_for
    from genclf.pipelines.classify import train_classifier

    params = {**FineTune.defaults, **strategy.params}
    backbone, resolution = backbone_of(strategy.config.classifier), int(params["resolution"])
    options = {"dropout": params["dropout"], "resolution": resolution}
    torch.manual_seed(context.seed)
    model = build_classifier(backbone, split.train.channels, split.train.num_classes, split.train.image_size, **options)
    prepare_for(model, split.normalization, context.quiet)
    budget = dataclasses.replace(context.train, epochs=int(params["epochs"]))
    if params["head_init"] == "probe":
        from genclf.models.features import embed

        head = FeatureHead(split.train.num_classes, seed=context.seed).fit(
            embed(backbone, split.train.images, resolution),
            split.train.labels.numpy(),
            embed(backbone, split.val.images, resolution),
            split.val.labels.numpy(),
        )
        head.fold_into(model)
        model.body_lr_scale = 1.0
        budget = dataclasses.replace(budget, lr=budget.lr * 0.1)
        strategy.extra["probe_val_macro_f1"] = head.val_macro_f1
    strategy.extra["n_train_effective"] = len(labels)
    strategy.classifier, result = train_classifier(
        split,
        backbone,
        Fit(budget, context.seed, quiet=context.quiet),
        options=options,
        model=model,
        train_images=images,
        train_labels=labels,
    )
    strategy.extra["best_epoch"] = result.best_epoch
    strategy.extra.update(budget_columns(budget, result.epochs_run, len(labels)))


@register_strategy("finetune", CLASSICAL, plan=[Proposal(1, photos, classifier=DEFAULT_BACKBONE)])
class FineTune(PlannedOnBackbone, ClassifierStrategy):
    """The pretrained backbone fine-tuned end to end on the labeled images for ``epochs`` passes. With
    ``head_init: probe`` (the default), the head starts as the linear probe on the cached features and the
    whole network then learns at a tenth of the run's learning rate (LP-FT, Kumar et al. 2022: a random
    head's first, large gradients distort the pretrained features); with ``random``, a new head at the
    run's rate and the body at a tenth of it."""

    defaults = {"dropout": 0.2, "epochs": 6, "resolution": 128, "head_init": "probe"}

    def validate_params(self) -> None:
        self.check_param("epochs", at_least(1))
        self.check_param("head_init", one_of("probe", "random"))

    def fit(self, split: Split, context: Context) -> None:
        images, labels = self.training_data(split, context)
        finetune_backbone(self, split, context, images, labels)

    @classmethod
    def planned_seconds(cls, entry, split: Split, train, probe: dict) -> float:
        """Each epoch a training pass (forward + backward, about three forwards) over the labeled images and
        a forward pass over the validation images; then two passes over the test images (scoring and
        calibration)."""
        epochs = int(entry.params.get("epochs", cls.defaults["epochs"]))
        passes = epochs * (3 * len(split.train) + len(split.val)) + 2 * len(split.test)
        return passes * probe["image_seconds"]
