"""CLI commands of the colorization module: train-colorizer, colorize."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from genclf import catalogue
from genclf.cli import common
from genclf.config import ColorizerJobConfig, to_dict
from genclf.files import atomic_write, check_output_folder, distinct, write_json

if TYPE_CHECKING:
    import numpy as np


def cmd_train_colorizer(args: argparse.Namespace) -> None:
    common.check_keys(ColorizerJobConfig, args)  # a bad --set key is refused before anything heavy is imported
    from genclf.models.pix2pix import COLORIZERS
    from genclf.pipelines.colorize import (
        colorization_scores,
        colour_pool,
        per_class_sample,
        require_colour,
        save_colorizer,
        train_colorizer,
    )
    from genclf.reporting.plots import colorization_strip
    from genclf.training.trainer import describe

    base = common.data_defaults(args, ColorizerJobConfig().data.spec, schedule=False)
    config, out, data, split = common.prepare_job(args, ColorizerJobConfig, COLORIZERS, "train-colorizer", base=base)
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
        common.resumable(args, out, config.train, config.seed),
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
    from PIL import Image

    atomic_write(path, lambda tmp: Image.fromarray(array).save(tmp, format="PNG"))


def output_names(relatives: list[Path], grey: list[bool]) -> tuple[list[str], list[str | None]]:
    """Distinct output paths (relative to --out) for the inputs at ``relatives``, in order, and for each colour
    input its strip's path under ``strips/``: ``a.jpg`` -> ``a.png``; where two inputs would share one (``a.jpg``
    and ``a.png``), both keep their extension (``a.jpg.png``, ``a.png.png``); any output or strip that still
    meets another gets ``_2``, ``_3``, ... in input order. Nothing overwrites anything."""
    stems = Counter(r.with_suffix(".png") for r in relatives)
    wanted = [
        (r.with_name(r.name + ".png") if stems[r.with_suffix(".png")] > 1 else r.with_suffix(".png")) for r in relatives
    ]
    names = distinct([w.as_posix() for w in wanted])
    colour = [n for n, is_grey in zip(names, grey) if not is_grey]
    strip_names = iter(distinct([f"strips/{n}" for n in colour], reserved=tuple(names)))
    return names, [None if is_grey else next(strip_names) for is_grey in grey]


def colorize_arguments(p: argparse.ArgumentParser) -> None:
    common.add_checkpoint(p, "train-colorizer")
    p.add_argument("--input", type=Path, required=True, help="an image file or a folder")
    common.add_common(p, data=False, training=False)


def cmd_colorize(args: argparse.Namespace) -> None:
    import numpy as np
    import torch

    from genclf.data.image_folder import read_images
    from genclf.data.images import grey_images
    from genclf.models.pix2pix import to_grey_rgb
    from genclf.pipelines.colorize import load_colorizer

    trained = load_colorizer(args.checkpoint)
    target = Path(args.input)
    images, kept = read_images(target, trained.image_size, "RGB")
    colour = trained.colorize(images)
    out = check_output_folder(args.out or common.default_out("colorize"), inputs=(target,))
    args.out = out  # where environment.json goes
    relatives = [path.relative_to(target) if target.is_dir() else Path(path.name) for path in kept]
    names, strip_names = output_names(relatives, grey_images(images).tolist())
    for relative, name in zip(relatives, names):
        if name != relative.with_suffix(".png").as_posix():
            print(f"note: {relative.as_posix()} is written as {name} (its output name collides with another's)")
    strips = 0
    for name, strip_name, original, result in zip(names, strip_names, images, colour):
        _write_png(out / name, result.permute(1, 2, 0).numpy())
        if strip_name is not None:  # a colour original: show what the colorizer had to recover
            grey = to_grey_rgb(original[None])[0]
            strip = torch.cat([grey, result, original], dim=2).permute(1, 2, 0).numpy()
            _write_png(out / strip_name, np.ascontiguousarray(strip))
            strips += 1
    print(f"{len(kept)} image(s) colorized at {trained.image_size}x{trained.image_size}: {out}")
    if strips:
        print(f"{strips} grey | colorized | original strip(s): {out / 'strips'}")


COMMANDS = [
    common.Command(
        "train-colorizer",
        "Train a colorizer on the colour images of a dataset (labels unused); writes model.safetensors, "
        "a grey | colorized | original strip.png every epoch, and test PSNR/SSIM in colorizer_metrics.json.",
        common.model_job_arguments(catalogue.COLORIZERS, "colorizer", "pix2pix"),
        cmd_train_colorizer,
    ),
    common.Command(
        "colorize",
        "Colorize an image file or a folder (searched recursively; 1- or 3-channel grey, or colour, "
        "which is made grey first). Writes one PNG per input under --out with the same relative name, and for "
        "colour inputs a grey | colorized | original strip under --out/strips/.",
        colorize_arguments,
        cmd_colorize,
    ),
]
