"""Small class-conditional diffusion model: compact U-Net, cosine noise schedule, classifier-free
guidance (Ho & Salimans 2022), DDIM sampling (Song et al. 2021) with a configurable number of steps."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genclf.models.generative import GENERATORS, GenerativeModel, to_uint8, upsampling_plan
from genclf.models.output import StepOutput


def cosine_alpha_bar(steps: int) -> torch.Tensor:
    """Cumulative signal fraction per step (Nichol & Dhariwal 2021)."""
    t = torch.linspace(0, steps, steps + 1, dtype=torch.float64) / steps
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(10_000) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([args.sin(), args.cos()], dim=1)


class ResBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, emb_dim: int):
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(8, c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(8, c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x))) + self.emb(emb)[:, :, None, None]
        return self.skip(x) + self.conv2(F.silu(self.norm2(h)))


class UNet(nn.Module):
    def __init__(self, channels: int, num_classes: int, levels: int, width: int):
        super().__init__()
        emb_dim = 4 * width
        self.width = width
        self.time = nn.Sequential(nn.Linear(width, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.label = nn.Embedding(num_classes + 1, emb_dim)  # the last index is "no label" (guidance)
        widths = [width * 2**i for i in range(levels + 1)]
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        self.down = nn.ModuleList(ResBlock(widths[i], widths[i + 1], emb_dim) for i in range(levels))
        self.pool = nn.ModuleList(
            nn.Conv2d(widths[i + 1], widths[i + 1], 3, stride=2, padding=1) for i in range(levels)
        )
        self.mid = ResBlock(widths[-1], widths[-1], emb_dim)
        self.up = nn.ModuleList(ResBlock(2 * widths[i + 1], widths[i], emb_dim) for i in reversed(range(levels)))
        self.out = nn.Sequential(nn.GroupNorm(8, width), nn.SiLU(), nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, x: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        emb = self.time(timestep_embedding(t, self.width)) + self.label(labels)
        h = self.stem(x)
        skips = []
        for block, pool in zip(self.down, self.pool):
            h = block(h, emb)
            skips.append(h)
            h = pool(h)
        h = self.mid(h, emb)
        for block in self.up:
            skip = skips.pop()
            h = block(torch.cat([F.interpolate(h, size=skip.shape[-2:], mode="nearest"), skip], dim=1), emb)
        return self.out(h)


@GENERATORS.register("ddpm")
class ConditionalDiffusion(GenerativeModel):
    """Args:
    timesteps: training noise levels. sample_steps: DDIM steps at sampling time.
    guidance: classifier-free guidance weight w (0 = purely conditional model).
    label_dropout: probability of training without the label (enables guidance).
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        image_size: int,
        width: int = 32,
        timesteps: int = 1000,
        sample_steps: int = 25,
        guidance: float = 1.0,
        label_dropout: float = 0.1,
    ):
        super().__init__(in_channels, num_classes, image_size)
        _, steps = upsampling_plan(image_size)
        self.net = UNet(in_channels, num_classes, max(1, min(2, steps)), width)
        self.timesteps, self.sample_steps, self.guidance, self.label_dropout = (
            timesteps,
            sample_steps,
            guidance,
            label_dropout,
        )
        self.register_buffer("alpha_bar", cosine_alpha_bar(timesteps), persistent=False)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> StepOutput:
        x0, labels = batch
        t = torch.randint(0, self.timesteps, (len(x0),), device=x0.device)
        noise = torch.randn_like(x0)
        ab = self.alpha_bar[t].view(-1, 1, 1, 1)
        xt = ab.sqrt() * x0 + (1 - ab).sqrt() * noise
        dropped = torch.rand(len(x0), device=x0.device) < self.label_dropout
        labels = torch.where(dropped, torch.full_like(labels, self.num_classes), labels)
        loss = F.mse_loss(self.net(xt, t, labels).float(), noise)
        return StepOutput(loss, {"loss": loss.detach()})

    @torch.no_grad()
    def sample(self, labels: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        labels = labels.to(device)
        n = len(labels)
        x = torch.randn(n, self.in_channels, self.image_size, self.image_size, generator=generator).to(device)
        times = torch.linspace(self.timesteps - 1, 0, self.sample_steps).round().long().tolist()
        null = torch.full_like(labels, self.num_classes)
        for i, t in enumerate(times):
            tt = torch.full((n,), t, device=device, dtype=torch.long)
            if self.guidance > 0:
                both = self.net(torch.cat([x, x]), torch.cat([tt, tt]), torch.cat([labels, null])).float()
                cond, uncond = both.chunk(2)
                eps = (1 + self.guidance) * cond - self.guidance * uncond
            else:
                eps = self.net(x, tt, labels).float()
            ab = self.alpha_bar[t]
            x0 = ((x - (1 - ab).sqrt() * eps) / ab.sqrt()).clamp(-1, 1)
            ab_next = self.alpha_bar[times[i + 1]] if i + 1 < len(times) else torch.tensor(1.0, device=device)
            x = ab_next.sqrt() * x0 + (1 - ab_next).sqrt() * eps  # DDIM, eta = 0
        return to_uint8(x).cpu()
