"""Grey -> colour translation: pix2pix (Isola et al. 2017; U-Net generator, PatchGAN discriminator,
L1 + adversarial loss) and its L1-only ablation.

Colour is modelled in CIE Lab: the network reads the lightness L and predicts the two chroma channels
(a, b). The grey input is then kept exactly (the output's lightness is the input's), the network
only has to invent what grey lacks, and the L1 loss weighs chroma errors as perceptual distances
(Zhang et al. 2016 and the pix2pix colorization experiments work in Lab for the same reasons).

Task-aware training (``task_weight`` > 0, with a guide attached by ``guide_with``): a frozen colour
classifier reads both the original photo and its colorized copy, and the colorizer also minimises the
KL divergence between the two predictions. Colour that matters to the classifier is restored first;
the target is the classifier's own view of the original, so no labels are needed.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genclf.models.output import StepOutput
from genclf.registry import Registry
from genclf.runtime.optim import adam

COLORIZERS: Registry[type[Colorizer]] = Registry("colorizer")

# sRGB (D65) <-> CIE XYZ <-> CIE Lab, as in scikit-image's rgb2lab / lab2rgb.
_RGB_TO_XYZ = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)
_WHITE = torch.tensor([0.95047, 1.0, 1.08883])
AB_SCALE = 110.0  # a, b in about [-110, 110] -> [-1, 1]


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) sRGB in [0, 1] -> Lab (L in [0, 100])."""
    rgb = rgb.float()
    linear = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = torch.einsum("ij,njhw->nihw", _RGB_TO_XYZ.to(rgb.device), linear) / _WHITE.to(rgb.device).view(1, 3, 1, 1)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12) ** (1 / 3), 7.787 * xyz + 16 / 116)
    lightness = 116 * f[:, 1] - 16
    return torch.stack([lightness, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab -> sRGB in [0, 1] (clipped)."""
    fy = (lab[:, 0] + 16) / 116
    f = torch.stack([fy + lab[:, 1] / 500, fy, fy - lab[:, 2] / 200], dim=1)
    xyz = torch.where(f > 0.2068966, f**3, (f - 16 / 116) / 7.787) * _WHITE.to(lab.device).view(1, 3, 1, 1)
    linear = torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_XYZ).to(lab.device), xyz).clamp(0, 1)
    return torch.where(linear > 0.0031308, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055, 12.92 * linear).clamp(
        0, 1
    )


def grey_lightness(images: torch.Tensor) -> torch.Tensor:
    """uint8 or [0, 1] images with 1 or 3 channels -> L (N, 1, H, W) in [0, 100]. A 3-channel input is
    reduced to its Lab lightness, so colour photos and grey frames (1 channel, or grey copied 3x) agree."""
    x = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    return rgb_to_lab(x)[:, :1]


def to_grey_rgb(images: torch.Tensor) -> torch.Tensor:
    """uint8 colour images -> uint8 grey copied to 3 channels (the 'colour lost' input, the trivial baseline)."""
    lab = rgb_to_lab(images.float() / 255.0)
    lab[:, 1:] = 0
    grey = lab_to_rgb(lab).mean(dim=1, keepdim=True)  # a = b = 0: R = G = B up to rounding
    return (grey * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)


def _down(cin: int, cout: int, norm: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, 4, stride=2, padding=1, bias=not norm)]
    if norm:
        layers.append(nn.BatchNorm2d(cout))
    layers.append(nn.LeakyReLU(0.2))
    return nn.Sequential(*layers)


def _up(cin: int, cout: int, dropout: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout)]
    if dropout:
        layers.append(nn.Dropout(0.5))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class UNet(nn.Module):
    """pix2pix's U-Net: stride-2 4x4 convolutions down to 2x2 (at most ``depth`` of them), transposed
    convolutions up, skip connections between mirrored levels; L (1 channel) in, ab (2 channels, tanh) out."""

    def __init__(self, image_size: int, width: int = 32, depth: int = 5):
        super().__init__()
        levels = 0
        size = image_size
        while size % 2 == 0 and size // 2 >= 2 and levels < depth:
            size //= 2
            levels += 1
        if levels < 1:
            raise ValueError(f"image size {image_size} is too small for the U-Net")
        widths = [min(width * 2**i, width * 8) for i in range(levels)]
        self.downs = nn.ModuleList(
            [_down(1 if i == 0 else widths[i - 1], widths[i], norm=0 < i < levels - 1) for i in range(levels)]
        )
        ups = []
        for i in reversed(range(1, levels)):
            cin = widths[i] if i == levels - 1 else widths[i] * 2
            ups.append(_up(cin, widths[i - 1], dropout=i >= levels - 2 and levels > 2))
        self.ups = nn.ModuleList(ups)
        self.out = nn.Sequential(nn.ConvTranspose2d(widths[0] * 2 if levels > 1 else widths[0], 2, 4, 2, 1), nn.Tanh())

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        h, skips = lightness / 50.0 - 1.0, []
        for down in self.downs:
            h = down(h)
            skips.append(h)
        skips.pop()
        for up in self.ups:
            h = torch.cat([up(h), skips.pop()], dim=1)
        return self.out(h)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a grid of real/fake logits, each judging one patch of (L, ab)."""

    def __init__(self, image_size: int, width: int = 32):
        super().__init__()
        layers: list[nn.Module] = [_down(3, width, norm=False)]
        channels, size = width, image_size // 2
        while size > 4 and len(layers) < 3:
            layers.append(_down(channels, channels * 2))
            channels, size = channels * 2, size // 2
        layers.append(nn.Conv2d(channels, 1, 3, padding=1))
        self.net = nn.Sequential(*layers)

    def forward(self, lightness: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([lightness / 50.0 - 1.0, ab], dim=1))


class Colorizer(nn.Module):
    """Base: ``colorize(grey) -> uint8 RGB``. Trained by the one Trainer on colour images in [0, 1]
    (identity normalization); the grey input is made from each colour image inside ``training_step``."""

    owns_optimization = False
    supports_bf16 = False

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        image_size: int = 32,
        width: int = 32,
        task_weight: float = 0.0,
    ):
        super().__init__()
        self.in_channels, self.num_classes, self.image_size = 3, num_classes, image_size
        self.generator = UNet(image_size, width)
        self.task_weight = task_weight
        self._guide: list[Callable[[torch.Tensor], torch.Tensor]] = []  # a list: not a submodule, never saved

    def guide_with(self, pixel_model: Callable[[torch.Tensor], torch.Tensor] | None) -> None:
        """Attach (or, with None, detach) the frozen colour classifier of task-aware training: a
        differentiable function of [0, 1] RGB images -> logits (``TrainedClassifier.pixel_model()``)."""
        self._guide[:] = [pixel_model] if pixel_model is not None else []

    def forward(self, lightness: torch.Tensor) -> torch.Tensor:
        return self.generator(lightness)

    def _targets(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        rgb, _ = batch
        lab = rgb_to_lab(rgb)
        return lab[:, :1], lab[:, 1:] / AB_SCALE

    def _task_loss(self, batch, lightness: torch.Tensor, fake: torch.Tensor) -> torch.Tensor | None:
        """KL(guide(original) || guide(colorized)), or None without a guide or weight."""
        if not self._guide or self.task_weight <= 0:
            return None
        guide = self._guide[0]
        with torch.no_grad():
            target = F.log_softmax(guide(batch[0]), dim=1)
        colorized = lab_to_rgb(torch.cat([lightness, fake.float() * AB_SCALE], dim=1))
        return F.kl_div(F.log_softmax(guide(colorized), dim=1), target, reduction="batchmean", log_target=True)

    def training_step(self, batch) -> StepOutput:
        lightness, ab = self._targets(batch)
        fake = self.generator(lightness)
        l1 = F.l1_loss(fake, ab)
        task = self._task_loss(batch, lightness, fake)
        if task is None:
            return StepOutput(l1, {"l1": l1.detach()})
        return StepOutput(l1 + self.task_weight * task, {"l1": l1.detach(), "task_kl": task.detach()})

    @torch.no_grad()
    def colorize(self, images: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Grey (or colour, which is made grey first) images, uint8 (N, 1|3, H, W) -> uint8 RGB (N, 3, H, W)."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        outputs = []
        for start in range(0, len(images), batch_size):
            lightness = grey_lightness(images[start : start + batch_size].to(device))
            ab = self.generator(lightness) * AB_SCALE
            rgb = lab_to_rgb(torch.cat([lightness, ab], dim=1))
            outputs.append((rgb * 255).round().to(torch.uint8).cpu())
        self.train(was_training)
        if not outputs:
            return torch.zeros((0, 3, self.image_size, self.image_size), dtype=torch.uint8)
        return torch.cat(outputs)


@COLORIZERS.register("unet_l1")
class L1Colorizer(Colorizer):
    """The ablation: the same U-Net trained with the L1 loss alone (tends to desaturated, averaged colour)."""


@COLORIZERS.register("pix2pix")
class Pix2Pix(Colorizer):
    """U-Net + PatchGAN, loss = GAN (BCE) + ``l1_weight`` x L1; owns its two Adam optimizers (betas
    (0.5, 0.999) as in pix2pix). pix2pix uses lr 2e-4 over 200 epochs; genclf's default 1e-3 suits short
    CPU budgets (on ``shapes``, 30 epochs: vivid, correct colours at 1e-3, washed-out ones at 2e-4). The rate
    is ``lr`` when set, else the configured ``train.lr`` (``--lr``) times ``lr_scale`` (0.5: 1e-3 at 2e-3)."""

    owns_optimization = True

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 1,
        image_size: int = 32,
        width: int = 32,
        l1_weight: float = 100.0,
        lr: float | None = None,
        lr_scale: float = 0.5,
        task_weight: float = 0.0,
    ):
        super().__init__(in_channels, num_classes, image_size, width, task_weight)
        self.discriminator = PatchDiscriminator(image_size, width)
        self.l1_weight, self.lr, self.lr_scale = l1_weight, lr, lr_scale

    def configure_optimizers(self, config) -> list[torch.optim.Optimizer]:
        lr = self.lr if self.lr is not None else config.lr * self.lr_scale
        self.opt_g = adam(self.generator.parameters(), lr, (0.5, 0.999))
        self.opt_d = adam(self.discriminator.parameters(), lr, (0.5, 0.999))
        return [self.opt_g, self.opt_d]

    def training_step(self, batch) -> StepOutput:
        lightness, ab = self._targets(batch)
        fake = self.generator(lightness)
        real_logits = self.discriminator(lightness, ab)
        fake_logits = self.discriminator(lightness, fake.detach())
        loss_d = 0.5 * (
            F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        )
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        judged = self.discriminator(lightness, fake)
        loss_gan = F.binary_cross_entropy_with_logits(judged, torch.ones_like(judged))
        loss_l1 = F.l1_loss(fake, ab)
        loss_g = loss_gan + self.l1_weight * loss_l1
        logged = {"l1": loss_l1.detach(), "loss_gan": loss_gan.detach(), "loss_d": loss_d.detach()}
        task = self._task_loss(batch, lightness, fake)
        if task is not None:
            loss_g = loss_g + self.l1_weight * self.task_weight * task  # on the L1 term's scale
            logged["task_kl"] = task.detach()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_g.step()
        return StepOutput((loss_g + loss_d).detach(), logged)


def build_colorizer(
    name: str, in_channels: int = 3, num_classes: int = 1, image_size: int = 32, **options
) -> Colorizer:
    from genclf.models.layers import check_option_bounds

    cls = COLORIZERS.get(name, "--model")
    check_option_bounds(options)
    return cls(in_channels, num_classes, image_size, **options)
