"""``semi_supervised_gan``: a K+1-class discriminator trained on labeled, unlabeled and generated
images, with feature matching for the generator (Salimans et al. 2016, "Improved techniques for training GANs").
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from genclf.config import TrainConfig
from genclf.data.splits import Split
from genclf.models.cgan import Generator
from genclf.models.classifiers import Classifier, build_classifier, prepare_for
from genclf.models.generative import upsampling_plan
from genclf.models.output import StepOutput
from genclf.pipelines.classify import TrainedClassifier, train_classifier
from genclf.roles import GENERATIVE
from genclf.runtime.optim import adam
from genclf.strategies.base import (
    Context,
    Proposal,
    Strategy,
    budget_columns,
    from_scratch_unlabeled,
    register_strategy,
)
from genclf.training.fit import Fit


class SemiSupervisedGAN(Classifier):
    """The classifier's K logits double as the discriminator: with the fake logit fixed at 0,
    D(x) = Z(x) / (Z(x) + 1) where Z(x) = sum_k exp(l_k(x))."""

    owns_optimization = True
    supports_bf16 = False

    def __init__(
        self,
        classifier: Classifier,
        unlabeled: torch.Tensor,
        mean: list[float],
        std: list[float],
        latent_dim: int = 64,
        lr: float = 1e-3,
        unsupervised_weight: float = 1.0,
    ):
        super().__init__(classifier.in_channels, classifier.num_classes, classifier.image_size, dropout=0.0)
        self.classifier = classifier
        self.feature_dim = classifier.feature_dim
        base, steps = upsampling_plan(classifier.image_size)
        self.generator = Generator(classifier.in_channels, 1, base, steps, latent_dim, 32)
        self.unlabeled, self.latent_dim, self.lr, self.weight = unlabeled, latent_dim, lr, unsupervised_weight
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def configure_optimizers(self, config: TrainConfig):
        self.opt_d = adam(self.classifier.parameters(), self.lr, (0.5, 0.999))
        self.opt_g = adam(self.generator.parameters(), self.lr, (0.5, 0.999))
        return [self.opt_d, self.opt_g]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x)

    def _fake(self, n: int, device) -> torch.Tensor:
        z = torch.randn(n, self.latent_dim, device=device)
        images = (self.generator(z, torch.zeros(n, dtype=torch.long, device=device)) + 1) / 2  # [0, 1]
        return (images - self.mean) / self.std  # the classifier's input space

    def training_step(self, batch):
        x, labels = batch
        index = torch.randint(len(self.unlabeled), (len(x),))
        unlabeled = self.unlabeled[index].to(x.device)
        fake = self._fake(len(x), x.device)
        loss_sup = F.cross_entropy(self.classifier(x).float(), labels)
        lse_real = torch.logsumexp(self.classifier(unlabeled).float(), dim=1)
        lse_fake = torch.logsumexp(self.classifier(fake.detach()).float(), dim=1)
        loss_unsup = -lse_real.mean() + F.softplus(lse_real).mean() + F.softplus(lse_fake).mean()
        loss_d = loss_sup + self.weight * loss_unsup
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        with torch.no_grad():
            real_features = self.classifier.features(unlabeled).mean(0)
        loss_g = (self.classifier.features(self._fake(len(x), x.device)).mean(0) - real_features).pow(2).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return StepOutput(
            (loss_d + loss_g).detach(),
            {"loss_sup": loss_sup.detach(), "loss_unsup": loss_unsup.detach(), "loss_g": loss_g.detach()},
        )


@register_strategy(
    "semi_supervised_gan", GENERATIVE, cost=6.0, plan=[Proposal(11, from_scratch_unlabeled, params={"epochs": 30})]
)
class SemiSupervisedGANStrategy(Strategy):
    """Needs an unlabeled pool (``data.k_per_class``); ``epochs`` counts passes over the labeled set."""

    defaults = {"epochs": 100, "lr": 1e-3, "unsupervised_weight": 1.0}

    @classmethod
    def relative_cost(cls, entry, split) -> float:
        """Measured at 30 epochs; it scales with its own ``epochs``."""
        return float(cls.cost) * entry.params.get("epochs", 30) / 30

    def fit(self, split: Split, context: Context) -> None:
        pool = split.unlabeled if split.unlabeled is not None and len(split.unlabeled) else split.train
        self.extra["n_unlabeled"] = len(pool) if pool is not split.train else 0
        torch.manual_seed(context.seed)
        classifier = build_classifier(
            self.config.classifier, split.train.channels, split.train.num_classes, split.train.image_size, dropout=0.0
        )
        prepare_for(classifier, split.normalization)
        unlabeled = split.normalization.apply(pool.images)
        model = SemiSupervisedGAN(
            classifier,
            unlabeled,
            split.normalization.mean,
            split.normalization.std,
            lr=self.params["lr"],
            unsupervised_weight=self.params["unsupervised_weight"],
        )
        budget = TrainConfig(**{**vars(context.train), "epochs": self.params["epochs"], "precision": "fp32"})
        trained, result = train_classifier(
            split, self.config.classifier, Fit(budget, context.seed, quiet=context.quiet), model=model
        )
        self.classifier = TrainedClassifier(
            model.classifier, self.config.classifier, {}, trained.class_names, trained.normalization
        )
        self.extra["best_epoch"] = result.best_epoch
        self.extra.update(budget_columns(budget, result.epochs_run, len(split.train)))

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.classifier.predict_proba(images)

    def pixel_model(self):
        return self.classifier.pixel_model()
