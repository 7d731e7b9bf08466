"""``shapes``: a procedural colour dataset made by genclf (no download), for colorization tests and demos.

Four classes of blobs on textured, low-saturation backgrounds: ``fire`` (warm, vertical flame streaks),
``water`` (blue, horizontal ripples), ``foliage`` (green, leafy spots) and ``sand`` (ochre, fine grain).
Colour is the easiest cue to the class, but every class also has its own texture, so a grey image still
carries the class, and the colour is predictable from the texture: a colour-trained classifier loses
accuracy on grey frames, and a colorizer can win part of it back. Object brightness is randomised and
matched across classes, so grey level alone does not give the class away.

Spec: ``shapes`` (400 images per class, 32 x 32) or ``shapes:N`` (N per class). Deterministic: image i is
drawn from a generator seeded with i, so ``shapes:100`` is a prefix of ``shapes:400`` per class.
"""

from __future__ import annotations

import numpy as np
import torch

from genclf.data.images import ImageSet, LoadedData
from genclf.errors import DataError

CLASSES = ("fire", "water", "foliage", "sand")
# Base RGB colours with similar luma (0.299 R + 0.587 G + 0.114 B ~ 0.45-0.5).
COLOURS = {
    "fire": ((0.95, 0.30, 0.05), (1.00, 0.75, 0.15)),  # red-orange at the base, yellow at the tips
    "water": ((0.10, 0.40, 0.95), (0.25, 0.60, 1.00)),
    "foliage": ((0.20, 0.62, 0.12), (0.45, 0.75, 0.20)),
    "sand": ((0.78, 0.55, 0.25), (0.70, 0.48, 0.20)),
}
DEFAULT_PER_CLASS = 400
SIZE = 32


def _texture(name: str, rng: np.random.Generator, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    """A [0, 1] pattern that tells the class apart in grey."""
    phase = rng.uniform(0, 2 * np.pi)
    if name == "fire":  # vertical flame streaks that flicker upwards
        return 0.5 + 0.5 * np.sin(xx * rng.uniform(1.6, 2.2) + np.sin(yy * 0.9 + phase) * 1.5 + phase)
    if name == "water":  # horizontal ripples
        return 0.5 + 0.5 * np.sin(yy * rng.uniform(1.1, 1.5) + 0.6 * np.sin(xx * 0.35 + phase) + phase)
    if name == "foliage":  # leafy spots
        spots = np.zeros_like(xx)
        for _ in range(14):
            cy, cx = rng.uniform(0, SIZE, 2)
            spots = np.maximum(spots, np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / rng.uniform(1.5, 3.0)))
        return spots
    return rng.uniform(0, 1, xx.shape)  # sand: fine grain


def render(index: int, cls: int, size: int = SIZE) -> np.ndarray:
    """Image ``index`` of class ``cls`` as uint8 (3, size, size)."""
    rng = np.random.default_rng([index, cls, 7])
    name = CLASSES[cls]
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    # Background: a smooth low-saturation gradient with mild noise.
    base = rng.uniform(0.25, 0.75)
    tint = rng.uniform(-0.06, 0.06, 3)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = ((np.cos(angle) * xx + np.sin(angle) * yy) / SIZE - 0.5) * rng.uniform(0.1, 0.35)
    background = base + ramp[None] + tint[:, None, None] + rng.normal(0, 0.03, (3, SIZE, SIZE))
    # Object: an irregular blob.
    cy, cx = rng.uniform(11, 21, 2)
    ry, rx = rng.uniform(7, 12, 2)
    theta = np.arctan2(yy - cy, xx - cx)
    wobble = 1 + 0.18 * np.sin(3 * theta + rng.uniform(0, 6.3)) + 0.1 * np.sin(5 * theta + rng.uniform(0, 6.3))
    distance = np.sqrt(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) / wobble
    mask = np.clip((1.0 - distance) * 4.0, 0.0, 1.0)
    pattern = _texture(name, rng, yy, xx)
    low, high = (np.array(c) for c in COLOURS[name])
    mix = (1 - yy / SIZE) if name == "fire" else pattern  # fire: yellow tips at the top
    colour = low[:, None, None] * (1 - mix) + high[:, None, None] * mix
    shade = rng.uniform(0.8, 1.15) * (0.65 + 0.35 * pattern)  # texture shows in brightness, hence in grey
    obj = colour * shade[None]
    image = background * (1 - mask[None]) + obj * mask[None]
    image = np.clip(image, 0.0, 1.0)
    if size != SIZE:
        tensor = torch.nn.functional.interpolate(torch.from_numpy(image)[None], size=(size, size), mode="area")
        image = tensor[0].numpy()
    return np.round(image * 255).astype(np.uint8)


def make_shapes(per_class: int = DEFAULT_PER_CLASS, size: int = SIZE, offset: int = 0) -> ImageSet:
    """``per_class`` images of every class (indices ``offset .. offset + per_class - 1``)."""
    images = [render(offset + i, cls, size) for cls in range(len(CLASSES)) for i in range(per_class)]
    labels = torch.arange(len(CLASSES)).repeat_interleave(per_class)
    return ImageSet(torch.from_numpy(np.stack(images)), labels, list(CLASSES))


def load(argument: str | None, image_size: int | None = None, channels: int | None = None) -> LoadedData:
    per_class = DEFAULT_PER_CLASS
    if argument:
        try:
            per_class = int(argument)
        except ValueError:
            per_class = 0
        if per_class < 2:
            raise DataError(f"shapes:{argument}", "expected 'shapes:N' with N >= 2 images per class")
    return LoadedData("shapes", make_shapes(per_class, image_size or SIZE))
