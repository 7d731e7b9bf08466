"""Robustness to common corruptions (Hendrycks & Dietterich 2019 style) and to adversarial
perturbations (FGSM, PGD under L-infinity).

Corruptions take uint8 images (N, C, H, W) and return uint8 images of the same shape; each has five
severities (0 is the identity) and is deterministic given a seed. Sizes that depend on the image
(blur radius, occluding patch) scale with the image side, so 8x8 digits and 32x32 photos get comparable damage.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from PIL import Image

from genclf.errors import ConfigError

Corruption = Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]
SEVERITIES = (1, 2, 3, 4, 5)


def _float(images: torch.Tensor) -> torch.Tensor:
    return images.float().div(255.0)


def _uint8(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(0, 1).mul(255.0).round().to(torch.uint8)


def gaussian_noise(images, severity, gen):
    sigma = (0.08, 0.12, 0.18, 0.26, 0.38)[severity - 1]
    return _uint8(_float(images) + sigma * torch.randn(images.shape, generator=gen))


def shot_noise(images, severity, gen):
    photons = (60.0, 25.0, 12.0, 5.0, 3.0)[severity - 1]
    return _uint8(torch.poisson(_float(images) * photons, generator=gen) / photons)


def gaussian_blur(images, severity, gen):
    sigma = (0.4, 0.6, 0.8, 1.0, 1.4)[severity - 1] * images.shape[-1] / 28
    kernel = 2 * math.ceil(2.5 * sigma) + 1
    return TF.gaussian_blur(images, [kernel, kernel], [sigma, sigma])


def contrast(images, severity, gen):
    factor = (0.6, 0.45, 0.3, 0.2, 0.1)[severity - 1]
    x = _float(images)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return _uint8((x - mean) * factor + mean)


def brightness(images, severity, gen):
    shift = (0.1, 0.2, 0.3, 0.4, 0.5)[severity - 1]
    return _uint8(_float(images) + shift)


def jpeg_compression(images, severity, gen):
    """JPEG round trip through Pillow (torchvision's encoder is deprecated)."""
    quality = (80, 65, 50, 30, 15)[severity - 1]
    out = []
    for image in images.permute(0, 2, 3, 1).numpy():
        buffer = io.BytesIO()
        Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(buffer, "JPEG", quality=quality)
        decoded = np.asarray(Image.open(buffer))
        out.append(decoded.reshape(image.shape))
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2)


def pixelate(images, severity, gen):
    scale = (0.8, 0.65, 0.5, 0.4, 0.3)[severity - 1]
    size = images.shape[-1]
    small = max(2, round(size * scale))
    down = F.interpolate(_float(images), size=(small, small), mode="area")
    return _uint8(F.interpolate(down, size=(size, size), mode="nearest"))


def occlusion(images, severity, gen):
    """A black square over a fraction of the image area, at a random place per image."""
    area = (0.05, 0.1, 0.15, 0.22, 0.3)[severity - 1]
    n, _, h, w = images.shape
    side = max(1, round(math.sqrt(area * h * w)))
    top = torch.randint(0, h - side + 1, (n,), generator=gen)
    left = torch.randint(0, w - side + 1, (n,), generator=gen)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    inside = (
        (rows >= top.view(-1, 1, 1))
        & (rows < (top + side).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1))
        & (cols < (left + side).view(-1, 1, 1))
    )
    return images.masked_fill(inside.unsqueeze(1), 0)


def rotation(images, severity, gen):
    """Rotation by +-degrees (random sign per image), bilinear, black fill."""
    degrees = (5.0, 10.0, 15.0, 20.0, 30.0)[severity - 1]
    n = len(images)
    sign = torch.randint(0, 2, (n,), generator=gen).float() * 2 - 1
    theta = torch.deg2rad(sign * degrees)
    cos, sin = torch.cos(theta), torch.sin(theta)
    zeros = torch.zeros_like(cos)
    matrix = torch.stack([torch.stack([cos, -sin, zeros], 1), torch.stack([sin, cos, zeros], 1)], 1)
    grid = F.affine_grid(matrix, list(images.shape), align_corners=False)
    return _uint8(F.grid_sample(_float(images), grid, mode="bilinear", padding_mode="zeros", align_corners=False))


CORRUPTIONS: dict[str, Corruption] = {
    "gaussian_noise": gaussian_noise,
    "shot_noise": shot_noise,
    "gaussian_blur": gaussian_blur,
    "contrast": contrast,
    "brightness": brightness,
    "jpeg_compression": jpeg_compression,
    "pixelate": pixelate,
    "occlusion": occlusion,
    "rotation": rotation,
}


def check_corruptions(names: list[str] | None, field: str = "--corruptions") -> list[str]:
    names = list(CORRUPTIONS) if not names else list(names)
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        raise ConfigError(field, f"unknown corruption {unknown[0]!r}; expected one of: {', '.join(CORRUPTIONS)}")
    return names


def check_severities(severities: list[int] | None, field: str = "--severities") -> list[int]:
    severities = list(SEVERITIES) if not severities else list(severities)
    bad = [s for s in severities if not isinstance(s, int) or isinstance(s, bool) or not 1 <= s <= 5]
    if bad:
        raise ConfigError(field, f"expected severities between 1 and 5, got {bad[0]!r}")
    return sorted(set(severities))


def corrupt(images: torch.Tensor, name: str, severity: int, seed: int = 0) -> torch.Tensor:
    """Apply corruption ``name`` at ``severity`` (0 = identity, 1-5) to uint8 images (N, C, H, W)."""
    check_corruptions([name], "corruption")
    if severity == 0:
        return images.clone()
    check_severities([severity], "severity")
    index = list(CORRUPTIONS).index(name)
    gen = torch.Generator().manual_seed(seed * 1009 + index * 10 + severity)
    out = CORRUPTIONS[name](images, severity, gen)
    return out.to(torch.uint8).contiguous()


def corruption_accuracy(
    predict_proba: Callable[[torch.Tensor], np.ndarray],
    images: torch.Tensor,
    labels: torch.Tensor,
    corruptions: list[str] | None = None,
    severities: list[int] | None = None,
    seed: int = 0,
) -> dict:
    """Accuracy per corruption x severity, the clean accuracy, and the mean corruption accuracy."""
    corruptions, severities = check_corruptions(corruptions), check_severities(severities)
    truth = labels.numpy()
    table = {
        name: {
            str(s): float((predict_proba(corrupt(images, name, s, seed)).argmax(1) == truth).mean()) for s in severities
        }
        for name in corruptions
    }
    return {
        "clean_accuracy": float((predict_proba(images).argmax(1) == truth).mean()),
        "accuracy": table,
        "mean_corruption_accuracy": float(np.mean([v for row in table.values() for v in row.values()])),
        "severities": severities,
    }


def corruption_error(accuracy: dict[str, dict[str, float]], reference: dict[str, dict[str, float]]) -> dict:
    """Corruption error relative to a reference model (mCE, Hendrycks & Dietterich 2019): per corruption,
    the model's errors summed over severities divided by the reference's; mCE is their mean (1.0 = as robust)."""
    ce = {}
    for name, row in accuracy.items():
        if name in reference:
            ours = sum(1 - row[s] for s in row)
            theirs = sum(1 - reference[name][s] for s in row)
            ce[name] = ours / theirs if theirs > 0 else float("nan")
    return {"ce": ce, "mce": float(np.mean(list(ce.values()))) if ce else float("nan")}


# --- adversarial -------------------------------------------------------------------------------------------


def pgd_attack(
    model: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    labels: torch.Tensor,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """L-infinity PGD (Madry et al. 2018) on images in [0, 1]; ``model`` maps [0, 1] images to logits.
    ``steps=1, step_size=eps, random_start=False`` is FGSM (Goodfellow et al. 2015)."""
    if eps <= 0:
        return x.clone()
    step_size = 2.5 * eps / steps if step_size is None else step_size
    adv = x.clone()
    if random_start:
        adv = (adv + (torch.rand(x.shape, generator=generator) * 2 - 1).to(x.device) * eps).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(model(adv).float(), labels)
        (grad,) = torch.autograd.grad(loss, adv)
        with torch.no_grad():
            adv = adv + step_size * grad.sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
    return adv.detach()


def fgsm_attack(model, x, labels, eps: float) -> torch.Tensor:
    return pgd_attack(model, x, labels, eps, steps=1, step_size=eps, random_start=False)


def check_eps(eps: list[float], field: str = "--eps") -> list[float]:
    bad = [e for e in eps if not isinstance(e, (int, float)) or isinstance(e, bool) or not 0 <= e <= 1]
    if bad:
        raise ConfigError(field, f"expected eps values in [0, 1] (pixel units), got {bad[0]!r}")
    return [float(e) for e in eps]


def adversarial_accuracy(
    model: Callable[[torch.Tensor], torch.Tensor],
    images: torch.Tensor,
    labels: torch.Tensor,
    eps: list[float] = (0.0, 0.05, 0.1, 0.2),
    pgd_steps: int = 10,
    batch_size: int = 256,
    seed: int = 0,
) -> dict:
    """FGSM and PGD accuracy for each eps on uint8 ``images``; ``model`` takes [0, 1] images."""
    eps = check_eps(list(eps))
    gen = torch.Generator().manual_seed(seed)
    hits = {"fgsm": np.zeros(len(eps)), "pgd": np.zeros(len(eps))}
    for start in range(0, len(images), batch_size):
        x = _float(images[start : start + batch_size])
        y = labels[start : start + batch_size]
        for i, e in enumerate(eps):
            for attack in ("fgsm", "pgd"):
                adv = (
                    fgsm_attack(model, x, y, e)
                    if attack == "fgsm"
                    else pgd_attack(model, x, y, e, pgd_steps, generator=gen)
                )
                with torch.no_grad():
                    hits[attack][i] += (model(adv).argmax(1) == y).sum().item()
    return {
        "eps": eps,
        "pgd_steps": pgd_steps,
        "fgsm_accuracy": (hits["fgsm"] / len(images)).tolist(),
        "pgd_accuracy": (hits["pgd"] / len(images)).tolist(),
    }
