"""One training loop for every model: AdamW + cosine schedule, early stopping, precision, NaN guard,
atomic per-epoch checkpoints and exact resume."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

import genclf.training.tracking as tracking
from genclf.config import TrainConfig
from genclf.data.batches import iterate_batches
from genclf.data.splits import Normalization
from genclf.errors import CheckpointError, ConfigError, TrainingError
from genclf.models.output import StepOutput
from genclf.runtime import distributed
from genclf.runtime.optim import adam
from genclf.runtime.precision import Precision, resolve_device, resolve_precision
from genclf.runtime.seeding import generator, seed_everything
from genclf.training.checkpoint import (
    load_state,
    optimizer_from_flat,
    optimizer_to_flat,
    save_state,
)
from genclf.training.progress import log_line
from genclf.training.rollback import Diverged, restore_snapshot, snapshot

Augment = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


@dataclass
class FitPlan:
    """How one ``Trainer.fit`` runs beyond its TrainConfig.

    Args:
        validate: model -> validation metrics, once per epoch (None: keep the last epoch).
        monitor: the metric of ``validate`` whose best epoch is kept (higher is better).
        state_dir: folder of the per-epoch resumable state (None: no state kept).
        resume: continue from ``state_dir``'s state.
        augment: (batch, generator) -> augmented batch, on the device.
        on_epoch_end: (epoch, record) -> None, after each epoch's state is saved.
        desc: the name shown on progress bars, log lines and errors.
        keep_last: keep the last epoch's weights even with ``validate``.
    """

    validate: Callable[[nn.Module], dict[str, float]] | None = None
    monitor: str = "macro_f1"
    state_dir: str | Path | None = None
    resume: bool = False
    augment: Augment | None = None
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None
    desc: str = "train"
    keep_last: bool = False


@dataclass
class BestEpoch:
    """The best validation epoch so far and its weights (None while the last epoch is the one kept)."""

    score: float = -math.inf
    epoch: int = -1
    weights: dict[str, torch.Tensor] | None = None


@dataclass
class RunState:
    """Where a fit stands: saved with every epoch, restored on resume."""

    epoch: int = 0
    waited: int = 0  # epochs without improvement (early stopping)
    seconds: float = 0.0
    seen: int = 0
    lr_factor: float = 1.0  # halved once after a NaN/inf loss
    retried: bool = False


@dataclass
class _Loop:
    """What every epoch of one fit shares."""

    model: nn.Module
    engine: nn.Module | None
    scaler: torch.amp.GradScaler | None
    optimizers: list[torch.optim.Optimizer]
    owns: bool
    images: torch.Tensor
    labels: torch.Tensor
    normalization: Normalization
    plan: FitPlan
    steps_per_epoch: int
    total_steps: int
    batch_size: int


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
        plan: FitPlan | None = None,
    ) -> FitResult:
        """Train ``model`` in place on ``images``/``labels`` as ``plan`` says.

        At the end the model holds the weights of the best validation epoch (``plan.monitor``), or the last
        epoch's with ``plan.keep_last`` or without ``plan.validate``. A NaN/inf loss rolls the epoch back to
        its start and retries once at half the learning rate; a second one raises.

        Raises:
            TrainingError: the loss became NaN or infinite twice.
            CheckpointError: ``plan.resume`` was asked for but the saved state does not fit the model.
        """
        plan = plan or FitPlan()
        desc = plan.desc
        cfg = self.config
        seed_everything(self.seed)
        owns = getattr(model, "owns_optimization", False)
        engine = None
        if distributed.is_distributed():
            if owns and not getattr(model, "distributed_modules", ()):
                raise ConfigError(
                    "torchrun",
                    f"distributed training of {desc} (a model that steps its own optimizers) is not supported; "
                    "run it in one process",
                )
            if self.device.type == "cuda":
                self.device = torch.device("cuda", distributed.local_rank())
            distributed.setup(self.device)
        model.to(self.device)
        if self.precision.channels_last:
            model.to(memory_format=torch.channels_last)
        if distributed.is_distributed():  # DDP broadcasts rank 0's weights now and averages gradients later
            device_ids = [self.device.index] if self.device.type == "cuda" else None
            if owns:  # e.g. a GAN: each of its networks gets its own DDP wrapper, used by its training_step
                distributed.wrap_modules(model, lambda m: DistributedDataParallel(m, device_ids=device_ids))
            else:
                engine = DistributedDataParallel(distributed.StepModule(model), device_ids=device_ids)
        if cfg.compile:
            engine = torch.compile(engine if engine is not None else distributed.StepModule(model))
        scaler = torch.amp.GradScaler(self.device.type) if self.precision.grad_scaling and not owns else None
        optimizer = (
            model.configure_optimizers(cfg)
            if owns
            else adam(
                model.param_groups(cfg.lr) if hasattr(model, "param_groups") else model.parameters(),
                cfg.lr,
                weight_decay=cfg.weight_decay,
                decoupled=True,
            )
        )
        optimizers = optimizer if isinstance(optimizer, list) else [optimizer]
        for opt in optimizers:
            for group in opt.param_groups:
                group.setdefault("base_lr", group["lr"])
        local = len(images) // distributed.world_size()  # images per rank and epoch
        batch_size = min(cfg.batch_size, local)
        steps_per_epoch = max(1, local // batch_size)
        total_steps = cfg.epochs * steps_per_epoch
        history: list[dict[str, float]] = []
        best, run = BestEpoch(), RunState()
        state_dir = plan.state_dir
        if plan.resume and state_dir is not None and (saved := load_state(state_dir)) is not None:
            best, history, run = self._restore(model, optimizers, saved)
        keep_last = plan.keep_last or plan.validate is None
        loop = _Loop(
            model,
            engine,
            scaler,
            optimizers,
            owns,
            images,
            labels,
            normalization,
            plan,
            steps_per_epoch,
            total_steps,
            batch_size,
        )
        epoch = run.epoch
        while epoch < cfg.epochs:
            epoch_start = snapshot(model, optimizers)
            began = time.perf_counter()
            try:
                sums, seen = self._run_epoch(loop, epoch, run.lr_factor)
            except Diverged as diverged:
                if run.retried:
                    raise TrainingError(
                        desc, f"{diverged}; retried once at half the learning rate; lower --lr or use --precision fp32"
                    ) from None
                restore_snapshot(model, optimizers, epoch_start)
                run.retried, run.lr_factor = True, run.lr_factor * 0.5
                warnings.warn(
                    f"{desc}: {diverged}; rolled back to the start of epoch {epoch + 1} and halved the learning rate",
                    stacklevel=2,
                )
                continue
            run.seconds += time.perf_counter() - began
            run.seen += seen
            record = {"epoch": epoch + 1, **{f"train_{k}": v / steps_per_epoch for k, v in sums.items()}}
            if plan.validate is not None:
                record.update({f"val_{k}": v for k, v in plan.validate(model).items()})
            history.append(record)
            epoch += 1
            values = "  ".join(f"{key} {value:.4g}" for key, value in record.items() if key != "epoch")
            log_line(f"{desc} epoch {epoch}/{cfg.epochs}: {values}  [{run.seconds:.0f} s]", self.quiet)
            tracking.log_epoch(desc, epoch, record)
            score = record.get(f"val_{plan.monitor}", math.nan)
            if keep_last or score > best.score:
                weights = None if keep_last else {k: v.detach().clone() for k, v in model.state_dict().items()}
                best = BestEpoch(score, epoch, weights)
                run.waited = 0
            else:
                run.waited += 1
            run.epoch = epoch
            if state_dir is not None:
                self._save(state_dir, model, optimizers, best, history, run)
            if plan.on_epoch_end is not None:
                plan.on_epoch_end(epoch, record)
            if cfg.patience > 0 and run.waited >= cfg.patience:
                break
        distributed.unwrap_modules(model)
        if best.weights is not None:
            model.load_state_dict(best.weights)
        if self.precision.channels_last:  # hand back the layout a model loaded from its checkpoint has
            model.to(memory_format=torch.contiguous_format)
        model.eval()
        return FitResult(
            len(history), best.epoch, best.score, history, run.seconds, run.seen / run.seconds if run.seconds else 0.0
        )

    def _run_epoch(self, loop: _Loop, epoch: int, lr_factor: float) -> tuple[dict[str, float], int]:
        model, images, labels, optimizers = loop.model, loop.images, loop.labels, loop.optimizers
        steps_per_epoch, augment = loop.steps_per_epoch, loop.plan.augment
        model.train()
        sums: dict[str, float | torch.Tensor] = {}
        seen = 0
        # a per-step finiteness check is free on the CPU; on an accelerator it would wait for every step, so
        # there the epoch's summed loss is checked once (the epoch is then rolled back all the same)
        check_each_step = self.device.type == "cpu"
        loss_sum = torch.zeros((), device=self.device)
        if distributed.is_distributed():  # this rank's slice of the epoch (DistributedSampler)
            order = distributed.shard_order(len(images), self.seed, epoch)
            images, labels = images[order], labels[order]
        batches = iterate_batches(
            images,
            labels,
            loop.batch_size,
            loop.normalization,
            shuffle=not distributed.is_distributed(),
            generator=generator(self.seed * 100_003 + epoch),
            drop_last=True,
            device=self.device,
            channels_last=self.precision.channels_last,
        )
        aug_gen = generator(self.seed * 7_919 + epoch)
        bar = tqdm(
            batches,
            total=steps_per_epoch,
            desc=f"{loop.plan.desc} {epoch + 1}/{self.config.epochs}",
            leave=False,
            disable=self.quiet or None,
        )
        for step, (x, y) in enumerate(bar):
            if augment is not None:
                x = augment(x, aug_gen)
            scale = lr_factor * self.lr_at(epoch * steps_per_epoch + step, loop.total_steps) / self.config.lr
            for opt in optimizers:
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * scale
            with self.precision.autocast(self.device):
                out = model.training_step((x, y)) if loop.engine is None else StepOutput(*loop.engine(x, y))
            loss = out.loss.detach()
            if not check_each_step:
                loss_sum = loss_sum + loss.float()
            elif not torch.isfinite(loss):
                raise Diverged(f"loss became {loss.item()} at epoch {epoch + 1}, step {step + 1}")
            if not loop.owns:
                optimizers[0].zero_grad(set_to_none=True)
                if loop.scaler is None:
                    out.loss.backward()
                    optimizers[0].step()
                else:
                    loop.scaler.scale(out.loss).backward()
                    loop.scaler.step(optimizers[0])
                    loop.scaler.update()
            for key, value in out.logs.items():  # tensors stay on the device: no host sync per step
                sums[key] = sums.get(key, 0.0) + (value.detach().float() if isinstance(value, torch.Tensor) else value)
            seen += x.shape[0]
        if not check_each_step and not torch.isfinite(loss_sum):
            raise Diverged(f"loss became non-finite during epoch {epoch + 1}")
        sums = {key: float(value) for key, value in sums.items()}  # one sync per epoch
        if distributed.is_distributed():
            distributed.broadcast_buffers(model)
        return distributed.mean_across_ranks(sums), seen * distributed.world_size()

    def _save(self, state_dir, model, optimizers, best: BestEpoch, history: list, run: RunState) -> None:
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        if best.weights is not None:
            tensors.update({f"best.{k}": v for k, v in best.weights.items()})
        tensors["rng.torch"] = torch.get_rng_state()
        optim_meta = []
        for index, opt in enumerate(optimizers):
            flat, meta = optimizer_to_flat(opt, f"optim{index}")
            tensors.update(flat)
            optim_meta.append(meta)
        score = best.score
        meta = {
            **asdict(run),
            "best_score": None if score is None or math.isnan(score) or math.isinf(score) else score,
            "best_epoch": best.epoch,
            "history": history,
            "optimizers": optim_meta,
            "seed": self.seed,
        }
        save_state(state_dir, tensors, meta)

    def _restore(self, model, optimizers, saved) -> tuple[BestEpoch, list[dict[str, float]], RunState]:
        """The best epoch, history and run state of a saved fit, its weights and optimizer state loaded."""
        tensors, meta = saved
        if meta.get("seed") != self.seed:
            raise CheckpointError(
                "--resume", f"saved state was trained with seed {meta.get('seed')}, this run uses seed {self.seed}"
            )
        weights = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            model.load_state_dict(weights)
            for index, opt in enumerate(optimizers):
                optimizer_from_flat(opt, f"optim{index}", tensors, meta["optimizers"][index])
        except (RuntimeError, KeyError, ValueError, IndexError) as exc:
            raise CheckpointError(
                "--resume", f"saved training state does not fit this model ({str(exc).splitlines()[0]})"
            ) from None
        best_weights = {k[5:]: v for k, v in tensors.items() if k.startswith("best.")}
        score = meta["best_score"]
        best = BestEpoch(-math.inf if score is None else score, meta["best_epoch"], best_weights or None)
        torch.set_rng_state(tensors["rng.torch"])
        run = RunState(**{f.name: meta[f.name] for f in fields(RunState)})
        return best, list(meta["history"]), run


def describe(result: FitResult) -> dict[str, Any]:
    return {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.train_seconds, 3),
    }
