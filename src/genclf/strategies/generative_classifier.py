"""``generative_classifier``: Bayes rule with the cVAE, argmax_y ELBO(x, y) + log p(y)."""

from __future__ import annotations

import numpy as np
import torch

from genclf.data.splits import Split
from genclf.models.generative import generator_normalization
from genclf.roles import GENERATIVE
from genclf.strategies.base import Context, Strategy, register_strategy


@register_strategy("generative_classifier", GENERATIVE)
class GenerativeClassifier(Strategy):
    """The ELBO lower-bounds log p(x | y); adding the log prior and normalising over classes gives
    an approximate posterior p(y | x). ``samples`` draws of z per (image, class) reduce its noise; every
    class gets the same draws of the standard-normal noise (common random numbers), so the noise largely
    cancels where classes are compared. Measured on digits (a cVAE on 100 labels, 454 test images, 3 noise
    seeds): accuracy 0.897 with 4 common draws, as with 8 independent draws (0.897), at half the cost;
    0.917 with 8 common draws, as with 32 independent ones."""

    draws_generators = True
    defaults = {"samples": 4, "generator_options": {}}

    def fit(self, split: Split, context: Context) -> None:
        self.vae = context.generator("cvae", split, self.params["generator_options"]).model.eval()
        counts = torch.tensor(split.train.class_counts(), dtype=torch.float32).clamp_min(1)
        self.log_prior = (counts / counts.sum()).log()
        self.normalization = generator_normalization(split.train.channels)
        self.seed = context.seed
        self.extra["generator"] = "cvae"

    @torch.no_grad()
    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        device = next(self.vae.parameters()).device
        out = []
        for start in range(0, len(images), 256):
            x = self.normalization.apply(images[start : start + 256].to(device))
            seed = self.seed * 1_000_003 + start  # the same noise for every class of this batch
            scores = torch.stack(
                [
                    self.vae.elbo(
                        x,
                        torch.full((len(x),), c, device=device),
                        self.params["samples"],
                        torch.Generator().manual_seed(seed),
                    )
                    for c in range(len(self.log_prior))
                ],
                dim=1,
            )
            out.append(torch.softmax(scores + self.log_prior.to(device), dim=1).cpu())
        return torch.cat(out).numpy()
