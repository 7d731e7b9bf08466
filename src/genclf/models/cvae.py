"""Conditional convolutional VAE: q(z | x, y) and p(x | z, y), with a per-sample ELBO."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from genclf.models.generative import GENERATORS, GenerativeModel, to_uint8, upsampling_plan
from genclf.models.output import StepOutput


@GENERATORS.register("cvae")
class ConditionalVAE(GenerativeModel):
    """Args:
    latent_dim: size of z.
    beta: weight of the KL term (beta-VAE).
    likelihood: 'bernoulli' (grey images, pixels as probabilities) or 'gaussian' (unit-variance MSE).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        latent_dim: int = 16,
        width: int = 32,
        beta: float = 1.0,
        likelihood: str | None = None,
    ):
        super().__init__(in_channels, num_classes, image_size)
        self.latent_dim, self.beta = latent_dim, beta
        self.likelihood = likelihood or ("bernoulli" if in_channels == 1 else "gaussian")
        base, steps = upsampling_plan(image_size)
        self.base, widths = base, [width * 2**i for i in range(steps + 1)]
        enc: list[nn.Module] = [nn.Conv2d(in_channels + num_classes, widths[0], 3, padding=1), nn.LeakyReLU(0.2)]
        for i in range(steps):
            enc += [
                nn.Conv2d(widths[i], widths[i + 1], 4, stride=2, padding=1),
                nn.BatchNorm2d(widths[i + 1]),
                nn.LeakyReLU(0.2),
            ]
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        flat = widths[-1] * base * base
        self.to_stats = nn.Linear(flat, 2 * latent_dim)
        self.from_latent = nn.Linear(latent_dim + num_classes, flat)
        dec: list[nn.Module] = []
        for i in reversed(range(steps)):
            dec += [
                # Upsample + conv rather than ConvTranspose2d: same job, and fast under CPU bf16 autocast
                # (ConvTranspose2d has no fast bf16 CPU kernel: ~10x slower per step, measured).
                nn.Upsample(scale_factor=2),
                nn.Conv2d(widths[i + 1], widths[i], 3, padding=1),
                nn.BatchNorm2d(widths[i]),
                nn.ReLU(),
            ]
        self.decoder = nn.Sequential(*dec, nn.Conv2d(widths[0], in_channels, 3, padding=1))
        self.top_width = widths[-1]

    def _onehot(self, labels: torch.Tensor) -> torch.Tensor:
        return F.one_hot(labels, self.num_classes).float()

    def encode(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance of z for images in [-1, 1]."""
        planes = self._onehot(labels)[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        stats = self.to_stats(self.encoder(torch.cat([x, planes], dim=1)))
        mean, logvar = stats.float().chunk(2, dim=1)
        return mean, logvar.clamp(-10, 10)

    def decode(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Decoder output: logits (bernoulli) or means in [-1, 1] space (gaussian)."""
        h = self.from_latent(torch.cat([z, self._onehot(labels)], dim=1)).view(-1, self.top_width, self.base, self.base)
        return self.decoder(F.relu(h)).float()

    def elbo(
        self, x: torch.Tensor, labels: torch.Tensor, samples: int = 1, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Evidence lower bound per image (nats), averaged over ``samples`` draws of z (from ``generator``
        when given, on the CPU)."""
        mean, logvar = self.encode(x, labels)
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1)
        recon = 0.0
        for _ in range(samples):
            noise = (
                torch.randn(mean.shape, generator=generator).to(mean.device) if generator else torch.randn_like(mean)
            )
            z = mean + noise * (0.5 * logvar).exp()
            recon = recon + self._log_likelihood(x, self.decode(z, labels)) / samples
        return recon - self.beta * kl

    def _log_likelihood(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.likelihood == "bernoulli":
            target = (x.float() + 1) / 2
            return -F.binary_cross_entropy_with_logits(out, target, reduction="none").flatten(1).sum(1)
        return -0.5 * (out - x.float()).pow(2).flatten(1).sum(1) / 0.1  # fixed variance 0.1 in [-1, 1] units

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        x, labels = batch
        mean, logvar = self.encode(x, labels)
        z = mean + torch.randn_like(mean) * (0.5 * logvar).exp()
        recon = -self._log_likelihood(x, self.decode(z, labels)).mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).sum(dim=1).mean()
        loss = (recon + self.beta * kl) / x[0].numel()
        return StepOutput(loss, {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach()})

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(len(labels), self.latent_dim, generator=generator).to(device)
        out = self.decode(z, labels.to(device))
        images = torch.sigmoid(out) * 2 - 1 if self.likelihood == "bernoulli" else out
        return to_uint8(images).cpu()
