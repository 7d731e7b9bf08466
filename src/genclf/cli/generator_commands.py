"""CLI commands of the generation module: train-generator, sample, evaluate-generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from genclf import catalogue
from genclf.cli import common
from genclf.config import GeneratorJobConfig, to_dict
from genclf.errors import CheckpointError, ConfigError
from genclf.files import atomic_folder, atomic_write, check_output_folder, class_folders, write_json


def cmd_train_generator(args: argparse.Namespace) -> None:
    common.check_keys(GeneratorJobConfig, args)  # a bad --set key is refused before anything heavy is imported
    from genclf.models.generative import GENERATORS
    from genclf.pipelines.generate import diversity_warnings, save_generator, train_generator
    from genclf.reporting.plots import sample_grid
    from genclf.training.trainer import describe

    base = common.data_defaults(args, GeneratorJobConfig().data.spec, schedule=False)
    config, out, data, split = common.prepare_job(args, GeneratorJobConfig, GENERATORS, "train-generator", base=base)
    if not args.quiet:
        print(f"{data.name}: training {config.model} on {len(split.train)} images, {split.train.num_classes} classes")
    extra = {
        "config": to_dict(config),
        "data": {"spec": config.data.spec, "image_size": split.train.image_size, "channels": split.train.channels},
    }

    def after_epoch(epoch: int, record: dict, trained) -> None:
        samples = trained.sample_per_class(8, seed=config.seed)
        sample_grid(
            samples.images,
            samples.labels,
            samples.class_names,
            out / "samples.png",
            title=f"{config.model}, epoch {epoch}",
        )
        save_generator(out, trained, epoch=epoch, **extra)

    trained, result = train_generator(
        split.train,
        config.model,
        common.resumable(args, out, config.train, config.seed),
        options=config.options,
        on_epoch_end=after_epoch,
    )
    save_generator(out, trained, epoch=result.epochs_run, fit=describe(result), **extra)
    diversity_warnings(trained.sample_per_class(50, seed=config.seed), split.train)
    print(
        f"trained {config.model}: {result.epochs_run} epochs, {result.train_seconds:.1f} s, {result.images_per_second:.0f} img/s"
    )
    print(f"checkpoint: {out}\nsamples: {out / 'samples.png'}")


def sample_arguments(p: argparse.ArgumentParser) -> None:
    common.add_checkpoint(p, "train-generator")
    p.add_argument("--per-class", type=int, default=10, help="images per class (default: 10)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    common.add_common(p, data=False, training=False)


def cmd_sample(args: argparse.Namespace) -> None:
    import numpy as np
    from PIL import Image

    from genclf.data.image_folder import FOLDER_RESERVED
    from genclf.pipelines.generate import load_generator

    if args.per_class < 1:
        raise ConfigError("--per-class", f"expected a positive integer, got {args.per_class}")
    trained = load_generator(args.checkpoint)
    samples = trained.sample_per_class(args.per_class, seed=args.seed)
    out = args.out or common.default_out("sample") / "samples.npz"
    if out.suffix != ".npz":
        check_output_folder(out)
        if out.is_dir() and any(out.iterdir()):
            raise ConfigError("--out", f"{out} is not empty; sample into a new folder (old and new images would mix)")
    images = samples.images.permute(0, 2, 3, 1).numpy()
    if out.suffix == ".npz":
        x = images[..., 0] if images.shape[-1] == 1 else images

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as handle:
                np.savez(handle, x=x, y=samples.labels.numpy(), class_names=np.asarray(samples.class_names))

        atomic_write(out, write)
    else:
        folders = class_folders(samples.class_names, reserved=FOLDER_RESERVED)
        for name, folder in zip(samples.class_names, folders):
            if folder != name:
                print(f"note: class {name!r} is written to folder {folder!r} (a name 'folder:' can read back)")

        def write_folders(staging: Path) -> None:
            for index, (image, label) in enumerate(zip(images, samples.labels.tolist())):
                (staging / folders[label]).mkdir(exist_ok=True)
                Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(
                    staging / folders[label] / f"{index:06d}.png", format="PNG"
                )

        atomic_folder(out, write_folders)  # never a half-written sample folder
    print(f"{len(images)} images ({args.per_class} per class) -> {out}")


def evaluate_generator_arguments(p: argparse.ArgumentParser) -> None:
    common.add_checkpoint(p, "train-generator")
    p.add_argument("--per-class", type=int, help="generated images per class (default: min(largest class, 1000))")
    p.add_argument("--seed", type=int, default=0, help="seed of the assessment classifiers and samples (default: 0)")
    common.add_common(p, training=False)


def cmd_evaluate_generator(args: argparse.Namespace) -> None:
    import torch

    from genclf.data import load_dataset
    from genclf.evaluation.generator_quality import assess_generator, assessment_budget
    from genclf.pipelines.generate import load_generator
    from genclf.reporting.plots import sample_grid
    from genclf.training.checkpoint import read_meta_json

    trained = load_generator(args.checkpoint)
    meta = read_meta_json(args.checkpoint)
    data_meta = meta.get("data") if isinstance(meta.get("data"), dict) else {}
    spec = args.data or data_meta.get("spec", "digits")  # default: the data it was trained on
    data = load_dataset(spec, trained.model.image_size, trained.model.in_channels)
    if data.train.class_names != trained.class_names:
        raise CheckpointError(
            args.checkpoint, f"generator classes {trained.class_names} differ from {spec}'s {data.train.class_names}"
        )
    split = common.recorded_split(args.checkpoint, data, default_seed=args.seed)
    per_class = args.per_class or min(max(split.train.class_counts()), 1000)
    torch.manual_seed(args.seed)
    metrics = assess_generator(
        trained, split, assessment_budget(len(split.train)), seed=args.seed, per_class=per_class, quiet=args.quiet
    )
    out = check_output_folder(args.out or common.default_out("evaluate-generator"))
    args.out = out  # where environment.json goes
    write_json(out / "generator_metrics.json", {"data": spec, **metrics})
    samples = trained.sample_per_class(10, seed=args.seed)
    sample_grid(
        samples.images,
        samples.labels,
        samples.class_names,
        out / "samples.png",
        per_class=10,
        title=f"{trained.name} samples",
    )
    print(
        f"FID {metrics['fid']:.2f} (real floor {metrics['fid_floor_real_train_vs_test']:.2f})  precision {metrics['precision']:.3f}  recall {metrics['recall']:.3f}  CAS {metrics['cas']:.4f} (real-data accuracy {metrics['real_data_accuracy']:.4f})"
    )
    print(f"metrics: {out / 'generator_metrics.json'}")


COMMANDS = [
    common.Command(
        "train-generator",
        "Train a generator; writes model.safetensors and a samples.png grid every epoch.",
        common.model_job_arguments(catalogue.GENERATORS, "generator", "cvae"),
        cmd_train_generator,
    ),
    common.Command(
        "sample",
        "Write N images per class to an .npz file or to class sub-folders of PNGs.",
        sample_arguments,
        cmd_sample,
    ),
    common.Command(
        "evaluate-generator",
        "Score a generator against real data, in the feature space of a genclf classifier trained on the real data "
        "(on the split recorded in the checkpoint).",
        evaluate_generator_arguments,
        cmd_evaluate_generator,
    ),
]
