"""``colorize_then_classify``: the grey-camera problem. A classifier trained on colour photos is shown
grey frames; a colorizer (pix2pix, or the L1-only U-Net) gives them colour back first.

One fit gives four results rows (test labels are the same for all):

- ``<name>`` — (c) grey test images, colorized, fed to the colour-trained classifier: the strategy itself;
- ``<name>[colour input]`` — (a) the colour-trained classifier on the original colour test images;
- ``<name>[grey input]`` — (b) the same classifier on grey test images (the drop to recover);
- ``<name>[grey-trained]`` — (d) a classifier trained on grey images, on grey test images.

The (c) row carries ``recovered_share`` = (c - b) / (a - b) on accuracy, and the colorizer's PSNR/SSIM
against the original colour (and those of grey copied to three channels, the trivial baseline).
The colorizer learns from the colour images of the labeled set and the unlabeled pool (it needs no labels).
With ``task_weight`` > 0 it is task-aware: the colour-trained classifier of (a), frozen, reads each
training photo and its colorized copy, and the colorizer also learns to make the two predictions agree
(a KL term; see ``genclf.models.pix2pix``). Still no labels: the target is the classifier's view of the original.
"""

from __future__ import annotations

import numpy as np
import torch

from genclf.config import StrategyConfig
from genclf.config_rules import at_least
from genclf.data.images import ImageSet
from genclf.data.splits import Normalization, Split
from genclf.errors import ConfigError
from genclf.models.pix2pix import COLORIZERS, to_grey_rgb
from genclf.pipelines.classify import train_classifier
from genclf.pipelines.colorize import colorization_scores, colour_pool, require_colour
from genclf.roles import BASELINE, CLASSICAL, GENERATIVE, REFERENCE
from genclf.strategies.base import Context, Strategy, View, register_strategy
from genclf.training.fit import Fit


def grey_set(images: ImageSet | None) -> ImageSet | None:
    if images is None:
        return None
    return ImageSet(to_grey_rgb(images.images), images.labels, images.class_names)


def grey_split(split: Split) -> Split:
    train = grey_set(split.train)
    return Split(
        train, grey_set(split.val), grey_set(split.test), grey_set(split.unlabeled), Normalization.fit(train.images)
    )


@register_strategy("colorize_then_classify", GENERATIVE, cost=2.0)  # the colour and the grey-trained classifier
class ColorizeThenClassify(Strategy):
    defaults = {"colorizer": "pix2pix", "colorizer_options": {}, "dropout": 0.2, "task_weight": 0.0}

    @classmethod
    def colorizer_of(cls, entry: StrategyConfig) -> tuple[str, dict, str]:
        params = {**cls.defaults, **entry.params}
        options = dict(params["colorizer_options"])
        guided = float(params["task_weight"]) > 0  # a task-aware colorizer is trained per guiding classifier
        key = f"{params['colorizer']}:{sorted(options.items())}" + (f":{entry.classifier}" if guided else "")
        return params["colorizer"], options, key

    def validate_params(self) -> None:
        if self.params["colorizer"] not in COLORIZERS:
            raise ConfigError(
                f"strategies[{self.config.name}].params.colorizer",
                f"unknown colorizer {self.params['colorizer']!r}; expected one of: {', '.join(COLORIZERS.names())}",
            )
        self.check_param("task_weight", at_least(0))

    def fit(self, split: Split, context: Context) -> None:
        require_colour(split.train, f"strategies[{self.config.name}]")
        options = {"dropout": self.params["dropout"]}
        self.colour, result = train_classifier(
            split, self.config.classifier, Fit(context.train, context.seed, quiet=context.quiet), options=options
        )
        self.extra["best_epoch"] = result.best_epoch
        grey = grey_split(split)
        self.grey_trained, _ = train_classifier(
            grey, self.config.classifier, Fit(context.train, context.seed, quiet=context.quiet), options=options
        )
        options, guide = dict(self.params["colorizer_options"]), None
        if self.params["task_weight"] > 0:  # task-aware: the colour classifier guides the colorizer
            options["task_weight"], guide = float(self.params["task_weight"]), self.colour
        guide_name = f"{self.config.classifier}-dropout{self.params['dropout']}"
        self.colorizer = context.colorizer(
            self.params["colorizer"], colour_pool(split), options, guide=guide, guide_name=guide_name
        )
        self.extra["colorizer"] = self.params["colorizer"]

    def colorized_proba(self, images: torch.Tensor) -> np.ndarray:
        """What the camera pipeline does: grey frame -> colorizer -> colour-trained classifier."""
        return self.colour.predict_proba(self.colorizer.colorize(to_grey_rgb(images)))

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.colorized_proba(images)

    def views(self, split: Split) -> list[View]:
        name, test = self.config.display_name, split.test
        grey = to_grey_rgb(test.images)
        colorized = self.colorizer.colorize(grey)
        proba = {
            "colour": self.colour.predict_proba(test.images),
            "grey": self.colour.predict_proba(grey),
            "colorized": self.colour.predict_proba(colorized),
            "grey_trained": self.grey_trained.predict_proba(grey),
        }
        truth = test.labels.numpy()
        acc = {k: float((p.argmax(1) == truth).mean()) for k, p in proba.items()}
        drop = acc["colour"] - acc["grey"]
        recovered = (acc["colorized"] - acc["grey"]) / drop if drop > 0 else float("nan")
        scores = colorization_scores(test.images, colorized)
        grey_predict = lambda x: self.colour.predict_proba(to_grey_rgb(x))  # noqa: E731
        grey_trained_predict = lambda x: self.grey_trained.predict_proba(to_grey_rgb(x))  # noqa: E731
        return [
            View(
                name,
                self.config.name,
                self.role,
                proba["colorized"],
                {"recovered_share": recovered, **scores},
                self.colorized_proba,
            ),
            View(f"{name}[colour input]", "colour_input", REFERENCE, proba["colour"], {}, self.colour.predict_proba),
            View(f"{name}[grey input]", "grey_input", BASELINE, proba["grey"], {}, grey_predict),
            View(f"{name}[grey-trained]", "grey_trained", CLASSICAL, proba["grey_trained"], {}, grey_trained_predict),
        ]
