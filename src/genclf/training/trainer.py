"""One training loop for every model: AdamW + cosine schedule, early stopping, precision, NaN guard,
atomic per-epoch checkpoints and exact resume."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from genclf.data.batches import iterate_batches
from genclf.data.splits import Normalization
from genclf.errors import CheckpointError, TrainingError
from genclf.seeding import generator, seed_everything
from genclf.training.checkpoint import (
    load_state,
    optimizer_from_flat,
    optimizer_to_flat,
    save_state,
)
from genclf.training.precision import Precision, resolve_device, resolve_precision

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class TrainConfig:
    """Training budget and numerics."""

    epochs: int = 10
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.05
    patience: int = 0  # epochs without validation improvement before stopping; 0 = never stop early
    precision: str = "auto"
    device: str = "auto"


@dataclass
class FitResult:
    epochs_run: int
    best_epoch: int
    best_score: float
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    images_per_second: float = 0.0


class Trainer:
    """Trains any module exposing ``training_step(batch) -> StepOutput``.

    A model that sets ``owns_optimization = True`` (a GAN with two optimizers) steps itself inside
    ``training_step``; otherwise the Trainer runs backward and the AdamW step.
    """

    def __init__(self, config: TrainConfig, seed: int = 0, quiet: bool = False):
        self.config = config
        self.seed = seed
        self.quiet = quiet
        self.device = resolve_device(config.device)
        self.precision: Precision = resolve_precision(config.precision, self.device)

    def lr_at(self, step: int, total: int) -> float:
        """Linear warm-up then cosine decay to zero; a pure function of the step, so resume is exact."""
        warmup = max(1, int(self.config.warmup_fraction * total))
        if step < warmup:
            return self.config.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return self.config.lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))

    def fit(
        self,
        model: nn.Module,
        images: torch.Tensor,
        labels: torch.Tensor,
        normalization: Normalization,
        validate: Callable[[nn.Module], dict[str, float]] | None = None,
        monitor: str = "macro_f1",
        state_dir: str | Path | None = None,
        resume: bool = False,
        augment: Augment | None = None,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        desc: str = "train",
    ) -> FitResult:
        """Train ``model`` in place; at the end it holds the best weights seen on validation.

        Raises:
            TrainingError: the loss became NaN or infinite.
            CheckpointError: ``resume`` was asked for but the saved state does not fit the model.
        """
        cfg = self.config
        seed_everything(self.seed)
        model.to(self.device)
        if self.precision.channels_last:
            model.to(memory_format=torch.channels_last)
        owns = getattr(model, "owns_optimization", False)
        optimizer = (
            model.configure_optimizers(cfg)
            if owns
            else torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        )
        optimizers = optimizer if isinstance(optimizer, list) else [optimizer]
        batch_size = min(cfg.batch_size, len(images))
        steps_per_epoch = max(1, len(images) // batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        history: list[dict[str, float]] = []
        best = {"score": -math.inf, "epoch": -1, "weights": None}
        start_epoch, waited, seconds, seen = 0, 0, 0.0, 0
        if resume and state_dir is not None and (saved := load_state(state_dir)) is not None:
            start_epoch, waited, seconds, seen = self._restore(model, optimizers, saved, best, history)
        for epoch in range(start_epoch, cfg.epochs):
            model.train()
            began = time.perf_counter()
            sums: dict[str, float] = {}
            batches = iterate_batches(
                images,
                labels,
                batch_size,
                normalization,
                shuffle=True,
                generator=generator(self.seed * 100_003 + epoch),
                drop_last=True,
                device=self.device,
                channels_last=self.precision.channels_last,
            )
            aug_gen = generator(self.seed * 7_919 + epoch)
            bar = tqdm(
                batches,
                total=steps_per_epoch,
                desc=f"{desc} {epoch + 1}/{cfg.epochs}",
                leave=False,
                disable=self.quiet or None,
            )
            for step_in_epoch, (x, y) in enumerate(bar):
                if augment is not None:
                    x = augment(x, aug_gen)
                lr_scale = self.lr_at(epoch * steps_per_epoch + step_in_epoch, total_steps) / cfg.lr
                for opt in optimizers:
                    for group in opt.param_groups:
                        group["lr"] = group.setdefault("base_lr", group["lr"]) * lr_scale
                with self.precision.autocast(self.device):
                    out = model.training_step((x, y))
                if not torch.isfinite(out.loss.detach()):
                    raise TrainingError(
                        desc,
                        f"loss became {out.loss.item()} at epoch {epoch + 1}, step {step_in_epoch + 1}; lower --lr or use --precision fp32",
                    )
                if not owns:
                    optimizer.zero_grad(set_to_none=True)
                    out.loss.backward()
                    optimizer.step()
                for key, value in out.logs.items():
                    sums[key] = sums.get(key, 0.0) + value
                seen += x.shape[0]
            seconds += time.perf_counter() - began
            record = {
                "epoch": epoch + 1,
                **{f"train_{k}": v / steps_per_epoch for k, v in sums.items()},
            }
            if validate is not None:
                record.update({f"val_{k}": v for k, v in validate(model).items()})
            score = record.get(f"val_{monitor}", -record.get("train_loss", 0.0))
            history.append(record)
            if score > best["score"]:
                best.update(
                    score=score,
                    epoch=epoch + 1,
                    weights={k: v.detach().clone() for k, v in model.state_dict().items()},
                )
                waited = 0
            else:
                waited += 1
            stop = cfg.patience > 0 and waited >= cfg.patience
            if state_dir is not None:
                self._save(state_dir, model, optimizers, best, history, epoch + 1, waited, seconds, seen)
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, record)
            if stop:
                break
        if best["weights"] is not None:
            model.load_state_dict(best["weights"])
        model.eval()
        return FitResult(
            len(history),
            best["epoch"],
            best["score"],
            history,
            seconds,
            seen / seconds if seconds else 0.0,
        )

    def _save(self, state_dir, model, optimizers, best, history, epoch, waited, seconds, seen) -> None:
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        if best["weights"] is not None:
            tensors.update({f"best.{k}": v for k, v in best["weights"].items()})
        tensors["rng.torch"] = torch.get_rng_state()
        optim_meta = []
        for index, opt in enumerate(optimizers):
            flat, meta = optimizer_to_flat(opt, f"optim{index}")
            tensors.update(flat)
            optim_meta.append(meta)
        meta = {
            "epoch": epoch,
            "waited": waited,
            "seconds": seconds,
            "seen": seen,
            "best_score": best["score"],
            "best_epoch": best["epoch"],
            "history": history,
            "optimizers": optim_meta,
            "seed": self.seed,
        }
        save_state(state_dir, tensors, meta)

    def _restore(self, model, optimizers, saved, best, history) -> tuple[int, int, float, int]:
        tensors, meta = saved
        if meta.get("seed") != self.seed:
            raise CheckpointError(
                "--resume",
                f"saved state was trained with seed {meta.get('seed')}, this run uses seed {self.seed}",
            )
        weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            model.load_state_dict(weights)
            for index, opt in enumerate(optimizers):
                optimizer_from_flat(opt, f"optim{index}", tensors, meta["optimizers"][index])
        except (RuntimeError, KeyError, ValueError, IndexError) as exc:
            raise CheckpointError(
                "--resume",
                f"saved training state does not fit this model ({str(exc).splitlines()[0]})",
            ) from None
        best_weights = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        best.update(score=meta["best_score"], epoch=meta["best_epoch"], weights=best_weights or None)
        history.extend(meta["history"])
        torch.set_rng_state(tensors["rng.torch"])
        return meta["epoch"], meta["waited"], meta["seconds"], meta["seen"]


def describe(result: FitResult) -> dict[str, Any]:
    return {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 3),
    }
