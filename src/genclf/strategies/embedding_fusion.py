"""``feature_fusion`` and ``autoencoder_fusion`` on a pretrained backbone (``classifier: efficientnet_lite0``):
the backbone is the feature extractor, and the fusion happens on its frozen, cached embeddings.

- ``feature_fusion``: a class-conditional generator of embeddings (``source``: ``cgan``, whose discriminator's
  hidden features are read, or ``cvae``, whose encoder means under every label are read; see
  ``feature_generators``) is trained on the labeled embeddings and checked like ``feature_augmentation``'s
  (same generator, same key in generators.csv); the head reads the embedding and the generator's features
  side by side (standardised, one logistic regression: the fully-connected fusion of a linear head).
- ``autoencoder_fusion``: an MLP autoencoder of the embeddings, trained on the labeled images and the unlabeled
  pool (where the pool enters); the head reads the embedding and the autoencoder's code.

Neither ends in one network from pixels to classes, so neither has a deployable model: ``genclf predict``
uses the run's other rows.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from genclf.config_rules import integer, one_of
from genclf.roles import GENERATIVE
from genclf.strategies.feature_augmentation import ChecksFeatureGenerator
from genclf.strategies.feature_generators import FeatureCGAN, FeatureCVAE, _mlp, _Networked
from genclf.strategies.features import HEAD_SECONDS, FeatureHead, FeatureStrategy

AUTOENCODER_SECONDS = 10.0  # its training on ~50,000 embeddings of 1,280 dimensions (measured on 2 cores)


class FusedHead(FeatureStrategy):
    """A head on [embedding, side(embedding)], where ``side`` is fitted by ``fit_side``."""

    def fit_side(self, x: np.ndarray, y: np.ndarray, split, context, val) -> None:
        raise NotImplementedError

    def side(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def fused(self, x: np.ndarray) -> np.ndarray:
        return np.concatenate([x, self.side(x)], axis=1)

    def fit(self, split, context) -> None:
        x, y = self.embed(split.train.images, context.quiet), split.train.labels.numpy()
        val_x, val_y = self.embed(split.val.images), split.val.labels.numpy()
        self.fit_side(x, y, split, context, (val_x, val_y))
        self.head = FeatureHead(split.train.num_classes, seed=context.seed).fit(
            self.fused(x), y, self.fused(val_x), val_y
        )
        self.extra.update({"n_train_effective": len(y), "head_c": self.head.c, "epochs": 0, "steps": 0})

    def predict_proba(self, images: torch.Tensor) -> np.ndarray:
        return self.head.predict_proba(self.fused(self.embed(images)))

    def deployable(self, split):
        return None  # the head reads a second network's features: no single classifier to save


class EmbeddingFeatureFusion(ChecksFeatureGenerator, FusedHead):
    """``feature_fusion`` on a pretrained backbone (see the module docstring)."""

    role, name = GENERATIVE, "feature_fusion"
    defaults = {"resolution": 128, "source": "cgan", "min_cas_ratio": 0.75}
    heads = 3  # its own, and the generator check's two

    def validate_params(self) -> None:
        super().validate_params()
        self.check_param("source", one_of("cgan", "cvae"))

    def generator_key(self) -> str:
        return f"features_{self.params['source']}_{self.backbone}_{self.params['resolution']}px"

    def fit_side(self, x, y, split, context, val) -> None:
        k = split.train.num_classes
        generator_class = FeatureCGAN if self.params["source"] == "cgan" else FeatureCVAE
        self.generator = generator_class().fit(x, y, k, seed=context.seed)
        counts = np.bincount(y, minlength=k)
        self.generator_checks = [self.check(self.generator, x, y, val, counts, context)]
        if self.generator_key() not in context.used:
            context.used.append(self.generator_key())
        self.extra["generator"] = self.params["source"]

    @torch.no_grad()
    def side(self, x: np.ndarray) -> np.ndarray:
        g = self.generator
        z = g.standardised(x)
        if isinstance(g, FeatureCGAN):
            return g.features(z).numpy()
        means = []
        for c in range(g.num_classes):
            label = g.onehot(torch.full((len(z),), c, dtype=torch.long))
            means.append(g.encoder(torch.cat([z, label], 1)).chunk(2, dim=1)[0])
        return torch.cat(means, dim=1).numpy()

    @classmethod
    def planned_seconds(cls, entry, split, train, probe: dict) -> float:
        return HEAD_SECONDS * cls.heads


class EmbeddingAutoencoder(_Networked):
    """An MLP autoencoder of standardised embeddings: ``dim -> hidden -> code -> hidden -> dim``, MSE; trained
    by the feature generators' seeded mini-batch loop (labels unused)."""

    batch_size = 256

    def __init__(self, code: int, steps: int):
        self.latent, self.steps = code, steps

    def build(self) -> None:
        self.encoder = _mlp([self.dim, self.hidden, self.latent])
        self.decoder = _mlp([self.latent, self.hidden, self.dim])
        self.optimizer = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=1e-3)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.mse_loss(self.decoder(self.encoder(x)), x)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def fit(self, x: np.ndarray, seed: int) -> EmbeddingAutoencoder:
        super().fit(x, np.zeros(len(x), dtype=np.int64), 1, seed)
        with torch.no_grad():
            data = self.standardised(x)
            self.final_loss = float(F.mse_loss(self.decoder(self.encoder(data)), data))
        return self

    @torch.no_grad()
    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encoder(self.standardised(x)).numpy()


class EmbeddingAutoencoderFusion(FusedHead):
    """``autoencoder_fusion`` on a pretrained backbone (see the module docstring)."""

    role, name = GENERATIVE, "autoencoder_fusion"
    defaults = {"resolution": 128, "code": 64, "steps": 2000}
    heads = 1

    def validate_params(self) -> None:
        super().validate_params()
        self.check_param("code", integer(2, 1024))
        self.check_param("steps", integer(1, 100_000))

    def fit_side(self, x, y, split, context, val) -> None:
        pool = split.unlabeled
        pool_x = self.embed(pool.images, context.quiet) if pool is not None and len(pool) else x[:0]
        data = np.concatenate([x, pool_x])
        self.autoencoder = EmbeddingAutoencoder(self.params["code"], self.params["steps"]).fit(data, context.seed)
        self.extra.update(n_pretrain=len(data), reconstruction_mse=round(self.autoencoder.final_loss, 4))

    def side(self, x: np.ndarray) -> np.ndarray:
        return self.autoencoder.encode(x)

    @classmethod
    def planned_seconds(cls, entry, split, train, probe: dict) -> float:
        return HEAD_SECONDS * cls.heads + AUTOENCODER_SECONDS
