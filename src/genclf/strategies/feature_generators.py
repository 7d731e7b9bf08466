"""Class-conditional generators of embeddings (a pretrained backbone's pooled features), for
``feature_augmentation``: ``fit(x, y, num_classes)`` then ``sample(counts, seed) -> (x, y)``.

- ``gaussian``: per-class means and one shared Ledoit-Wolf covariance (the model behind LDA): the cheap
  reference, no training.
- ``cvae``: a conditional VAE (Sohn et al. 2015) of MLPs on the standardised embeddings.
- ``cgan``: a conditional GAN of MLPs (label embedding concatenated to the noise and, through a projection
  term, read by the discriminator; Miyato & Koyama 2018), non-saturating loss, spectral norm in the critic.

The networks learn from a few hundred to a few thousand 1,280-dimensional vectors, so they are small and
train for a fixed number of steps (seconds on a CPU); every draw is seeded.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class ClassGaussian:
    """A class-conditional Gaussian over embeddings: per-class means, one shared Ledoit-Wolf covariance."""

    def fit(self, x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = 0) -> ClassGaussian:
        from sklearn.covariance import LedoitWolf

        self.means = np.stack([x[y == c].mean(0) if (y == c).any() else x.mean(0) for c in range(num_classes)])
        centred = x - self.means[y]
        self.covariance = LedoitWolf().fit(centred).covariance_
        eigenvalues, eigenvectors = np.linalg.eigh(self.covariance)
        self.root = eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))
        return self

    def sample(self, counts: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        labels = np.repeat(np.arange(len(counts)), counts)
        noise = rng.standard_normal((len(labels), self.root.shape[0])) @ self.root.T
        return (self.means[labels] + noise).astype(np.float32), labels


def _mlp(sizes: list[int], last: nn.Module | None = None, norm=lambda m: m) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(norm(nn.Linear(a, b)))
        if i < len(sizes) - 2:
            layers.append(nn.LeakyReLU(0.2))
    if last is not None:
        layers.append(last)
    return nn.Sequential(*layers)


class _Networked:
    """What the two network generators share: standardisation, seeded mini-batch training, seeded sampling."""

    steps = 1500
    batch_size = 128
    hidden = 256
    latent = 64

    def fit(self, x: np.ndarray, y: np.ndarray, num_classes: int, seed: int = 0):
        self.mean, self.scale = x.mean(0), x.std(0) + 1e-6
        self.num_classes, self.dim = num_classes, x.shape[1]
        torch.manual_seed(seed)
        data = self.standardised(x)
        labels = torch.from_numpy(np.asarray(y)).long()
        self.build()
        generator = torch.Generator().manual_seed(seed)
        for _ in range(self.steps):
            index = torch.randint(len(data), (min(self.batch_size, len(data)),), generator=generator)
            self.step(data[index], labels[index])
        return self

    def standardised(self, x: np.ndarray) -> torch.Tensor:
        """Embeddings in the standardised space the networks learn in."""
        return torch.from_numpy((x - self.mean) / self.scale).float()

    def sample(self, counts: list[int], seed: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.repeat(np.arange(len(counts)), counts)
        generator = torch.Generator().manual_seed(seed)
        z = torch.randn(len(labels), self.latent, generator=generator)
        with torch.no_grad():
            out = self.decode(z, torch.from_numpy(labels).long()).numpy() if len(labels) else np.zeros((0, self.dim))
        return (out * self.scale + self.mean).astype(np.float32), labels

    def onehot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.num_classes).float()


class FeatureCVAE(_Networked):
    """A conditional VAE: q(z | x, c) and p(x | z, c) as two-layer MLPs, Gaussian likelihood (MSE), KL to N(0, I)."""

    def build(self) -> None:
        k = self.num_classes
        self.encoder = _mlp([self.dim + k, self.hidden, 2 * self.latent])
        self.decoder = _mlp([self.latent + k, self.hidden, self.hidden, self.dim])
        self.optimizer = torch.optim.Adam([*self.encoder.parameters(), *self.decoder.parameters()], lr=1e-3)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        c = self.onehot(y)
        mu, logvar = self.encoder(torch.cat([x, c], 1)).chunk(2, dim=1)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self.decoder(torch.cat([z, c], 1))
        kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1).mean()
        loss = F.mse_loss(recon, x, reduction="none").sum(1).mean() + kl
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.decoder(torch.cat([z, self.onehot(y)], 1))


class FeatureCGAN(_Networked):
    """A conditional GAN of MLPs: G(z, c) -> x; D(x, c) = f(x) + <embed(c), h(x)> (projection discriminator)."""

    steps = 2000

    def build(self) -> None:
        sn = nn.utils.parametrizations.spectral_norm
        self.generator = _mlp([self.latent + self.num_classes, self.hidden, self.hidden, self.dim])
        self.features = _mlp([self.dim, self.hidden, self.hidden], last=nn.LeakyReLU(0.2), norm=sn)
        self.critic = sn(nn.Linear(self.hidden, 1))
        self.embed = sn(nn.Embedding(self.num_classes, self.hidden))
        d_params = [*self.features.parameters(), *self.critic.parameters(), *self.embed.parameters()]
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_d = torch.optim.Adam(d_params, lr=2e-4, betas=(0.5, 0.999))

    def discriminate(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        return self.critic(h).squeeze(1) + (self.embed(y) * h).sum(1)

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        z = torch.randn(len(x), self.latent)
        fake = self.decode(z, y)
        loss_d = F.softplus(-self.discriminate(x, y)).mean() + F.softplus(self.discriminate(fake.detach(), y)).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        loss_g = F.softplus(-self.discriminate(fake, y)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.generator(torch.cat([z, self.onehot(y)], 1))


FEATURE_GENERATORS = {"gaussian": ClassGaussian, "cvae": FeatureCVAE, "cgan": FeatureCGAN}
