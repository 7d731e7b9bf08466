"""``Fit``: the trainer's options every one-call pipeline takes, in one value.

``train_classifier(split, "cnn", Fit(config, seed=0))``, ``train_generator(images, "cvae", Fit(config))`` and
``train_colorizer(images, "pix2pix", Fit(config, state_dir=..., resume=True))`` share it; each pipeline adds
only its own few arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genclf.config import TrainConfig
from genclf.training.trainer import FitPlan, Trainer


@dataclass(frozen=True)
class Fit:
    """How a pipeline trains its model.

    Args:
        config: the trainer's options (epochs, batch size, learning rate, precision, device, ...).
        seed: fixes initialisation, shuffling and augmentation.
        state_dir: folder of the per-epoch resumable state (None: none kept).
        resume: continue from ``state_dir``'s state.
        quiet: no progress bars or per-epoch lines.
    """

    config: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    state_dir: str | Path | None = None
    resume: bool = False
    quiet: bool = False

    def trainer(self) -> Trainer:
        return Trainer(self.config, seed=self.seed, quiet=self.quiet)

    def plan(self, **options: Any) -> FitPlan:
        """The trainer's ``FitPlan`` with this fit's state folder and resume flag, plus ``options``."""
        return FitPlan(state_dir=self.state_dir, resume=self.resume, **options)
