"""CLI commands of the colorization module: train-colorizer, colorize."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from genclf.cli import default_out
from genclf.colorize import (
    colorization_scores,
    colorization_strip,
    colour_pool,
    load_colorizer,
    per_class_sample,
    require_colour,
    save_colorizer,
    train_colorizer,
)
from genclf.commands import prepare_training
from genclf.config import ColorizerJobConfig, load_config, to_dict
from genclf.data.image_folder import read_images
from genclf.errors import DataError
from genclf.files import atomic_write, write_json
from genclf.models.pix2pix import COLORIZERS, to_grey_rgb
from genclf.training.trainer import describe


def cmd_train_colorizer(args: argparse.Namespace, overrides: list) -> None:
    config = load_config(ColorizerJobConfig, args.config, overrides)
    if config.model not in COLORIZERS:
        raise DataError(
            "--model", f"unknown colorizer {config.model!r}; expected one of: {', '.join(COLORIZERS.names())}"
        )
    out, data, split = prepare_training(args, config, "train-colorizer")
    require_colour(split.train, config.data.spec)
    pool = colour_pool(split)
    if not args.quiet:
        print(f"{data.name}: training {config.model} on {len(pool)} colour images")
    extra = {"config": to_dict(config), "data": {"spec": config.data.spec, "image_size": pool.image_size}}
    watch = split.val.images[per_class_sample(split.val)]

    def after_epoch(epoch: int, record: dict, trained) -> None:
        colorization_strip(
            watch, trained.colorize(watch), out / "strip.png", f"{config.model}, epoch {epoch} (validation)"
        )
        save_colorizer(out, trained, epoch=epoch, **extra)

    trained, result = train_colorizer(
        pool,
        config.model,
        config.train,
        config.seed,
        state_dir=out,
        resume=args.resume,
        quiet=args.quiet,
        options=config.options,
        on_epoch_end=after_epoch,
    )
    save_colorizer(out, trained, epoch=result.epochs_run, fit=describe(result), **extra)
    test = split.test
    scores = colorization_scores(test.images, trained.colorize(test.images))
    write_json(out / "colorizer_metrics.json", {"split": "test", "n_images": len(test), **scores})
    shown = per_class_sample(test)
    colorization_strip(
        test.images[shown], trained.colorize(test.images[shown]), out / "strip.png", f"{config.model} on test images"
    )
    print(
        f"trained {config.model}: {result.epochs_run} epochs, {result.train_seconds:.1f} s\n"
        f"test PSNR {scores['psnr']:.2f} dB, SSIM {scores['ssim']:.4f}  "
        f"(grey copied to RGB: {scores['psnr_grey_baseline']:.2f} dB, {scores['ssim_grey_baseline']:.4f})"
    )
    print(f"checkpoint: {out}\nstrip: {out / 'strip.png'}")


def _write_png(path: Path, array: np.ndarray) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def cmd_colorize(args: argparse.Namespace, overrides: list) -> None:
    trained = load_colorizer(args.checkpoint)
    target = Path(args.input)
    images, kept = read_images(target, trained.image_size, "RGB")
    colour = trained.colorize(images)
    out = args.out or default_out("colorize")
    strips = 0
    for path, original, result in zip(kept, images, colour):
        relative = path.relative_to(target) if target.is_dir() else Path(path.name)
        name = relative.with_suffix(".png")
        _write_png(out / name, result.permute(1, 2, 0).numpy())
        if not (torch.equal(original[0], original[1]) and torch.equal(original[1], original[2])):  # colour original
            grey = to_grey_rgb(original[None])[0]
            strip = torch.cat([grey, result, original], dim=2).permute(1, 2, 0).numpy()
            _write_png(out / "strips" / name, np.ascontiguousarray(strip))
            strips += 1
    print(f"{len(kept)} image(s) colorized at {trained.image_size}x{trained.image_size}: {out}")
    if strips:
        print(f"{strips} grey | colorized | original strip(s): {out / 'strips'}")
