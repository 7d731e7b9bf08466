"""``fixmatch``: consistency training on the unlabeled pool (Sohn et al. 2020): weak and strong
augmentations of one image must agree where the model is confident.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from genclf.config import TrainConfig
from genclf.config_rules import above, between, one_of
from genclf.data.splits import Split
from genclf.models.classifiers import Classifier
from genclf.models.output import StepOutput
from genclf.roles import CLASSICAL
from genclf.runtime.averaging import update_average, warmed_decay
from genclf.strategies.base import Context, Proposal, from_scratch_unlabeled, register_strategy
from genclf.strategies.pseudo_label import step_scaled
from genclf.strategies.wrapped import WrappedStrategy, Wrapper


def fixmatch_step(mu: float) -> float:
    """A FixMatch step over B labeled images, in labeled forward+backward passes: one training pass over
    (1 + mu) B images and a forward-only pass (about a third of one) over mu B weakly augmented ones."""
    return 1 + mu + mu / 3


def random_affine(
    x: torch.Tensor, degrees: float, translate: float, scale: tuple[float, float], shear: float = 0.0
) -> torch.Tensor:
    """A different random affine map for every image of the batch, in one ``grid_sample``."""
    n = x.shape[0]
    rand = lambda low, high: torch.empty(n, device=x.device).uniform_(low, high)  # noqa: E731
    angle = torch.deg2rad(rand(-degrees, degrees)) if degrees else torch.zeros(n, device=x.device)
    skew = torch.deg2rad(rand(-shear, shear)) if shear else torch.zeros(n, device=x.device)
    s = rand(*scale)
    cos, sin = torch.cos(angle) / s, torch.sin(angle) / s
    theta = torch.stack(
        [
            torch.stack([cos, -sin + torch.tan(skew), rand(-2 * translate, 2 * translate)], 1),
            torch.stack([sin, cos, rand(-2 * translate, 2 * translate)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Zero one random square per image, of side ``low``..``high`` times the image side."""
    n, _, h, w = x.shape
    side = (torch.empty(n, device=x.device).uniform_(low, high) * min(h, w)).long().clamp_min(1)
    top = (torch.rand(n, device=x.device) * (h - side + 1)).long()
    left = (torch.rand(n, device=x.device) * (w - side + 1)).long()
    rows, cols = torch.arange(h, device=x.device).view(1, h, 1), torch.arange(w, device=x.device).view(1, 1, w)
    inside = (
        (rows >= top.view(n, 1, 1))
        & (rows < (top + side).view(n, 1, 1))
        & (cols >= left.view(n, 1, 1))
        & (cols < (left + side).view(n, 1, 1))
    )
    return x * (~inside).unsqueeze(1).to(x.dtype)


def weak_augment(x: torch.Tensor) -> torch.Tensor:
    """FixMatch's weak view: a small random translation (no flip: digits and characters change under flips)."""
    return random_affine(x, 0.0, 0.125, (1.0, 1.0))


def strong_augment(x: torch.Tensor) -> torch.Tensor:
    """FixMatch's strong view, on normalised tensors: a large random affine map, contrast/brightness jitter
    and cutout (RandAugment's geometric and photometric families, plus Cutout, as in the paper)."""
    x = random_affine(x, 30.0, 0.2, (0.8, 1.2), shear=15.0)
    n = x.shape[0]
    contrast = torch.empty(n, 1, 1, 1, device=x.device).uniform_(0.6, 1.4)
    brightness = torch.empty(n, 1, 1, 1, device=x.device).uniform_(-0.4, 0.4)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return cutout((x - mean) * contrast + mean + brightness, 0.25, 0.5)


class FixMatchClassifier(Wrapper):
    """Supervised cross-entropy on weakly augmented labeled images, plus, on ``mu`` times as many unlabeled
    images, cross-entropy of the strong view against the weak view's class where its confidence reaches
    ``threshold``.

    With ``ema_decay`` > 0 an exponential moving average of the classifier's weights and statistics is kept
    (the paper evaluates it, decay 0.999): it is what validation sees and what training ends with, while
    pseudo-labels still come from the live weights. It is updated at the start of each step, i.e. from the
    weights after the previous optimizer step, with the usual warm-up ``min(decay, (1 + t) / (10 + t))``.
    """

    def __init__(
        self,
        classifier: Classifier,
        unlabeled: torch.Tensor,
        normalization,
        threshold: float = 0.95,
        mu: int = 3,
        weight: float = 1.0,
        ema_decay: float = 0.0,
    ):
        super().__init__(classifier)
        self.unlabeled, self.normalization = unlabeled, normalization
        self.threshold, self.mu, self.weight, self.ema_decay = threshold, mu, weight, ema_decay
        self.ema = copy.deepcopy(classifier).requires_grad_(False) if ema_decay > 0 else None
        self.register_buffer("ema_steps", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ema(x) if self.ema is not None and not self.training else self.classifier(x)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.ema.features(x) if self.ema is not None and not self.training else self.classifier.features(x)

    def final_classifier(self) -> Classifier:
        """The average once training is over, as an ordinary trainable classifier."""
        return self.ema.requires_grad_(True) if self.ema is not None else self.classifier

    @torch.no_grad()
    def update_ema(self) -> None:
        decay = warmed_decay(self.ema_decay, int(self.ema_steps))
        update_average(self.ema, self.classifier, decay, average_buffers=True)
        self.ema_steps += 1

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        images, labels = batch
        if self.ema is not None:
            self.update_ema()
        index = torch.randint(len(self.unlabeled), (self.mu * len(images),))
        pool = self.normalization.apply(self.unlabeled[index].to(images.device))
        with torch.no_grad():
            weak = torch.softmax(self.classifier(weak_augment(pool)).float(), dim=1)
        confidence, target = weak.max(1)
        mask = (confidence >= self.threshold).float()
        logits = self.classifier(torch.cat([weak_augment(images), strong_augment(pool)])).float()
        loss_sup = F.cross_entropy(logits[: len(images)], labels)
        loss_unsup = (F.cross_entropy(logits[len(images) :], target, reduction="none") * mask).mean()
        loss = loss_sup + self.weight * loss_unsup
        return StepOutput(
            loss, {"loss": loss.detach(), "loss_unsup": loss_unsup.detach(), "mask_rate": mask.mean().detach()}
        )


@register_strategy("fixmatch", CLASSICAL, cost=5.0, plan=[Proposal(8, from_scratch_unlabeled)])
class FixMatch(WrappedStrategy):
    """FixMatch on the unlabeled pool (the labeled images alone without one). ``mu``: unlabeled images per
    labeled one in a batch (the paper's 7; 3 by default on CPU). ``step_ratio``: optimizer steps relative to
    the baseline classifier's. ``keep``: the weights of the ``best`` validation epoch, or of the ``last``
    (the paper's protocol; with a long schedule and a small validation split, the best-scoring epoch is
    mostly the first to reach a plateau the validation images cannot tell apart). ``ema``: the decay of an
    exponential moving average of the weights that is validated and kept (the paper's 0.999; 0 = off)."""

    defaults = {
        "dropout": 0.2,
        "threshold": 0.95,
        "mu": 3,
        "unsupervised_weight": 1.0,
        "step_ratio": 2.0,
        "keep": "best",
        "ema": 0.0,
    }

    @classmethod
    def relative_cost(cls, entry, split) -> float:
        """Measured at the default ``step_ratio`` and ``mu``; a step passes mu unlabeled images per labeled one."""
        mu, default_mu = entry.params.get("mu", cls.defaults["mu"]), cls.defaults["mu"]
        return step_scaled(cls, entry, float(cls.cost)) * fixmatch_step(mu) / fixmatch_step(default_mu)

    def validate_params(self) -> None:
        for name in ("threshold", "ema"):
            self.check_param(name, between(0, 1))
        for name in ("mu", "unsupervised_weight", "step_ratio"):
            self.check_param(name, above(0))
        self.check_param("keep", one_of("best", "last"))

    def wrap(self, classifier: Classifier, split: Split, context: Context) -> FixMatchClassifier:
        pool = split.unlabeled if split.unlabeled is not None and len(split.unlabeled) else split.train
        self.extra["n_unlabeled"] = len(pool) if pool is not split.train else 0
        return FixMatchClassifier(
            classifier,
            pool.images,
            split.normalization,
            self.params["threshold"],
            int(self.params["mu"]),
            self.params["unsupervised_weight"],
            self.params["ema"],
        )

    def budget(self, split: Split, context: Context) -> TrainConfig:
        epochs = max(1, round(context.train.epochs * self.params["step_ratio"]))
        return TrainConfig(**{**vars(context.train), "epochs": epochs})
